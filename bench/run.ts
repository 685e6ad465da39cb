import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  deploymentModel,
  fileSystemReader,
  installGraph,
  parseBlueprint,
  planDeployment,
} from '@weft/engine';
import {
  hostInstall,
  hostRoundTrip,
  type InstallResult,
  installUninstall,
  retryStorm,
  stores,
  wideGraph,
} from './executor.js';
import { generateBlueprint } from './generate.js';
import { type HotPlanResult, hotPlan } from './hot.js';
import { pluginInstall, type ScriptRun, scriptInstall } from './scripts.js';
import { type ServerBench, serverBench } from './server.js';
import { type UpdatePlanResult, updatePlan } from './update.js';
import { type WorkersBench, workersBench } from './workers.js';

interface Result {
  templates: number;
  instances: number;
  relationships: number;
  tasks: number;
  parseMs: number;
  planMs: number;
  graphMs: number;
  totalMs: number;
  peakRssMb: number;
}

/** One measurement, in a fresh process so peak memory is its own. */
function measure(templates: number): Result {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  try {
    const file = join(dir, 'blueprint.yaml');
    writeFileSync(file, generateBlueprint(templates));
    const t0 = performance.now();
    const parsed = parseBlueprint(file, fileSystemReader());
    if (!parsed.blueprint || !parsed.problems.ok)
      throw new Error(
        `generated blueprint is invalid: ${JSON.stringify(parsed.problems.problems.slice(0, 3))}`,
      );
    const t1 = performance.now();
    const planned = planDeployment(parsed.blueprint, { deploymentId: 'bench' });
    if (!planned.plan)
      throw new Error(`plan failed: ${JSON.stringify(planned.problems.problems.slice(0, 3))}`);
    const t2 = performance.now();
    const graph = installGraph(deploymentModel(planned.plan).nodes, planned.plan.instances);
    const t3 = performance.now();
    return {
      templates,
      instances: planned.plan.instances.length,
      relationships: planned.plan.instances.reduce((n, i) => n + i.relationships.length, 0),
      tasks: graph.tasks.length,
      parseMs: Math.round(t1 - t0),
      planMs: Math.round(t2 - t1),
      graphMs: Math.round(t3 - t2),
      totalMs: Math.round(t2 - t0),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const self = fileURLToPath(import.meta.url);

/** Runs one measurement in a fresh process (so peak memory is its own) and returns its JSON. */
function inChild<T>(args: string[]): T {
  const child = spawnSync(process.execPath, [self, '--case', ...args], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) throw new Error(child.stderr || child.stdout);
  return JSON.parse(child.stdout) as T;
}

const caseArg = process.argv.indexOf('--case');
if (caseArg > 0) {
  const [kind, a, b] = process.argv.slice(caseArg + 1);
  const out = async (): Promise<unknown> => {
    if (kind === 'parse') return measure(Number(a));
    if (kind === 'install') {
      const store = stores.find((s) => s.name.toLowerCase() === a?.toLowerCase());
      if (!store) throw new Error(`unknown store '${a}': one of ${stores.map((s) => s.name).join(', ')}`);
      return installUninstall(store, Number(b));
    }
    if (kind === 'retry') return retryStorm();
    if (kind === 'wide') return wideGraph();
    if (kind === 'host') return hostRoundTrip();
    if (kind === 'host-install') return hostInstall(Number(a));
    if (kind === 'scripts') return scriptInstall(Number(a), Number(b));
    if (kind === 'plugin-install') return pluginInstall(Number(a));
    if (kind === 'update-plan') return updatePlan(Number(a));
    if (kind === 'hot') return hotPlan(Number(a));
    if (kind === 'server') return serverBench();
    if (kind === 'workers') return workersBench(Number(a), b ? b.split(',').map(Number) : undefined);
    throw new Error(`unknown case ${kind}`);
  };
  process.stdout.write(JSON.stringify(await out()));
} else {
  console.log(
    '== Blueprint language: parse + validate + plan of generated blueprints (5 instances per template) ==',
  );
  console.log(
    'templates  instances  relationships  parse+validate  plan     total    install graph  peak RSS',
  );
  const results: Result[] = [];
  for (const size of [1000, 2500, 5000, 10000]) {
    const r = inChild<Result>(['parse', String(size)]);
    results.push(r);
    console.log(
      `${String(r.templates).padStart(9)}  ${String(r.instances).padStart(9)}  ${String(r.relationships).padStart(13)}  ${`${r.parseMs} ms`.padStart(14)}  ${`${r.planMs} ms`.padStart(7)}  ${`${r.totalMs} ms`.padStart(7)}  ${`${r.graphMs} ms (${r.tasks} tasks)`.padStart(13)}  ${r.peakRssMb} MB`,
    );
  }
  const half = results[results.length - 2]!;
  const large = results[results.length - 1]!;
  console.log(
    `growth from ${half.templates} to ${large.templates} templates: time x${(large.totalMs / half.totalMs).toFixed(2)} for x2 the size`,
  );
  console.log(
    `target: 10,000 templates / 50,000 instances under 2000 ms and 500 MB -> ${large.totalMs < 2000 && large.peakRssMb < 500 ? 'met' : 'NOT met'}`,
  );

  console.log('');
  console.log('== HOT templates: parse + validate + plan of a generated Heat template ==');
  console.log('resources  instances  parse+validate+plan  peak RSS');
  for (const size of [1000, 5000]) {
    const h = inChild<HotPlanResult>(['hot', String(size)]);
    console.log(
      `${String(h.resources).padStart(9)}  ${String(h.instances).padStart(9)}  ${`${h.ms} ms`.padStart(19)}  ${h.peakRssMb} MB`,
    );
    if (size === 5000)
      console.log(`target: 5,000 resources under 1000 ms -> ${h.ms < 1000 ? 'met' : 'NOT met'}`);
  }

  console.log('');
  console.log(
    '== Deployment update: the new blueprint parsed and planned, the diff, the update plan (one node in 50 changed) ==',
  );
  console.log('templates  parse+plan new  diff     update plan  nodes changed  instances touched  tasks');
  const updates: UpdatePlanResult[] = [];
  for (const size of [1000, 5000, 10000]) {
    const u = inChild<UpdatePlanResult>(['update-plan', String(size)]);
    updates.push(u);
    console.log(
      `${String(u.templates).padStart(9)}  ${`${u.parseMs} ms`.padStart(14)}  ${`${u.diffMs} ms`.padStart(7)}  ${`${u.planMs} ms`.padStart(11)}  ${String(u.changedNodes).padStart(13)}  ${String(u.touched).padStart(17)}  ${u.tasks}`,
    );
  }
  const big = updates.at(-1)!;
  const mid = updates.at(-2)!;
  console.log(
    `10,000 templates: update plan (its diff included) ${big.planMs} ms (x${(big.planMs / Math.max(1, mid.planMs)).toFixed(2)} for x2 the size); with the new blueprint's parse and plan ${big.parseMs + big.planMs} ms; target under 2000 ms -> ${big.parseMs + big.planMs < 2000 ? 'met' : 'NOT met'}`,
  );

  console.log('');
  console.log('== Executor: install then uninstall, in-process no-op operations, concurrency 8 ==');
  console.log('store       instances  install               uninstall             peak RSS');
  const rows: InstallResult[] = [];
  for (const store of ['SQLite', 'PostgreSQL']) {
    for (const n of [1000, 10000]) {
      const r = inChild<InstallResult>(['install', store, String(n)]);
      rows.push(r);
      const rate = (tasks: number, ms: number) => `${Math.round((tasks / ms) * 1000)} tasks/s`;
      console.log(
        `${store.padEnd(10)}  ${String(n).padStart(9)}  ${`${Math.round(r.installMs)} ms, ${rate(r.installTasks, r.installMs)}`.padEnd(20)}  ${`${Math.round(r.uninstallMs)} ms, ${rate(r.uninstallTasks, r.uninstallMs)}`.padEnd(20)}  ${r.peakRssMb} MB`,
      );
    }
  }
  const sqlite10k = rows.find((r) => r.store === 'SQLite' && r.instances === 10000)!;
  const sqlite1k = rows.find((r) => r.store === 'SQLite' && r.instances === 1000)!;
  const rate10k = (sqlite10k.installTasks / sqlite10k.installMs) * 1000;
  console.log(
    `SQLite: x${(sqlite10k.installMs / sqlite1k.installMs).toFixed(1)} the time for x10 the instances; target 5,000 tasks/s -> ${rate10k >= 5000 ? 'met' : 'NOT met'} (${Math.round(rate10k)})`,
  );

  const retry = inChild<{ ms: number }>(['retry']);
  console.log('');
  console.log(
    `1,000 operations each asking to retry after 1 s, concurrency 4: ${Math.round(retry.ms)} ms (one retry period is 1000 ms)`,
  );
  const wide = inChild<{ ms: number; criticalPathMs: number }>(['wide']);
  console.log(
    `100 parallel 100 ms operations at concurrency 100: ${Math.round(wide.ms)} ms for a ${wide.criticalPathMs} ms critical path (parallel efficiency ${Math.round((wide.criticalPathMs / wide.ms) * 100)}%)`,
  );

  console.log('');
  console.log('== Plugin host: operations in worker processes (8 workers, concurrency 8) ==');
  const host = inChild<{ workerMs: number; inProcessMs: number; operations: number }>(['host']);
  console.log(
    `no-op operation on 1,000 instances: ${(host.workerMs / host.operations).toFixed(3)} ms per operation through workers, ${(host.inProcessMs / host.operations).toFixed(3)} ms in-process (target: under 0.5 ms amortised)`,
  );
  const hostRun = inChild<{ ms: number; tasks: number; operations: number }>(['host-install', '10000']);
  console.log(
    `install of 10,000 instances through workers: ${Math.round(hostRun.ms)} ms, ${Math.round((hostRun.tasks / hostRun.ms) * 1000)} tasks/s, ${(hostRun.ms / hostRun.operations).toFixed(3)} ms per operation`,
  );

  const whole = inChild<{ commandMs: number; operations: number }>(['plugin-install', '1000']);
  console.log(
    `weft install of 1,000 instances x 5 no-op operations of a JavaScript plugin (source: module), whole process: ${Math.round(whole.commandMs)} ms (${whole.operations} operations; target: under 1500 ms)`,
  );

  console.log('');
  console.log('== Script plugin: a bash script making three ctx calls, through `weft install` ==');
  const sequential = inChild<ScriptRun>(['scripts', '50', '1']);
  const perOperation = sequential.operationsMs / sequential.nodes;
  console.log(
    `50 script operations one at a time: ${perOperation.toFixed(1)} ms per operation (median ${sequential.medianOperationMs} ms; target: under 20 ms)`,
  );
  const scriptNodes = 200;
  const parallel = inChild<ScriptRun>(['scripts', String(scriptNodes), '8']);
  console.log(
    `install of ${scriptNodes} script nodes at concurrency 8: ${Math.round(parallel.operationsMs)} ms of operations (${(parallel.operationsMs / scriptNodes).toFixed(1)} ms per operation amortised), ${Math.round(parallel.commandMs)} ms for the whole command`,
  );

  console.log('');
  console.log('== Service: weft serve on PostgreSQL, 20 executions running (each logging every 50 ms) ==');
  const api = inChild<ServerBench>(['server']);
  console.log(
    `GET /api/v1/deployments/:id with a token, 50 concurrent clients for 10 s: ${api.requestsPerSecond} requests/s, p50 ${api.p50Ms} ms, p99 ${api.p99Ms} ms, ${api.errors} errors (target: >= 2,000 requests/s, p99 < 50 ms); the server spent ${api.serverCpuMsPerRequest} ms of CPU per request`,
  );
  console.log(
    `event stream delivery, from the operation's log call to the client, of the events logged once the stream was connected and every execution was running: p50 ${api.sseSteadyP50Ms} ms, p99 ${api.sseSteadyP99Ms} ms over ${api.sseSteadyEvents} events, p99 ${api.sseLoadP99Ms} ms over the ${api.sseLoadEvents} logged during the requests (target: p99 < 100 ms); of those logged while the executions were starting, once the stream was connected: p99 ${api.sseStartingP99Ms} ms over ${api.sseStartingEvents}; all events, the ${api.sseReplayedEvents} logged before the stream connected (read from the store when it did) included: p50 ${api.sseP50Ms} ms, p99 ${api.sseP99Ms} ms over ${api.sseEvents}`,
  );

  console.log('');
  console.log(
    '== Workers: weft serve --workers and weft worker processes on one PostgreSQL (pg-boss queues) ==',
  );
  const workerRuns = inChild<WorkersBench>(['workers', process.env.WEFT_BENCH_WORKER_INSTANCES ?? '10000']);
  const n = workerRuns.instances;
  const perSecond = (ms: number) => Math.round((n / ms) * 1000);
  const perOp = (x: number) => (x / n).toFixed(2);
  for (const r of workerRuns.byWorkers)
    console.log(
      `install of ${n} no-op operations on ${r.workers} worker process${r.workers > 1 ? 'es' : ''} (concurrency 8 each): ${Math.round(r.ms)} ms, ${perSecond(r.ms)} tasks/s, ${perOp(r.ms)} ms per operation; CPU per operation: server ${perOp(r.serverCpuMs)} ms, workers ${perOp(r.workersCpuMs)} ms; ${perOp(r.transactions)} database transactions per operation`,
    );
  const four = workerRuns.byWorkers.at(-1)!;
  const local = workerRuns.inProcess;
  console.log(
    `the same install run by the server itself: ${Math.round(local.ms)} ms, ${perSecond(local.ms)} tasks/s, server CPU ${perOp(local.serverCpuMs)} ms and ${perOp(local.transactions)} transactions per operation`,
  );
  console.log(
    `the queue path adds per operation with ${four.workers} workers: ${perOp(four.ms - local.ms)} ms of wall time, ${perOp(four.serverCpuMs + four.workersCpuMs - local.serverCpuMs)} ms of CPU (server and workers), ${perOp(four.transactions - local.transactions)} transactions (target: >= 5,000 tasks/s with 4 workers -> ${perSecond(four.ms) >= 5000 ? 'met' : 'NOT met'}; load average ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} CPUs)`,
  );
  console.log(
    `take-over: a worker killed with SIGKILL mid-operation, the operation begins on another ${workerRuns.takeOverMs} ms later with a ${workerRuns.leaseSeconds} s lease (${workerRuns.takeOverMs - workerRuns.leaseSeconds * 1000} ms beyond the lease; target < 1000 ms)`,
  );
}
