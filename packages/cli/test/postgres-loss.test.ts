/**
 * PostgreSQL connections terminated under a running `weft install --db postgres://...`: the test
 * ends every backend of the weft process (pg_terminate_backend, by its application_name) each
 * time it prints a line. The install goes on (connections are made again and transactions run
 * again whole) or stops as interrupted with the command that continues it; it never crashes,
 * and the end state is an uninterrupted install's. Skipped, saying why, without PostgreSQL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { fixtures, tempDir, weft, weftBin } from './helpers.js';

const blueprint = join(fixtures, 'recorder', 'blueprint.yaml');
const base = process.env.WEFT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

async function admin<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function unavailable(): Promise<string | undefined> {
  try {
    await admin('SELECT 1');
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL not reachable at ${base}: ${(error as Error).message}`;
    if (process.env.WEFT_TEST_POSTGRES_REQUIRED === '1') throw new Error(reason);
    return reason;
  }
}

const skip = await unavailable();
after(async () => {
  if (!skip && schemas.length > 0) await admin(`DROP SCHEMA IF EXISTS ${schemas.join(', ')} CASCADE`);
});

/** A URL to a fresh schema, whose connections carry a name the test finds them by. */
function freshDb(): { url: string; app: string } {
  const schema = `weft_loss_${process.pid}_${schemas.length}_${Math.random().toString(36).slice(2, 8)}`;
  schemas.push(schema);
  return { url: `${base}?schema=${schema}&application_name=${schema}`, app: schema };
}

/** Runs `weft args`, terminating the backends of `app` at every line it prints; the number ended. */
function runTerminating(args: string[], app: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; ended: number }>((resolve) => {
    const child = spawn(process.execPath, [weftBin, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    let ended = 0;
    // One termination at a time, in the order of the lines.
    let terminating = Promise.resolve();
    createInterface({ input: child.stdout }).on('line', (line) => {
      stdout += `${line}\n`;
      terminating = terminating.then(async () => {
        const rows = await admin(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [app],
        );
        ended += rows.length;
      });
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code) => void terminating.then(() => resolve({ code, stdout, stderr, ended })));
  });
}

function instances(url: string, env: NodeJS.ProcessEnv) {
  const r = weft(['instances', '-d', 'loss', '--db', url, '--json'], { env });
  assert.equal(r.code, 0, r.stderr);
  return (
    JSON.parse(r.stdout) as { instances: { node: string; state: string; runtimeProperties: unknown }[] }
  ).instances
    .map((i) => [i.node, i.state, i.runtimeProperties])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
}

describe('PostgreSQL backends terminated under weft install', { skip }, () => {
  for (const run of [1, 2, 3, 4]) {
    test(`run ${run}: the install survives or stops as interrupted and resumes; never a crash`, {
      timeout: 120_000,
    }, async () => {
      const { url, app } = freshDb();
      const dir = tempDir();
      const env = { RECORDER_LOG: join(dir, 'ops.log'), RECORDER_DELAY_MS: '20' };
      const args = ['install', blueprint, '-d', 'loss', '--db', url, '--state-dir', dir];
      const r = await runTerminating(args, app, env);
      const output = `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
      assert.ok(r.ended > 0, 'backends were terminated');
      assert.doesNotMatch(r.stderr, /Unhandled|\s+at \S+ \(/, output);
      if (r.code !== 0) {
        assert.equal(r.code, 1, output);
        const resume = /continue it with: weft resume (\S+)/.exec(r.stderr);
        assert.ok(resume, output);
        const resumed = weft(['resume', resume[1]!, '--db', url, '--state-dir', dir, '--retry-in-flight'], {
          env,
        });
        assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
      }
      const execs = weft(['executions', '-d', 'loss', '--db', url, '--json'], { env });
      assert.doesNotMatch(execs.stdout, /"status": "started"/, 'no execution left started');
      const states = instances(url, env);
      assert.equal(states.length, 8);
      for (const [, state] of states) assert.equal(state, 'started');
    });
  }
});
