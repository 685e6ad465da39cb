/**
 * Operations through `weft worker` processes: a real `weft serve --workers` and 1, 2 or 4 workers
 * on one PostgreSQL database (of their own), an install of no-op operations timed from its start
 * to its end; the same install run by the server itself for the per-operation cost of the queue
 * path; and how long a killed worker's operation waits for another worker.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createDeployment, fileSystemReader, openPostgresStore } from '@weft/engine';
import pg from 'pg';
import { benchSetup, cpuMs, startup, weftBin } from './server.js';

const BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
inputs:
  count: { type: integer }
  gate: { type: string, default: '' }
plugins:
  noop:
    executor: central_deployment_agent
    source: plugin/index.mjs
node_templates:
  work:
    type: cloudify.nodes.Root
    capabilities:
      scalable:
        properties:
          default_instances: { get_input: count }
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: noop.create
          inputs:
            gate: { get_input: gate }
`;

// A no-op, unless given a gate: then it notes when it began (for the take-over time) and waits
// for the gate file. Resumable (as the SDK's operation() marks it): run again by the next worker.
const PLUGIN = `import { appendFileSync, existsSync } from 'node:fs';
async function create(ctx, inputs) {
  if (!inputs.gate) return;
  appendFileSync(inputs.gate + '.begun', process.env.WEFT_BENCH_WORKER + ' ' + Date.now() + '\\n');
  while (!existsSync(inputs.gate) && !ctx.signal.aborted) await new Promise((r) => setTimeout(r, 20));
}
create.resumable = true;
export { create };
`;

/** One timed install. */
export interface InstallRun {
  ms: number;
  /** CPU time (user + system) of the server process during the install. */
  serverCpuMs: number;
  /** CPU time of the `weft worker` processes (not their plugin processes) during the install. */
  workersCpuMs: number;
  /**
   * Transactions committed in the database during the install (pg_stat_database): each statement
   * outside a transaction is one, so this counts the round trips that write or read.
   */
  transactions: number;
}

export interface WorkersBench {
  /** Install of `instances` no-op operations, by number of worker processes. */
  byWorkers: ({ workers: number } & InstallRun)[];
  /** The same install run by the server's own plugin host (no queue). */
  inProcess: InstallRun;
  instances: number;
  /** From SIGKILL of the worker running an operation to the operation beginning on another. */
  takeOverMs: number;
  leaseSeconds: number;
}

interface Service {
  url: string;
  dir: string;
  database: string;
  env: NodeJS.ProcessEnv;
  headers: Record<string, string>;
  children: ChildProcess[];
  close(): Promise<void>;
}

async function service(instances: number, gate: string, serveArgs: string[]): Promise<Service> {
  const { dir, database, admin, url, blueprintDir } = await benchSetup('workers', BLUEPRINT, PLUGIN);
  const env = { ...process.env, WEFT_ADMIN_PASSWORD: 'bench-password', WEFT_SECRET_KEY: 'bench-key' };
  const server = spawn(
    process.execPath,
    [
      weftBin,
      'serve',
      ...['--state-dir', join(dir, 'state'), '--db', url.toString(), '--listen', '127.0.0.1:0'],
      ...['--init-admin', ...serveArgs],
    ],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const children: ChildProcess[] = [server];
  const close = async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(
      children.map((child) =>
        child.exitCode === null && child.signalCode === null
          ? new Promise((resolve) => child.once('exit', resolve))
          : undefined,
      ),
    );
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const { token, base } = await startup(server);
    const store = await openPostgresStore(url.toString(), { schema: 'weft_tenant_default_tenant' });
    await store.migrate();
    await createDeployment({
      store,
      reader: fileSystemReader({}),
      blueprintPath: join(blueprintDir, 'blueprint.yaml'),
      deploymentId: 'work',
      inputs: { count: instances, gate },
    });
    await store.close();
    return {
      url: base,
      dir,
      database: url.toString(),
      env,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      children,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Starts a `weft worker` on the service's database; resolves once it takes operations. */
function startWorker(s: Service, tag: string): Promise<ChildProcess> {
  const worker = spawn(
    process.execPath,
    [
      weftBin,
      'worker',
      '--db',
      s.database,
      '--state-dir',
      join(s.dir, `worker-${tag}`),
      '--concurrency',
      '8',
    ],
    { env: { ...s.env, WEFT_BENCH_WORKER: tag }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  s.children.push(worker);
  return new Promise((resolve, reject) => {
    createInterface({ input: worker.stdout! }).on('line', (line) => {
      if (/taking operations from/.test(line)) resolve(worker);
    });
    worker.once('exit', (code) => reject(new Error(`weft worker ended (${code}) before it took operations`)));
  });
}

/** Starts the install; resolves with its id. */
async function install(s: Service): Promise<string> {
  const started = await fetch(`${s.url}/api/v1/executions`, {
    method: 'POST',
    headers: s.headers,
    body: JSON.stringify({ deploymentId: 'work', workflowId: 'install' }),
  });
  if (started.status !== 201) throw new Error(`install not started: ${await started.text()}`);
  return ((await started.json()) as { id: string }).id;
}

/** Resolves when the execution's event stream ends; fails unless it ended terminated. */
async function ended(s: Service, id: string): Promise<void> {
  const response = await fetch(`${s.url}/api/v1/events/stream?executionId=${id}`, { headers: s.headers });
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    const end = /event: end\ndata: (.*)\n/.exec(text);
    if (end) {
      const { status } = JSON.parse(end[1]!) as { status: string };
      if (status !== 'terminated') throw new Error(`the install ended ${status}`);
      return;
    }
    text = text.slice(Math.max(0, text.lastIndexOf('\n\n')));
  }
  throw new Error('the event stream ended before the execution');
}

/** Transactions committed in the database so far, as its statistics have them. */
async function transactions(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0]!.n);
}

/**
 * Backends report their statistics when idle, at most once a second, and within 10 s of going idle
 * (PostgreSQL 15): read after that long, the count covers every statement of the install.
 */
const STATS_DELAY_MS = 11_000;

/** An install of `instances` no-op operations on `workers` worker processes (none: in the server). */
async function timedInstall(instances: number, workers: number): Promise<InstallRun> {
  const s = await service(instances, '', workers > 0 ? ['--workers'] : []);
  const db = new pg.Client({ connectionString: s.database });
  try {
    await db.connect();
    for (let i = 0; i < workers; i++) await startWorker(s, `w${i}`);
    const cpu = () => s.children.map((child) => cpuMs(child.pid!));
    await new Promise((resolve) => setTimeout(resolve, STATS_DELAY_MS));
    const xact0 = await transactions(db);
    const cpu0 = cpu();
    const t0 = performance.now();
    await ended(s, await install(s));
    const ms = performance.now() - t0;
    const cpu1 = cpu();
    await new Promise((resolve) => setTimeout(resolve, STATS_DELAY_MS));
    const spent = cpu1.map((c, i) => c - cpu0[i]!);
    return {
      ms,
      serverCpuMs: Math.round(spent[0]!),
      workersCpuMs: Math.round(spent.slice(1).reduce((a, b) => a + b, 0)),
      // Less the two reads of the statistics themselves.
      transactions: (await transactions(db)) - xact0 - 2,
    };
  } finally {
    await db.end().catch(() => {});
    await s.close();
  }
}

/** Resolves when `file` has at least `lines` lines (watched). */
function lines(file: string, count: number): Promise<string[]> {
  const read = () => {
    try {
      return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  return new Promise((resolve) => {
    const check = () => {
      const found = read();
      if (found.length < count) return false;
      watcher.close();
      resolve(found);
      return true;
    };
    appendFileSync(file, '');
    const watcher = watch(file, check);
    check();
  });
}

/** SIGKILL of the worker running an operation, to that operation beginning on the other worker. */
async function takeOver(leaseSeconds: number): Promise<number> {
  const gate = join(mkdtempSync(join(tmpdir(), 'weft-bench-gate-')), 'gate');
  const s = await service(1, gate, ['--workers', '--lease', String(leaseSeconds)]);
  try {
    const workers = { a: await startWorker(s, 'a'), b: await startWorker(s, 'b') };
    await install(s);
    const [first] = await lines(`${gate}.begun`, 1);
    const holder = first!.split(' ')[0] as 'a' | 'b';
    const killed = Date.now();
    workers[holder].kill('SIGKILL');
    const [, again] = await lines(`${gate}.begun`, 2);
    writeFileSync(gate, '');
    return Number(again!.split(' ')[1]) - killed;
  } finally {
    await s.close();
    rmSync(join(gate, '..'), { recursive: true, force: true });
  }
}

export async function workersBench(instances: number, counts = [1, 2, 4]): Promise<WorkersBench> {
  const byWorkers: WorkersBench['byWorkers'] = [];
  for (const workers of counts) byWorkers.push({ workers, ...(await timedInstall(instances, workers)) });
  const leaseSeconds = 2;
  return {
    byWorkers,
    inProcess: await timedInstall(instances, 0),
    instances,
    takeOverMs: await takeOver(leaseSeconds),
    leaseSeconds,
  };
}
