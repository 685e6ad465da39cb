// The HTTP web server plugin of Cloudify's "Writing Your Own Plugin" guide, in TypeScript against
// @weft/sdk. `start` writes an index.html into a fresh temporary root and serves it on the node's
// `port` with a static file server (static-server.mjs, next to this file) running as a detached
// Node process; `stop` stops it (if its pid is still that server's) and removes the root.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NonRecoverableError, type OperationContext, operation } from '@weft/sdk';

/** The static file server this plugin starts. */
const SERVER = fileURLToPath(new URL('./static-server.mjs', import.meta.url));

/** How often, and how far apart, start checks that the server answers. */
const ATTEMPTS = 15;
const INTERVAL_MS = 200;

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** The page served: the seed's greeting and the deployment it belongs to. */
export function page(deploymentId: string): string {
  return `<!doctype html>\n<title>Hello Weft!</title>\n<p>Hello Weft!</p>\n<p>Served for deployment ${escapeHtml(deploymentId)}.</p>\n`;
}

function portOf(ctx: OperationContext): number {
  const port = ctx.node.properties.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new NonRecoverableError(`port must be an integer from 1 to 65535, not ${JSON.stringify(port)}`);
  return port;
}

/**
 * Whether `pid` is still the server started to serve `root`. Its command line names the root, a
 * directory made for that server alone: a process the pid has been given to since, or a zombie
 * (exited, not yet reaped by its parent, its command line empty), names none.
 */
function serves(pid: number, root: string): boolean {
  try {
    const [, , servedRoot] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return servedRoot === root;
  } catch {
    // With /proc, no such process (of ours) there.
    if (existsSync('/proc/self')) return false;
  }
  // No /proc (not Linux): that a process has the pid is all there is to know.
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends `signal` to `pid`; false when there is no such process. */
function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Stops the server `pid` is, serving `root` (SIGTERM, then SIGKILL after 3 s), and waits until it
 * is gone; false, leaving the process alone, when `pid` is no longer that server.
 */
async function kill(pid: number, root: string): Promise<boolean> {
  if (!serves(pid, root) || !signalProcess(pid, 'SIGTERM')) return false;
  for (let waited = 0; serves(pid, root); waited += 50) {
    if (waited === 3000) signalProcess(pid, 'SIGKILL');
    if (waited > 6000) throw new Error(`process ${pid} is still running after SIGKILL`);
    await sleep(50);
  }
  return true;
}

/** What the server process reported or did: set by its event handlers. */
interface ServerState {
  /** It reported that it listens on the port: whoever answers there is this server. */
  listening: boolean;
  failure?: Error;
}

/** Starts the static server on `port` for `root`, as a process of its own that outlives ours. */
function spawnServer(root: string, port: number): { child: ChildProcess; state: ServerState } {
  const state: ServerState = { listening: false };
  const child = spawn(process.execPath, [SERVER, root, String(port)], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  child.on('error', (error) => {
    state.failure ??= error;
  });
  child.on('message', (message: unknown) => {
    const report = message as { type?: string; code?: string; message?: string } | null;
    if (report?.type === 'listening') state.listening = true;
    else if (report?.type === 'error')
      state.failure ??= Object.assign(new Error(report.message ?? 'the server failed'), {
        name: 'ServerError',
        code: report.code,
      });
  });
  child.on('exit', (code, signal) => {
    state.failure ??= Object.assign(
      new Error(`the server exited (${signal ? `signal ${signal}` : `status ${code}`}) before it answered`),
      { name: 'ServerExited' },
    );
  });
  return { child, state };
}

/** Whether `url` serves `expected`: the server answers, and it is ours. */
async function check(url: string, expected: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(2000)]) });
  const body = await response.text();
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  if (body !== expected) throw new Error(`GET ${url}: another server answers on this port`);
}

/** Removes the server's root and forgets it and the pid. */
async function forget(ctx: OperationContext): Promise<void> {
  const root = ctx.instance.runtimeProperties.webserver_root;
  if (typeof root === 'string') await rm(root, { recursive: true, force: true });
  delete ctx.instance.runtimeProperties.webserver_root;
  delete ctx.instance.runtimeProperties.pid;
}

/** Stops the server the runtime properties name, if any; returns its pid when it was running. */
async function stopRecorded(ctx: OperationContext): Promise<number | undefined> {
  const { pid, webserver_root: root } = ctx.instance.runtimeProperties;
  const running =
    typeof pid === 'number' && typeof root === 'string' && (await kill(pid, root)) ? pid : undefined;
  await forget(ctx);
  return running;
}

export const start = operation(
  async (ctx) => {
    const port = portOf(ctx);
    // Run again (after a crash or a retry): stop what an earlier run left.
    const previous = await stopRecorded(ctx);
    if (previous !== undefined) ctx.logger.info(`Stopped the earlier HTTP webserver [pid=${previous}]`);

    const root = await mkdtemp(join(tmpdir(), 'weft-webserver-'));
    ctx.instance.runtimeProperties.webserver_root = root;
    const html = page(ctx.deployment.id);
    await writeFile(join(root, 'index.html'), html);

    ctx.logger.info(`Starting HTTP webserver on 127.0.0.1:${port} serving ${root}`);
    const { child, state } = spawnServer(root, port);
    if (child.pid === undefined) {
      await forget(ctx);
      throw new NonRecoverableError('Failed to start HTTP webserver', {
        causes: [state.failure ?? new Error(`cannot run ${process.execPath}`)],
      });
    }
    ctx.instance.runtimeProperties.pid = child.pid;
    await ctx.instance.update(); // stop finds it even if this operation does not end well

    const url = `http://127.0.0.1:${port}/`;
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (state.failure) {
        lastError = state.failure;
        break;
      }
      try {
        // Until it listens, whoever answers on the port is not this server.
        if (!state.listening) throw new Error(`the server is not listening on port ${port} yet`);
        await check(url, html, ctx.signal);
        child.disconnect();
        child.unref();
        ctx.logger.info(`HTTP webserver is up at ${url} [pid=${child.pid}]`);
        return;
      } catch (error) {
        lastError = error;
        if (ctx.signal.aborted) break;
      }
      if (attempt < ATTEMPTS) await sleep(INTERVAL_MS);
    }

    if (child.connected) child.disconnect();
    child.unref();
    await stopRecorded(ctx);
    ctx.logger.error(`HTTP webserver did not start on port ${port}: ${String(lastError)}`);
    throw new NonRecoverableError('Failed to start HTTP webserver', { causes: [lastError] });
  },
  { resumable: true },
);

export const stop = operation(
  async (ctx) => {
    const pid = ctx.instance.runtimeProperties.pid;
    const root = ctx.instance.runtimeProperties.webserver_root;
    if (pid === undefined && root === undefined) {
      ctx.logger.info('HTTP webserver is not running');
      return;
    }
    const stopped = await stopRecorded(ctx);
    if (stopped !== undefined) ctx.logger.info(`Stopped HTTP webserver [pid=${stopped}]`);
    else ctx.logger.info(`HTTP webserver [pid=${String(pid)}] was not running`);
    if (typeof root === 'string') ctx.logger.info(`Removed ${root}`);
  },
  { resumable: true },
);
