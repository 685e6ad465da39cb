// The rest-calls example's own plugin: `start` runs the example's HTTP API (api.mjs, next to this
// file) as a detached Node process on the node's port and waits until it answers; `stop` stops it
// (if its pid is still that API's). The pid is kept in the `pid` runtime property in between.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NonRecoverableError, type OperationContext, operation } from '@weft/sdk';

const API = fileURLToPath(new URL('./api.mjs', import.meta.url));

/** How long start waits for the API to answer, and how often it asks. */
const DEADLINE_MS = 5000;
const INTERVAL_MS = 50;

function portOf(ctx: OperationContext): number {
  const port = ctx.node.properties.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new NonRecoverableError(`port must be an integer from 1 to 65535, not ${JSON.stringify(port)}`);
  return port;
}

/**
 * Whether `pid` is still the example's API. Its command line runs api.mjs (by name: the blueprint,
 * and this file with it, may be elsewhere by now, after an update): a process the pid has been
 * given to since, or a zombie (exited, not yet reaped by its parent, its command line empty),
 * does not.
 */
function isApi(pid: number): boolean {
  try {
    const [, script] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return script !== undefined && basename(script) === basename(API);
  } catch {
    // With /proc, no such process there.
    if (existsSync('/proc/self')) return false;
  }
  // No /proc (not Linux): that a process has the pid is all there is to know.
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stops the API `pid` is (SIGTERM, SIGKILL after 2 s) and waits until it is gone; false, leaving
 * the process alone, when `pid` is no longer the API.
 */
async function stopProcess(pid: number): Promise<boolean> {
  if (!isApi(pid)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false; // gone since
  }
  for (let waited = 0; isApi(pid); waited += INTERVAL_MS) {
    if (waited === 2000) process.kill(pid, 'SIGKILL');
    if (waited > 4000) throw new Error(`the API process ${pid} is still running after SIGKILL`);
    await sleep(INTERVAL_MS);
  }
  return true;
}

/** Whether our API process (not another server on the port) answers /health. */
async function answers(url: string, pid: number, signal: AbortSignal): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(1000)]),
    });
    const health = (await response.json()) as { pid?: number };
    return health.pid === pid;
  } catch {
    return false;
  }
}

export const start = operation(
  async (ctx) => {
    const port = portOf(ctx);
    const previous = ctx.instance.runtimeProperties.pid;
    if (typeof previous === 'number') await stopProcess(previous);

    const child = spawn(process.execPath, [API, String(port)], { detached: true, stdio: 'ignore' });
    let exited: string | undefined;
    child.on('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `status ${code}`;
    });
    child.on('error', (error) => {
      exited = error.message;
    });
    child.unref();
    if (child.pid === undefined) throw new NonRecoverableError(`cannot run ${process.execPath}`);
    ctx.instance.runtimeProperties.pid = child.pid;
    await ctx.instance.update(); // stop finds it even if start does not end well

    const url = `http://127.0.0.1:${port}`;
    for (const deadline = Date.now() + DEADLINE_MS; Date.now() < deadline && !exited; ) {
      if (await answers(url, child.pid, ctx.signal)) {
        ctx.instance.runtimeProperties.url = url;
        ctx.logger.info(`The API answers at ${url} [pid=${child.pid}]`);
        return;
      }
      await sleep(INTERVAL_MS);
    }
    await stopProcess(child.pid);
    delete ctx.instance.runtimeProperties.pid;
    throw new NonRecoverableError(
      exited ? `the API exited (${exited}); is port ${port} free?` : `the API did not answer at ${url}`,
    );
  },
  { resumable: true },
);

export const stop = operation(
  async (ctx) => {
    const pid = ctx.instance.runtimeProperties.pid;
    if (typeof pid === 'number')
      ctx.logger.info(
        (await stopProcess(pid)) ? `Stopped the API [pid=${pid}]` : `The API [pid=${pid}] was not running`,
      );
    delete ctx.instance.runtimeProperties.pid;
    delete ctx.instance.runtimeProperties.url;
  },
  { resumable: true },
);
