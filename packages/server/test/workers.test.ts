/**
 * `weft serve --workers` with `weft worker` processes on a PostgreSQL database of their own: the
 * operations of an install are spread over the workers, a host_agent operation runs on the worker
 * of its host's queue, and a worker killed with SIGKILL mid-operation is replaced by another once
 * its lease ends (a resumable operation runs again; another is reported lost).
 */
import assert from 'node:assert/strict';
import { readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tempDir } from '@weft/testing/cli';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { BLUEPRINT, greeter, tarArchive } from './archives.js';
import { cluster } from './cluster.js';
import { readStream } from './harness.js';

/**
 * Each test ends well under a minute here; a limit of its own makes a hang fail with the test's
 * name (and the rest of the file still run) instead of holding the file until its own timeout.
 */
const LIMIT = { timeout: 240_000 };

describe('weft worker processes run the operations of weft serve --workers', () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });

  test(
    'an install is spread over two workers; the host_agent operation waits for the agent of its host',
    LIMIT,
    async () => {
      const c = await cluster(drops, { count: 8 }, { agentWait: 1 });
      await c.startWorker('a', '--concurrency', '2');
      await c.startWorker('b', '--concurrency', '2');
      const id = await c.install();
      // No worker takes the host's queue yet: the operation is reported as waiting, not hung.
      const waiting = `waiting for the agent of host '${c.vm}' in tenant 'default_tenant'`;
      await c.follow(id, (data) => data.includes(waiting));
      await c.startWorker('host', '--queue', c.vm);
      const { logs, status } = await c.follow(id);
      assert.equal(logs.filter((l) => l.startsWith(waiting)).length, 1, 'reported once');
      assert.equal(status, 'terminated', (await c.execution(id)).error?.message);
      const runs = c.runs();
      const shared = runs.filter(([what]) => what !== 'on-host');
      // 9 Work instances (8 + gated): create, configure (begin, end), start (begin, end).
      assert.equal(shared.length, 45);
      const by = (tag: string) => shared.filter(([, , worker]) => worker === tag).length;
      assert.ok(by('a') > 0 && by('b') > 0, `both workers ran operations: a ${by('a')}, b ${by('b')}`);
      assert.equal(by('a') + by('b'), 45, 'only the two shared-queue workers ran them');
      const onHost = runs.filter(([what]) => what === 'on-host');
      assert.deepEqual(
        onHost.map(([, , worker]) => worker),
        ['host'],
      );
      // The plugins' log lines reached the execution's event stream, once each.
      for (const instance of shared.filter(([what]) => what === 'create').map(([, i]) => i))
        assert.equal(logs.filter((l) => l.startsWith(`creating ${instance} on `)).length, 1);
    },
  );

  test(
    'a worker runs uploaded plugins: unpacked from the database, and again when one is replaced',
    LIMIT,
    async () => {
      const c = await cluster(drops, { count: 1 });
      // Its plugin directories hold no greeter: only the upload can give it one.
      await c.startWorker('a');
      const call = (method: string, path: string, body: string | Buffer, type: string) =>
        fetch(`${c.url}/api/v1${path}`, { method, headers: { ...c.headers, 'content-type': type }, body });
      /** Uploads the greeter saying `word`, then installs a deployment of it; what its node said. */
      const greetWith = async (word: string, id: string, query = '') => {
        const upload = await call('POST', `/plugins${query}`, tarArchive(greeter(word)), 'application/gzip');
        assert.equal(upload.status, 201, await upload.clone().text());
        assert.equal((await call('PUT', `/blueprints/${id}`, BLUEPRINT, 'application/yaml')).status, 201);
        const made = await call(
          'PUT',
          `/deployments/${id}`,
          JSON.stringify({ blueprintId: id }),
          'application/json',
        );
        assert.equal(made.status, 201, await made.clone().text());
        const started = await call(
          'POST',
          '/executions',
          JSON.stringify({ deploymentId: id, workflowId: 'install' }),
          'application/json',
        );
        const execution = ((await started.json()) as { id: string }).id;
        assert.equal(
          (await c.follow(execution)).status,
          'terminated',
          (await c.execution(execution)).error?.message,
        );
        const instances = await fetch(`${c.url}/api/v1/node-instances?deploymentId=${id}`, {
          headers: c.headers,
        });
        const [world] = (
          (await instances.json()) as { items: { runtimeProperties: Record<string, string> }[] }
        ).items;
        return world!.runtimeProperties;
      };
      assert.deepEqual(await greetWith('hello', 'first'), { said: 'hello world', ran_by: 'a' });
      assert.deepEqual(await greetWith('goodbye', 'second', '?force=true'), {
        said: 'goodbye world',
        ran_by: 'a',
      });
    },
  );

  /** Starts two workers and an install whose `gated` node waits at `gate`; kills the worker there. */
  async function killHolder(phase: 'start' | 'configure') {
    const gate = join(tempDir(), `gate.${phase}`);
    // A short lease: the killed worker's job is taken again about 3 s after it took it.
    const c = await cluster(drops, { count: 1, gate }, { lease: 3 });
    const workers = { a: await c.startWorker('a'), b: await c.startWorker('b') };
    await c.startWorker('host', '--queue', c.vm);
    const id = await c.install();
    const first = await c.follow(id, (data) => /waiting at/.test(data));
    const holder = /on (a|b)$/.exec(first.logs.at(-1)!)![1] as 'a' | 'b';
    workers[holder].child.kill('SIGKILL');
    await workers[holder].exit;
    return { c, id, gate, holder, other: holder === 'a' ? 'b' : 'a' };
  }

  test(
    'a worker killed mid-operation: another runs the resumable operation again after the lease',
    LIMIT,
    async () => {
      const { c, id, gate, holder, other } = await killHolder('start');
      const again = await c.follow(id, (data) => data.includes(`waiting at ${gate} on ${other}`));
      assert.match(again.logs.join('\n'), /was lost; running it again/);
      writeFileSync(gate, '');
      const end = await c.follow(id);
      assert.equal(end.status, 'terminated', (await c.execution(id)).error?.message);
      const gated = c
        .runs()
        .filter(([what, instance]) => what!.startsWith('start-') && instance!.startsWith('gated'));
      assert.deepEqual(
        gated.map(([what, , worker]) => `${what} ${worker}`),
        [`start-begin ${holder}`, `start-begin ${other}`, `start-end ${other}`],
      );
    },
  );

  test(
    'a worker killed mid-operation: an operation that is not resumable fails, "worker lost while running"',
    LIMIT,
    async () => {
      const { c, id, holder } = await killHolder('configure');
      const end = await c.follow(id);
      assert.equal(end.status, 'failed');
      const execution = await c.execution(id);
      assert.match(
        execution.error!.message,
        /worker lost while running cloudify\.interfaces\.lifecycle\.configure/,
      );
      const configure = c
        .runs()
        .filter(([what, instance]) => what!.startsWith('configure-') && instance!.startsWith('gated'));
      assert.deepEqual(
        configure.map(([what, , worker]) => `${what} ${worker}`),
        [`configure-begin ${holder}`],
        'it did not run again',
      );
    },
  );

  test(
    'an operation running for several leases keeps its job: its worker renews the lease and no other worker takes it',
    LIMIT,
    async () => {
      const lease = 2;
      const gate = join(tempDir(), 'gate.configure');
      const c = await cluster(drops, { count: 1, gate }, { lease });
      await c.startWorker('a');
      await c.startWorker('b');
      await c.startWorker('host', '--queue', c.vm);
      const id = await c.install();
      const held = await c.follow(id, (data) => /waiting at/.test(data));
      const holder = /on (a|b)$/.exec(held.logs.at(-1)!)![1]!;
      // Without renewals the job would have been handed to the other worker after 2 s, which
      // reports a configure (not resumable) lost.
      const db = new pg.Client({ connectionString: c.database });
      await db.connect();
      try {
        for (;;) {
          const { rows } = await db.query<{ age: number; retry_count: number; expire: number }>(
            `SELECT extract(epoch FROM now() - started_on)::float AS age, retry_count,
                  extract(epoch FROM expire_in)::float AS expire
             FROM pgboss.job WHERE state = 'active' AND name = 'central_deployment_agent'
            ORDER BY started_on LIMIT 1`,
          );
          const job = rows[0]!;
          assert.equal(job.retry_count, 0, 'the job was never handed out again');
          if (job.age > 3 * lease) {
            assert.ok(
              job.expire > 3 * lease,
              `its lease was moved forward (ends ${job.expire} s after it started)`,
            );
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        await db.end();
      }
      writeFileSync(gate, '');
      const end = await c.follow(id);
      assert.equal(end.status, 'terminated', (await c.execution(id)).error?.message);
      assert.doesNotMatch(end.logs.join('\n'), /was lost/);
      const configure = c
        .runs()
        .filter(([what, instance]) => what!.startsWith('configure-') && instance!.startsWith('gated'));
      assert.deepEqual(
        configure.map(([what, , worker]) => `${what} ${worker}`),
        [`configure-begin ${holder}`, `configure-end ${holder}`],
      );
    },
  );

  test(
    'a worker stopped (SIGTERM) while it runs an operation lets it end, completes its job, and exits',
    LIMIT,
    async () => {
      const gate = join(tempDir(), 'gate.start');
      const c = await cluster(drops, { count: 1, gate });
      const a = await c.startWorker('a');
      await c.startWorker('host', '--queue', c.vm);
      const id = await c.install();
      await c.follow(id, (data) => /waiting at/.test(data));
      a.child.kill('SIGTERM');
      writeFileSync(gate, '');
      assert.equal(await a.exit, 0, a.stderr());
      await c.startWorker('b');
      const end = await c.follow(id);
      assert.equal(end.status, 'terminated', (await c.execution(id)).error?.message);
      const gated = c
        .runs()
        .filter(([what, instance]) => what!.startsWith('start-') && instance!.startsWith('gated'));
      assert.deepEqual(
        gated.map(([what, , worker]) => `${what} ${worker}`),
        ['start-begin a', 'start-end a'],
        'it ran once, to its end, on the worker that was stopping',
      );
    },
  );

  /**
   * An install on one worker whose gated node waits at `gateName` (start, configure or fail, as
   * the fixture reads it) while the host's operation waits for its agent: no worker takes its queue.
   */
  async function heldWhileHostWaits(gateName: string) {
    const gate = join(tempDir(), gateName);
    const c = await cluster(drops, { count: 1, gate }, { agentWait: 1 });
    await c.startWorker('a');
    const id = await c.install();
    const seen = new Set<string>();
    await c.follow(id, (data) => {
      if (data.includes('waiting at')) seen.add('running');
      if (data.includes(`waiting for the agent of host '${c.vm}'`)) seen.add('queued');
      return seen.size === 2;
    });
    return { c, id, gate };
  }

  /** The jobs pg-boss holds that did not complete, as `QUEUE STATE`, by queue. */
  async function unfinishedJobs(database: string): Promise<string[]> {
    const db = new pg.Client({ connectionString: database });
    await db.connect();
    try {
      const jobs = await db.query<{ name: string; state: string }>(
        "SELECT name, state FROM pgboss.job WHERE state <> 'completed' ORDER BY name",
      );
      return jobs.rows.map((j) => `${j.name} ${j.state}`);
    } finally {
      await db.end();
    }
  }

  test(
    'force-cancel reaches the job no worker has taken (cancelled in pg-boss) and the running one (aborted)',
    LIMIT,
    async () => {
      const { c, id } = await heldWhileHostWaits('gate.start');
      const cancel = await fetch(`${c.url}/api/v1/executions/${id}/cancel`, {
        method: 'POST',
        headers: c.headers,
        body: JSON.stringify({ force: true }),
      });
      assert.equal(cancel.status, 200, await cancel.clone().text());
      assert.equal((await c.follow(id)).status, 'cancelled');
      await c.recorded('start-aborted gated');
      const jobs = await unfinishedJobs(c.database);
      assert.deepEqual(
        jobs.sort(),
        [`central_deployment_agent cancelled`, `default_tenant/${c.vm} cancelled`].sort(),
      );
      const after = c
        .runs()
        .filter(([what, instance]) => what === 'on-host' || instance!.startsWith('gated'));
      assert.deepEqual(
        after.map(([what]) => what!).filter((what) => what.startsWith('start') || what === 'on-host'),
        ['start-begin', 'start-aborted'],
      );
    },
  );

  test(
    'a plain cancel withdraws the job no worker has taken and lets the running one end, as a local cancel does; a resume runs the withdrawn one',
    LIMIT,
    async () => {
      const { c, id, gate } = await heldWhileHostWaits('gate.start');
      const cancel = await fetch(`${c.url}/api/v1/executions/${id}/cancel`, {
        method: 'POST',
        headers: c.headers,
        body: '{}',
      });
      assert.equal(cancel.status, 200, await cancel.clone().text());
      const stream = `${c.url}/api/v1/events/stream?executionId=${id}`;
      await readStream(
        stream,
        c.headers,
        (m) => m.event === 'task_cancelled' && m.data.includes('withdrawn'),
      );
      // The running operation was not aborted: it ends when its gate opens, and the execution then.
      const opened = performance.now();
      writeFileSync(gate, '');
      assert.equal((await c.follow(id)).status, 'cancelled');
      const took = performance.now() - opened;
      assert.ok(took < 5_000, `the execution ended ${Math.round(took)} ms after its last operation could`);
      const ran = () =>
        c
          .runs()
          .filter(([what, instance]) => what === 'on-host' || instance!.startsWith('gated'))
          .map(([what, , worker]) => `${what} ${worker}`);
      assert.deepEqual(ran(), [
        'create a',
        'configure-begin a',
        'configure-end a',
        'start-begin a',
        'start-end a',
      ]);
      const tasks = async () => {
        const response = await fetch(`${c.url}/api/v1/executions/${id}/tasks`, { headers: c.headers });
        const all = (await response.json()) as {
          operation: string | null;
          instanceId: string;
          state: string;
        }[];
        const state = (node: string, op: string) =>
          all.find(
            (t) => t.instanceId.startsWith(node) && t.operation === `cloudify.interfaces.lifecycle.${op}`,
          )?.state;
        return { gated: state('gated', 'start'), host: state('app', 'create') };
      };
      // Stored as locally: the operation that ran succeeded, the withdrawn one never started.
      assert.deepEqual(await tasks(), { gated: 'succeeded', host: 'pending' });
      const jobs = await unfinishedJobs(c.database);
      // Withdrawn in pg-boss: no agent of the host takes it, whenever one starts.
      assert.deepEqual(jobs, [`default_tenant/${c.vm} cancelled`]);
      await c.startWorker('host', '--queue', c.vm);
      const resume = await fetch(`${c.url}/api/v1/executions/${id}/resume`, {
        method: 'POST',
        headers: c.headers,
        body: '{}',
      });
      assert.equal(resume.status, 202, await resume.clone().text());
      const resumed = await readStream(stream, c.headers, (m) => m.event === 'workflow_succeeded');
      assert.ok(resumed.messages.some((m) => m.event === 'workflow_succeeded'));
      assert.deepEqual(ran().slice(5), ['on-host host']);
      assert.deepEqual(await tasks(), { gated: 'succeeded', host: 'succeeded' });
    },
  );

  test(
    'a failure withdraws the job no worker has taken (one waiting for an agent that is down): the execution fails at once instead of waiting for that agent',
    LIMIT,
    async () => {
      const { c, id, gate } = await heldWhileHostWaits('gate.fail');
      writeFileSync(gate, '');
      const stream = await readStream(
        `${c.url}/api/v1/events/stream?executionId=${id}`,
        c.headers,
        (m) => m.event === 'end',
      );
      assert.deepEqual(JSON.parse(stream.messages.at(-1)!.data), { status: 'failed' });
      const withdrawn = stream.messages.filter((m) => m.event === 'task_cancelled');
      assert.equal(withdrawn.length, 1);
      assert.match(JSON.parse(withdrawn[0]!.data).message, /create was withdrawn: no worker had taken it/);
      assert.match((await c.execution(id)).error!.message, /configured to fail/);
      const jobs = await unfinishedJobs(c.database);
      assert.deepEqual(jobs, [`default_tenant/${c.vm} cancelled`]);
      assert.ok(!c.runs().some(([what]) => what === 'on-host'));
    },
  );

  test(
    'the server killed while a worker runs an operation that is not resumable: another server takes the execution over and waits for that job, which runs once',
    LIMIT,
    async () => {
      const gate = join(tempDir(), 'gate.configure');
      const c = await cluster(drops, { count: 1, gate });
      await c.startWorker('a');
      await c.startWorker('host', '--queue', c.vm);
      const other = await c.startServer('--take-over-every', '0.2');
      const id = await c.install();
      await c.follow(id, (data) => /waiting at/.test(data));
      c.server.child.kill('SIGKILL');
      await c.server.exit;
      // The other server resumes it, finding the configure job where the worker still runs it.
      const resumed = await readStream(
        `${other.url}/api/v1/events/stream?executionId=${id}`,
        c.headers,
        (m) => m.event === 'workflow_resumed' || m.event === 'end',
      );
      assert.equal(resumed.messages.at(-1)!.event, 'workflow_resumed');
      writeFileSync(gate, '');
      const end = await readStream(
        `${other.url}/api/v1/events/stream?executionId=${id}`,
        c.headers,
        (m) => m.event === 'end',
      );
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' });
      const gated = c
        .runs()
        .filter(([what, instance]) => what!.startsWith('configure-') && instance!.startsWith('gated'));
      assert.deepEqual(
        gated.map(([what, , worker]) => `${what} ${worker}`),
        ['configure-begin a', 'configure-end a'],
        'it ran once, on the worker that had it',
      );
      assert.equal(c.runs().filter(([what]) => what === 'create').length, 2, 'each create ran once');
      other.server.child.kill('SIGTERM');
      await other.server.exit;
    },
  );

  test(
    "jobs an earlier version left in a host queue of the old name (the host instance id alone) are moved to their tenant's host queue when a server starts: the execution it takes over finds its job there, which the host's worker runs once",
    LIMIT,
    async () => {
      const c = await cluster(drops, { count: 1 }, { agentWait: 1 });
      await c.startWorker('a');
      const id = await c.install();
      await c.follow(id, (data) => data.includes(`waiting for the agent of host '${c.vm}'`));
      c.server.child.kill('SIGKILL');
      await c.server.exit;
      // As an earlier version leaves it: the host's job in a queue named by the host alone, with
      // a job of another tenant's host of the same id.
      const current = `default_tenant/${c.vm}`;
      const boss = new PgBoss({
        connectionString: c.database,
        schema: 'pgboss',
        supervise: false,
        schedule: false,
      });
      await boss.start();
      await boss.createQueue(c.vm, { name: c.vm });
      const acme = await boss.send(c.vm, { tenant: 'acme', deploymentId: 'spread' });
      await boss.stop({ graceful: false, wait: true });
      const db = new pg.Client({ connectionString: c.database });
      await db.connect();
      const { rows: held } = await db.query<{ id: string }>(
        'UPDATE pgboss.job SET name = $1 WHERE name = $2 RETURNING id',
        [c.vm, current],
      );
      assert.equal(held.length, 1);
      await db.query('SELECT pgboss.delete_queue($1)', [current]);

      const other = await c.startServer('--take-over-every', '0.2');
      await c.startWorker('host', '--queue', c.vm);
      const end = await readStream(
        `${other.url}/api/v1/events/stream?executionId=${id}`,
        c.headers,
        (m) => m.event === 'end',
      );
      assert.deepEqual(JSON.parse(end.messages.at(-1)!.data), { status: 'terminated' });
      assert.deepEqual(
        c
          .runs()
          .filter(([what]) => what === 'on-host')
          .map(([, , worker]) => worker),
        ['host'],
        'the host job ran once, on the worker of its host',
      );
      const jobs = await db.query<{ name: string; id: string; state: string }>(
        'SELECT name, id, state FROM pgboss.job WHERE name <> $1 ORDER BY name',
        ['central_deployment_agent'],
      );
      const queues = await db.query<{ name: string }>('SELECT name FROM pgboss.queue ORDER BY name');
      await db.end();
      // The same job, taken where it is now: not queued again beside it.
      assert.deepEqual(
        jobs.rows.map((j) => `${j.name} ${j.id} ${j.state}`),
        [`acme/${c.vm} ${acme} created`, `${current} ${held[0]!.id} completed`],
      );
      assert.deepEqual(
        queues.rows.map((q) => q.name),
        [`acme/${c.vm}`, 'central_deployment_agent', current],
        'the old queue is gone',
      );
      other.server.child.kill('SIGTERM');
      await other.server.exit;
    },
  );

  /** Resolves when the record has at least `count` lines (watched, not polled). */
  function recordedLines(record: string, count: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const enough = () => readFileSync(record, 'utf8').split('\n').length - 1 >= count;
      const watcher = watch(record, () => {
        if (enough()) {
          watcher.close();
          resolve();
        }
      });
      if (enough()) {
        watcher.close();
        resolve();
      }
    });
  }

  // 20 kill points of an install of 500 instances, as the issue asks (about 25 s each on a quiet
  // 2-vCPU machine); fewer or smaller with these variables when iterating on the workers.
  const KILL_POINTS = Number(process.env.WEFT_TEST_KILL_POINTS ?? 20);
  for (let point = 0; point < KILL_POINTS; point++) {
    test(
      `kill point ${point + 1} of ${KILL_POINTS}: a worker and the server killed mid-install; the install finishes on the other server, nothing lost, only what was in flight on the killed worker run twice`,
      LIMIT,
      async () => {
        // Kill points from a seeded generator: the same points on every run of the suite.
        let seed = 7919 * (point + 1);
        const random = () => {
          seed = (seed * 48271) % 2147483647;
          return seed / 2147483647;
        };
        const count = Number(process.env.WEFT_TEST_KILL_INSTANCES ?? 500);
        // `count` Work instances: create, configure (begin, end), start (begin, end); on-host. Not the
        // gated node: its configure is not retried, so the execution fails (as it should) when the
        // killed worker had taken it.
        const lines = count * 5 + 1;
        // Renewed while operations run, a short lease only bounds how long the killed worker's
        // jobs wait for another.
        const c = await cluster(drops, { count, gated_count: 0 }, { lease: 5 });
        const workers = await Promise.all(
          ['a', 'b', 'c'].map((tag) => c.startWorker(tag, '--concurrency', '4')),
        );
        await c.startWorker('host', '--queue', c.vm);
        const other = await c.startServer('--take-over-every', '0.2');
        const id = await c.install();
        const workerKill = Math.floor(lines * (0.1 + 0.4 * random()));
        const serverKill = workerKill + Math.floor(lines * 0.4 * random());
        await recordedLines(c.record, workerKill);
        workers[0]!.child.kill('SIGKILL');
        await workers[0]!.exit;
        await recordedLines(c.record, serverKill);
        c.server.child.kill('SIGKILL');
        await c.server.exit;
        const end = await readStream(
          `${other.url}/api/v1/events/stream?executionId=${id}`,
          c.headers,
          (m) => m.event === 'end',
        );
        assert.deepEqual(
          JSON.parse(end.messages.at(-1)!.data),
          { status: 'terminated' },
          `kills at ${workerKill}, ${serverKill}: ${end.messages
            .filter((m) => /failed/.test(m.event))
            .map((m) => m.data)
            .join('\n')}`,
        );
        const instances = await fetch(`${other.url}/api/v1/node-instances?deploymentId=spread&size=1000`, {
          headers: c.headers,
        });
        const { items } = (await instances.json()) as { items: { node: string; state: string }[] };
        assert.equal(items.length, count + 2);
        assert.deepEqual([...new Set(items.map((i) => i.state))], ['started'], 'every instance started');
        // Each operation ran to its end at least once; more than once only if it was in flight on
        // the killed worker (4 at a time), never because the server was killed.
        const runs = c.runs();
        const ends = new Map<string, number>();
        for (const [what, instance] of runs)
          if (what === 'create' || what!.endsWith('-end'))
            ends.set(`${what} ${instance}`, (ends.get(`${what} ${instance}`) ?? 0) + 1);
        assert.equal(ends.size, count * 3, 'every create, configure and start ended');
        const twice = [...ends].filter(([, n]) => n > 1);
        assert.ok(twice.length <= 4, `ran again: ${twice.map(([k]) => k).join(', ')}`);
        for (const [, , worker] of runs.filter(([, , w]) => w !== 'a')) assert.notEqual(worker, undefined);
        for (const w of workers.slice(1)) w.child.kill('SIGTERM');
        other.server.child.kill('SIGTERM');
        await other.server.exit;
      },
    );
  }
});
