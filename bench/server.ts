/**
 * The service shape under load: a real `weft serve` on PostgreSQL (a database of its own), 20
 * executions running whose operations log a line every 50 ms, 50 concurrent clients reading one
 * deployment with a token, and an event stream timed from each log call to its arrival.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createDeployment, fileSystemReader, openPostgresStore } from '@weft/engine';
import autocannon from 'autocannon';
import pg from 'pg';

export const POSTGRES = process.env.WEFT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const weftBin = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'packages',
  'cli',
  'bin',
  'weft.js',
);

const BUSY = Number(process.env.WEFT_BENCH_BUSY ?? 20);
const CLIENTS = 50;
const SECONDS = 10;
/** How long the server's CPU use is measured with the executions running and no requests. */
const QUIET_MS = 3000;

const BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
inputs:
  stop: { type: string }
plugins:
  ticker:
    executor: central_deployment_agent
    source: plugin/index.mjs
node_types:
  bench.Ticker:
    derived_from: cloudify.nodes.Root
    properties:
      stop: { type: string }
    interfaces:
      cloudify.interfaces.lifecycle:
        create: ticker.tick
node_templates:
  ticker:
    type: bench.Ticker
    properties:
      stop: { get_input: stop }
`;

// Logs the time of each log call, every 50 ms, until the stop file exists.
const PLUGIN = `import { existsSync } from 'node:fs';
export async function tick(ctx) {
  while (!existsSync(ctx.node.properties.stop)) {
    ctx.logger.info('tick ' + Date.now());
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
`;

export interface ServerBench {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /**
   * CPU time (user + system) the server process spent per request under load, less what it spends
   * on the running executions alone: on a shared machine, a figure that does not depend on what
   * else runs.
   */
  serverCpuMsPerRequest: number;
  /** Every tick the stream brought, including those logged before it connected (replayed). */
  sseEvents: number;
  sseP50Ms: number;
  sseP99Ms: number;
  /** The ticks logged before the stream connected: read from the store when it did. */
  sseReplayedEvents: number;
  /**
   * The ticks logged once the stream was connected while the executions were still starting (the
   * server busy starting them), before every one was ticking.
   */
  sseStartingEvents: number;
  sseStartingP99Ms: number;
  /**
   * The ticks logged once the stream was connected and every execution was ticking: delivery as
   * it happens, not the replay of what was logged while the executions started.
   */
  sseSteadyEvents: number;
  sseSteadyP50Ms: number;
  sseSteadyP99Ms: number;
  /** Of those, the ticks logged while the clients read the deployment. */
  sseLoadEvents: number;
  sseLoadP99Ms: number;
}

/** Waits for the server's first lines: its token, then where it listens. */
export function startup(child: ChildProcess): Promise<{ token: string; base: string }> {
  return new Promise((resolve, reject) => {
    let token: string | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      token ??= /API token.*?(weft_\S+)/.exec(line)?.[1];
      const base = /listening on (\S+)\/api\/v1/.exec(line)?.[1];
      if (base && token) resolve({ token, base });
    });
    child.on('exit', (code) => reject(new Error(`weft serve ended (${code}) before it listened`)));
  });
}

/** CPU time (ms) a process has used so far, from /proc (Linux); NaN where there is none. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}
/** Linux's USER_HZ: /proc counts CPU time in these. */
const CLOCK_TICKS = 100;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;

interface Tick {
  /** When the operation logged it (epoch ms). */
  logged: number;
  /** How long after that the client read it. */
  delay: number;
}

/**
 * Reads an event stream, timing each tick from its log call until `signal` aborts; `connected`
 * resolves with the time the stream's response came.
 */
function timeTicks(url: string, token: string, signal: AbortSignal) {
  let connected!: (at: number) => void;
  const connectedAt = new Promise<number>((resolve) => {
    connected = resolve;
  });
  const read = async () => {
    const ticks: Tick[] = [];
    try {
      const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
      connected(Date.now());
      const decoder = new TextDecoder();
      for await (const chunk of response.body!) {
        const now = Date.now();
        for (const match of decoder.decode(chunk as Uint8Array, { stream: true }).matchAll(/tick (\d{13})/g))
          ticks.push({ logged: Number(match[1]), delay: now - Number(match[1]) });
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
    return ticks;
  };
  return { connectedAt, ticks: read() };
}

const sortedDelays = (ticks: Tick[]) => ticks.map((t) => t.delay).sort((a, b) => a - b);

/** Waits until every execution's operation has logged: from then on, the load is steady. */
async function allTicking(base: string, headers: Record<string, string>, executions: Set<string>) {
  const ticking = new Set<string>();
  let after = 0;
  while (ticking.size < executions.size) {
    const page = (await (await fetch(`${base}/api/v1/events?after=${after}`, { headers })).json()) as {
      items: { executionId: string; message: string }[];
      last: number;
    };
    for (const event of page.items)
      if (event.message.startsWith('tick ') && executions.has(event.executionId))
        ticking.add(event.executionId);
    after = page.last;
    if (page.items.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A PostgreSQL database of the bench's own (made anew) and a directory holding a blueprint and
 * its plugin module; `admin` is connected to the bench's database, to drop it at the end.
 */
export async function benchSetup(name: string, blueprint: string, plugin: string) {
  const dir = mkdtempSync(join(tmpdir(), `weft-bench-${name}-`));
  const database = `weft_bench_${name}_${process.pid}`;
  const admin = new pg.Client({ connectionString: POSTGRES });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${database}`);
  const url = new URL(POSTGRES);
  url.pathname = `/${database}`;
  const blueprintDir = join(dir, 'blueprint');
  mkdirSync(join(blueprintDir, 'plugin'), { recursive: true });
  writeFileSync(join(blueprintDir, 'blueprint.yaml'), blueprint);
  writeFileSync(join(blueprintDir, 'plugin', 'index.mjs'), plugin);
  return { dir, database, admin, url, blueprintDir };
}

export async function serverBench(): Promise<ServerBench> {
  const { dir, database, admin, url, blueprintDir } = await benchSetup('server', BLUEPRINT, PLUGIN);
  const stop = join(dir, 'stop');
  const server = spawn(
    process.execPath,
    [
      // e.g. WEFT_BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/x' to profile the server.
      ...(process.env.WEFT_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      weftBin,
      'serve',
      '--state-dir',
      join(dir, 'state'),
      '--db',
      url.toString(),
      '--listen',
      '127.0.0.1:0',
      '--init-admin',
    ],
    { env: { ...process.env, WEFT_ADMIN_PASSWORD: 'bench-password' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const { token, base } = await startup(server);
    const store = await openPostgresStore(url.toString(), { schema: 'weft_tenant_default_tenant' });
    await store.migrate();
    for (let i = 0; i <= BUSY; i++)
      await createDeployment({
        store,
        reader: fileSystemReader({}),
        blueprintPath: join(blueprintDir, 'blueprint.yaml'),
        deploymentId: `d${i}`,
        inputs: { stop },
      });
    await store.close();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const executions: string[] = [];
    for (let i = 1; i <= BUSY; i++) {
      const started = await fetch(`${base}/api/v1/executions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ deploymentId: `d${i}`, workflowId: 'install' }),
      });
      executions.push(((await started.json()) as { id: string }).id);
    }
    const streams = new AbortController();
    const stream = timeTicks(
      `${base}/api/v1/events/stream?executionId=${executions[0]}`,
      token,
      streams.signal,
    );
    await allTicking(base, headers, new Set(executions));
    // Ticks logged before this were replayed to the stream, or logged while the executions started.
    const connectedAt = await stream.connectedAt;
    const steadyFrom = Math.max(Date.now(), connectedAt);
    // What the executions alone cost the server, to tell the requests' share apart.
    const quietStart = cpuMs(server.pid!);
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const quietPerMs = (cpuMs(server.pid!) - quietStart) / QUIET_MS;
    if (process.env.WEFT_BENCH_VERBOSE)
      process.stderr.write(
        `server CPU with the executions alone: ${(quietPerMs * 100).toFixed(0)}% of a core\n`,
      );
    const cpuBefore = cpuMs(server.pid!);
    const loadFrom = Date.now();
    const loadStart = performance.now();
    const load = await autocannon({
      url: `${base}/api/v1/deployments/d0`,
      connections: CLIENTS,
      duration: SECONDS,
      headers: { authorization: `Bearer ${token}` },
    });
    const cpuDuring = cpuMs(server.pid!) - cpuBefore - quietPerMs * (performance.now() - loadStart);
    const loadTo = Date.now();
    if (process.env.WEFT_BENCH_VERBOSE)
      process.stderr.write(`load from ${loadFrom} to ${loadTo} (epoch ms)\n`);
    streams.abort();
    const ticks = await stream.ticks;
    const delays = sortedDelays(ticks);
    const steady = sortedDelays(ticks.filter((t) => t.logged >= steadyFrom));
    const underLoad = sortedDelays(ticks.filter((t) => t.logged >= loadFrom && t.logged <= loadTo));
    const starting = sortedDelays(ticks.filter((t) => t.logged >= connectedAt && t.logged < steadyFrom));
    writeFileSync(stop, '');
    return {
      requestsPerSecond: Math.round(load.requests.average),
      p50Ms: load.latency.p50,
      p99Ms: load.latency.p99,
      errors: load.errors + load.non2xx,
      serverCpuMsPerRequest: Number((cpuDuring / load.requests.total).toFixed(3)),
      sseEvents: delays.length,
      sseP50Ms: percentile(delays, 50),
      sseP99Ms: percentile(delays, 99),
      sseReplayedEvents: ticks.filter((t) => t.logged < connectedAt).length,
      sseStartingEvents: starting.length,
      sseStartingP99Ms: percentile(starting, 99),
      sseSteadyEvents: steady.length,
      sseSteadyP50Ms: percentile(steady, 50),
      sseSteadyP99Ms: percentile(steady, 99),
      sseLoadEvents: underLoad.length,
      sseLoadP99Ms: percentile(underLoad, 99),
    };
  } finally {
    writeFileSync(stop, '');
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}
