// weft.nodes.LocalProcess with real processes: up once a TCP or HTTP health check passes, a clear
// failure with the log's end when the command exits first or never gets healthy, a stop that
// escalates to SIGKILL, and a stop that finds the process already gone.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Json, NonRecoverableError } from '@weft/sdk';
import { processRunning } from '@weft/testing';
import { drive } from './helpers.js';

const TYPE = 'weft.nodes.LocalProcess';
const workdir = mkdtempSync(join(tmpdir(), 'weft-local-process-'));
const plugin = { workdir };

/** Process groups a failed test may leave behind. */
const pids = new Set<number>();
after(() => {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  rmSync(workdir, { recursive: true, force: true });
});

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls come 0.5 s apart in the engine; here a short pause is enough to let the process move. */
const between = () => delay(50);

/**
 * A Node program that serves HTTP on $PORT after `late` ms (TERM ignored when asked). It logs
 * before it listens: the port accepts connections as soon as it is bound, which can be before a
 * listen callback has run, so a line logged there may not be in the log yet when the check passes.
 */
function server(late = 0, ignoreTerm = false): string[] {
  const program = `${ignoreTerm ? "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));" : ''}
setTimeout(() => { console.log('listening on', process.env.PORT);
  require('http').createServer((q, r) => { r.statusCode = q.url === '/health' ? 204 : 404; r.end(); })
  .listen(Number(process.env.PORT), '127.0.0.1'); }, ${late});`;
  return [process.execPath, '-e', program];
}

async function start(properties: Record<string, Json>): Promise<{ rp: Record<string, Json>; pid: number }> {
  const { ctx } = await drive('create', TYPE, { properties, plugin }, { between });
  const rp = ctx.mock.runtimeProperties;
  const pid = rp.pid as number;
  pids.add(pid);
  return { rp, pid };
}

describe('LocalProcess', () => {
  test('TCP: up once the port accepts connections; stopped with SIGTERM by delete', async () => {
    const port = await freePort();
    const { rp, pid } = await start({
      command: server(300),
      env: { PORT: port },
      health_check: { tcp: port },
    });
    assert.ok(processRunning(pid));
    assert.equal(rp.resource_id, String(pid));
    assert.match(readFileSync(rp.log_file as string, 'utf8'), new RegExp(`listening on ${port}`));

    const stopped = await drive(
      'delete',
      TYPE,
      { properties: {}, plugin, runtimeProperties: rp },
      { between },
    );
    assert.equal(processRunning(pid), false);
    assert.equal(stopped.ctx.mock.runtimeProperties.pid, null);
    assert.ok(stopped.messages.includes(`stopping node [pid ${pid}] (SIGTERM)`));
  });

  test('HTTP: up once the URL answers the expected status; a shell command string works too', async () => {
    const port = await freePort();
    const [node, , program] = server(200);
    const { rp, pid } = await start({
      command: `PORT=${port} exec '${node}' -e "${program!.replace(/"/g, '\\"')}"`,
      health_check: { http: `http://127.0.0.1:${port}/health`, expected_status: 204 },
    });
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(response.status, 204);
    await drive('delete', TYPE, { properties: {}, plugin, runtimeProperties: rp }, { between });
    assert.equal(processRunning(pid), false);
  });

  test('a command that exits before it is healthy fails at once with the end of its log', async () => {
    const error = (await drive(
      'create',
      TYPE,
      {
        properties: {
          command: ['/bin/sh', '-c', 'echo starting; echo "config missing" >&2; exit 3'],
          health_check: { tcp: await freePort() },
        },
        plugin,
      },
      { between },
    ).catch((e: unknown) => e)) as Error & { runtimeProperties: Record<string, Json> };
    assert.ok((error as unknown) instanceof NonRecoverableError);
    assert.match(
      error.message,
      /^sh \[pid \d+\] exited (\(exit status 3\) )?before 127\.0\.0\.1:\d+ accepts connections/,
    );
    assert.match(error.message, /starting\nconfig missing$/);

    // Delete after the failed create: nothing to stop, and that is fine.
    const deleted = await drive(
      'delete',
      TYPE,
      { properties: {}, plugin, runtimeProperties: error.runtimeProperties },
      { between },
    );
    assert.ok(deleted.messages.some((m) => /is not running/.test(m)));
  });

  test('never healthy within startup_timeout: killed, and create fails', async () => {
    const port = await freePort();
    const error = (await drive(
      'create',
      TYPE,
      {
        properties: {
          command: server(0),
          env: { PORT: port },
          health_check: { tcp: await freePort() },
          startup_timeout: 0.3,
        },
        plugin,
      },
      { between },
    ).catch((e: unknown) => e)) as Error & { runtimeProperties: Record<string, Json> };
    const pid = error.runtimeProperties.pid as number;
    pids.add(pid);
    assert.match(
      error.message,
      /was not healthy within 0\.3 s \(127\.0\.0\.1:\d+: connect ECONNREFUSED.*\), so it was killed/,
    );
    const deadline = Date.now() + 5000;
    while (processRunning(pid) && Date.now() < deadline) await delay(20);
    assert.equal(processRunning(pid), false);
  });

  test('a process that ignores SIGTERM is killed after stop_timeout', async () => {
    const port = await freePort();
    const { rp, pid } = await start({
      command: server(0, true),
      env: { PORT: port },
      health_check: { http: `http://127.0.0.1:${port}/health`, expected_status: 204 },
      stop_timeout: 0.3,
    });
    const stopped = await drive(
      'delete',
      TYPE,
      { properties: { stop_timeout: 0.3 }, plugin, runtimeProperties: rp },
      { between },
    );
    assert.equal(processRunning(pid), false);
    assert.ok(stopped.polls > 0);
    assert.ok(stopped.messages.some((m) => m === `killed node [pid ${pid}] (SIGKILL)`));
    assert.match(readFileSync(rp.log_file as string, 'utf8'), /ignoring SIGTERM/);
  });

  test('stop when the process is already gone; a command that cannot start; bad properties together', async () => {
    const port = await freePort();
    const { rp, pid } = await start({ command: server(0), env: { PORT: port }, health_check: { tcp: port } });
    process.kill(-pid, 'SIGKILL');
    const deadline = Date.now() + 5000;
    while (processRunning(pid) && Date.now() < deadline) await delay(20);
    const stopped = await drive('delete', TYPE, { properties: {}, plugin, runtimeProperties: rp });
    assert.ok(stopped.messages.includes(`node [pid ${pid}] is not running`));

    await assert.rejects(
      drive('create', TYPE, { properties: { command: ['/no/such/program'] }, plugin }),
      /cannot start program: spawn \/no\/such\/program ENOENT/,
    );
    await assert.rejects(
      drive('create', TYPE, {
        properties: { command: [], env: { A: { b: 1 } }, health_check: { tcp: 80, http: 'ftp://x' } },
        plugin,
      }),
      (error: Error) => {
        assert.match(error.message, /command: must be a non-empty string or a non-empty list/);
        assert.match(error.message, /env: values must be strings, numbers or booleans/);
        assert.match(error.message, /health_check: give tcp or http, not both/);
        assert.match(error.message, /health_check\.http: "ftp:\/\/x" is not an http\(s\) URL/);
        return true;
      },
    );
  });
});
