/**
 * Host agents over HTTP, with real processes on a PostgreSQL database of their own: `weft agent
 * install` makes a host's token and prints the command that starts its agent; that agent, with the
 * token alone (no database URL, no secret key), runs its host's host_agent operations and no
 * other host's; its token is refused elsewhere in the API; revoked, the agent takes no more work;
 * `--run` starts an agent in place.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openPostgresStore } from '@weft/engine';
import { NO_WEFT_ENVIRONMENT, tempDir, weft, weftInBackground } from '@weft/testing/cli';
import { blueprint, cluster } from './cluster.js';
import { deploy, readStream } from './harness.js';

describe('host agents: weft agent install, then weft worker --server with the token alone', () => {
  const drops: (() => Promise<void>)[] = [];
  after(async () => {
    for (const drop of drops) await drop();
  });

  test('the agent runs the host_agent operations of its host, only those; its token is refused elsewhere; revoked, it stops', {
    timeout: 240_000,
  }, async () => {
    const c = await cluster(drops, { count: 1 }, { agentWait: 1 });
    // Another deployment, whose host is another one: its host_agent operation is not this agent's.
    const store = await openPostgresStore(c.database, { schema: 'weft_tenant_default_tenant' });
    await deploy({ store }, blueprint, 'other', { record: c.record, count: 1 });
    const instances = async (deployment: string) => await store.listInstances(deployment);
    const otherVm = (await instances('other')).find((i) => i.node === 'vm')!.id;
    const app = (await instances('spread')).find((i) => i.node === 'app')!.id;
    await store.close();
    await c.startWorker('shared');

    const admin = c.headers.authorization!.slice('Bearer '.length);
    const made = weft(['agent', 'install', '-d', 'spread', '--host', c.vm], {
      env: { ...NO_WEFT_ENVIRONMENT, WEFT_SERVER: c.url, WEFT_TOKEN: admin },
    });
    assert.equal(made.code, 0, made.stderr);
    const tokenId = /^Token ([0-9a-f]{16}) for the agent of host (\S+)/m.exec(made.stdout);
    assert.equal(tokenId?.[2], c.vm);
    const printed = /^ {2}WEFT_AGENT_TOKEN=(weft_\S+) weft (worker --server \S+)$/m.exec(made.stdout);
    assert.ok(printed, made.stdout);
    const agentToken = printed[1]!;
    const agent = weftInBackground(printed[2]!.split(' '), {
      ...NO_WEFT_ENVIRONMENT,
      WEFT_AGENT_TOKEN: agentToken,
      WEFT_HOME: join(c.dir, 'agent-home'),
      WEFT_TEST_WORKER: 'agent',
    });
    assert.match(await agent.line(/taking its operations from/), new RegExp(`of host ${c.vm} `));

    const start = async (deploymentId: string, workflowId: string, parameters = {}) => {
      const started = await fetch(`${c.url}/api/v1/executions`, {
        method: 'POST',
        headers: c.headers,
        body: JSON.stringify({ deploymentId, workflowId, parameters }),
      });
      assert.equal(started.status, 201, await started.clone().text());
      return ((await started.json()) as { id: string }).id;
    };
    const spread = await start('spread', 'install');
    const other = await start('other', 'install');
    const done = await c.follow(spread);
    assert.equal(done.status, 'terminated', (await c.execution(spread)).error?.message);
    // Its log line reached the execution's events once (sent as written, and with the outcome).
    assert.deepEqual(
      done.logs.filter((l) => l.startsWith('on host ')),
      [`on host ${app} by agent`],
    );
    await c.follow(other, (data) =>
      data.includes(`waiting for the agent of host '${otherVm}' in tenant 'default_tenant'`),
    );
    const onHost = () => c.runs().filter(([what]) => what === 'on-host');
    assert.deepEqual(onHost(), [['on-host', app, 'agent']]);
    assert.ok(
      c
        .runs()
        .filter(([what]) => what !== 'on-host')
        .every(([, , by]) => by === 'shared'),
      'the agent ran nothing of the shared queue',
    );

    // Anywhere else in the API, the agent's token is refused.
    const asAgent = { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' };
    for (const [method, path] of [
      ['GET', '/deployments'],
      ['GET', `/node-instances/${c.vm}`],
      ['POST', '/executions'],
      ['GET', '/secrets'],
    ] as const) {
      const refused = await fetch(`${c.url}/api/v1${path}`, {
        method,
        headers: asAgent,
        ...(method === 'POST'
          ? { body: JSON.stringify({ deploymentId: 'spread', workflowId: 'install' }) }
          : {}),
      });
      assert.equal(refused.status, 403, `${method} ${path}`);
    }

    // Revoked while it waits for work: the next job of its host is not taken, and the agent stops.
    const revoked = await fetch(`${c.url}/api/v1/tokens/${tokenId![1]}`, {
      method: 'DELETE',
      headers: { authorization: c.headers.authorization! },
    });
    assert.equal(revoked.status, 204);
    const again = await start('spread', 'execute_operation', {
      operation: 'cloudify.interfaces.lifecycle.create',
      node_ids: ['app'],
    });
    assert.equal(await agent.exit, 1);
    assert.match(agent.stderr(), /refused this agent's token/);
    await c.follow(again, (data) =>
      data.includes(
        `waiting for the agent of host '${c.vm}' in tenant 'default_tenant': no worker has taken cloudify.interfaces.lifecycle.create for 1 s (start it with weft agent install -d spread --host ${c.vm}, or weft worker --queue ${c.vm})`,
      ),
    );
    assert.deepEqual(onHost(), [['on-host', app, 'agent']], 'nothing more ran on the host');

    // A new token, with the agent started here by --run: it takes the operation that waited.
    const here = weftInBackground(['agent', 'install', '-d', 'spread', '--host', c.vm, '--run'], {
      ...NO_WEFT_ENVIRONMENT,
      WEFT_SERVER: c.url,
      WEFT_TOKEN: admin,
      WEFT_HOME: join(c.dir, 'agent-here'),
      WEFT_TEST_WORKER: 'agent-here',
    });
    await here.line(/taking its operations from/);
    assert.equal((await c.follow(again)).status, 'terminated', (await c.execution(again)).error?.message);
    assert.deepEqual(onHost(), [
      ['on-host', app, 'agent'],
      ['on-host', app, 'agent-here'],
    ]);
    assert.doesNotMatch(here.lines.join('\n'), /weft_[0-9a-f]{16}_/, 'the token is not printed with --run');
  });

  test("two tenants with a deployment of the same id (so hosts of the same ids): each host_agent operation runs only on its own tenant's agent", {
    timeout: 240_000,
  }, async () => {
    const c = await cluster(drops, { count: 1 }, { agentWait: 1 });
    const made = await fetch(`${c.url}/api/v1/tenants`, {
      method: 'POST',
      headers: c.headers,
      body: JSON.stringify({ name: 'acme' }),
    });
    assert.equal(made.status, 201, await made.clone().text());
    // The same deployment id in tenant acme, recording to a file of its own.
    const acmeRecord = join(c.dir, 'acme-record');
    writeFileSync(acmeRecord, '');
    const store = await openPostgresStore(c.database, { schema: 'weft_tenant_acme' });
    await store.migrate();
    await deploy({ store }, blueprint, 'spread', { record: acmeRecord, count: 1 });
    const acmeInstances = await store.listInstances('spread');
    const acmeVm = acmeInstances.find((i) => i.node === 'vm')!.id;
    const app = acmeInstances.find((i) => i.node === 'app')!.id;
    await store.close();
    assert.equal(acmeVm, c.vm, 'the two hosts have the same instance id');
    const acmeRuns = () =>
      readFileSync(acmeRecord, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' '));

    await c.startWorker('shared');
    await c.startWorker('host-default', '--queue', c.vm);
    const start = async (tenant: string, workflowId: string, parameters = {}) => {
      const started = await fetch(`${c.url}/api/v1/executions`, {
        method: 'POST',
        headers: { ...c.headers, tenant },
        body: JSON.stringify({ deploymentId: 'spread', workflowId, parameters }),
      });
      assert.equal(started.status, 201, await started.clone().text());
      return ((await started.json()) as { id: string }).id;
    };
    const follow = (tenant: string, id: string, until?: (data: string) => boolean) =>
      readStream(
        `${c.url}/api/v1/events/stream?executionId=${id}`,
        { ...c.headers, tenant },
        (m) => m.event === 'end' || (until !== undefined && m.event === 'log' && until(m.data)),
      );
    const ended = async (tenant: string, id: string) =>
      JSON.parse((await follow(tenant, id)).messages.find((m) => m.event === 'end')!.data).status;

    // Tenant acme's host operation waits for its own agent; the default tenant's host worker,
    // taking a host of the same id, does not take it.
    const acme = await start('acme', 'install');
    await follow('acme', acme, (data) =>
      data.includes(
        `waiting for the agent of host '${c.vm}' in tenant 'acme': no worker has taken cloudify.interfaces.lifecycle.create for 1 s (start it with weft agent install -d spread --host ${c.vm}, or weft worker --queue ${c.vm} --tenant acme)`,
      ),
    );
    const mine = await start('default_tenant', 'install');
    assert.equal(await ended('default_tenant', mine), 'terminated');
    const onHost = (runs: string[][]) => runs.filter(([what]) => what === 'on-host');
    assert.deepEqual(onHost(c.runs()), [['on-host', app, 'host-default']]);
    assert.deepEqual(onHost(acmeRuns()), [], "acme's host operation still waits");

    // Acme's agent on the database (weft worker --queue HOST --tenant acme) takes it.
    const acmeWorker = await c.startWorker('host-acme', '--queue', c.vm, '--tenant', 'acme');
    assert.equal(await ended('acme', acme), 'terminated');
    assert.deepEqual(onHost(acmeRuns()), [['on-host', app, 'host-acme']]);
    acmeWorker.child.kill('SIGTERM');
    await acmeWorker.exit;

    // Acme's agent over HTTP (weft agent install in tenant acme): it takes its host's next
    // operation, and the default tenant's host worker still takes none of acme's.
    const admin = c.headers.authorization!.slice('Bearer '.length);
    const agent = weftInBackground(['agent', 'install', '-d', 'spread', '--host', c.vm, '--run'], {
      ...NO_WEFT_ENVIRONMENT,
      WEFT_SERVER: c.url,
      WEFT_TOKEN: admin,
      WEFT_TENANT: 'acme',
      WEFT_HOME: join(c.dir, 'acme-agent'),
      WEFT_TEST_WORKER: 'acme-agent',
    });
    assert.match(await agent.line(/taking its operations from/), /tenant acme\)/);
    const again = await start('acme', 'execute_operation', {
      operation: 'cloudify.interfaces.lifecycle.create',
      node_ids: ['app'],
    });
    assert.equal(await ended('acme', again), 'terminated');
    assert.deepEqual(onHost(acmeRuns()), [
      ['on-host', app, 'host-acme'],
      ['on-host', app, 'acme-agent'],
    ]);
    assert.deepEqual(onHost(c.runs()), [['on-host', app, 'host-default']], 'the default tenant ran no more');
    // Nothing was given back: no job of one tenant reached the other's agent.
    const events = (await follow('acme', again)).messages.map((m) => m.data).join('\n');
    assert.doesNotMatch(events, /not the job of the agent|lost/);
  });

  test('a plain cancel lets the operation an agent runs end, keeps its outcome, and starts nothing after it', {
    timeout: 240_000,
  }, async () => {
    const gate = join(tempDir(), 'gate.host');
    const c = await cluster(drops, { count: 1, gate }, { lease: 300 });
    await c.startWorker('shared');
    const agent = weftInBackground(['agent', 'install', '-d', 'spread', '--host', c.vm, '--run'], {
      ...NO_WEFT_ENVIRONMENT,
      WEFT_SERVER: c.url,
      WEFT_TOKEN: c.headers.authorization!.slice('Bearer '.length),
      WEFT_HOME: join(c.dir, 'agent-home'),
      WEFT_TEST_WORKER: 'agent',
    });
    await agent.line(/taking its operations from/);
    const id = await c.install();
    await c.follow(id, (data) => data.includes(`waiting at ${gate} on agent`));
    const cancel = await fetch(`${c.url}/api/v1/executions/${id}/cancel`, {
      method: 'POST',
      headers: c.headers,
      body: '{}',
    });
    assert.equal(cancel.status, 200, await cancel.clone().text());
    assert.equal(((await cancel.json()) as { status: string }).status, 'cancelling');
    // Not aborted: it ends when its gate opens, and the execution with it.
    const opened = performance.now();
    writeFileSync(gate, '');
    const { logs, status } = await c.follow(id);
    const took = performance.now() - opened;
    assert.equal(status, 'cancelled');
    assert.ok(took < 5_000, `the execution ended ${Math.round(took)} ms after its last operation could`);
    assert.deepEqual(
      c
        .runs()
        .filter(([what]) => what === 'on-host' || what === 'host-aborted')
        .map(([what, , by]) => `${what} ${by}`),
      ['on-host agent'],
    );
    assert.ok(logs.includes(`on host ${c.runs().find(([what]) => what === 'on-host')![1]} by agent`));
    const response = await fetch(`${c.url}/api/v1/executions/${id}/tasks`, { headers: c.headers });
    const tasks = (await response.json()) as {
      operation: string | null;
      node: string;
      instanceId: string;
      state: string;
    }[];
    const operations = tasks.filter((t) => t.operation !== null);
    assert.deepEqual(
      operations.filter((t) => t.node === 'app').map((t) => `${t.operation} ${t.state}`),
      ['cloudify.interfaces.lifecycle.create succeeded'],
      'the outcome of the operation that ran is stored',
    );
    // Nothing started after the cancel: each operation ran (it is recorded) exactly when its task
    // succeeded; the others are pending, never started.
    const recorded = { create: 'create', configure: 'configure-begin', start: 'start-begin' };
    for (const task of operations) {
      const op = task.operation!.split('.').pop() as keyof typeof recorded;
      const what = task.node === 'app' ? 'on-host' : recorded[op];
      const ran = c.runs().some(([w, instance]) => w === what && instance === task.instanceId);
      assert.equal(task.state, ran ? 'succeeded' : 'pending', `${task.instanceId} ${op}`);
    }
  });

  test('force-cancel reaches the agent running a host operation at once, not at its next lease renewal', {
    timeout: 240_000,
  }, async () => {
    const gate = join(tempDir(), 'gate.host');
    // Leases of 300 s: the agent renews its job's every 100 s, so a cancel learnt from a renewal
    // would take up to that long.
    const c = await cluster(drops, { count: 1, gate }, { lease: 300 });
    await c.startWorker('shared');
    const agent = weftInBackground(['agent', 'install', '-d', 'spread', '--host', c.vm, '--run'], {
      ...NO_WEFT_ENVIRONMENT,
      WEFT_SERVER: c.url,
      WEFT_TOKEN: c.headers.authorization!.slice('Bearer '.length),
      WEFT_HOME: join(c.dir, 'agent-home'),
      WEFT_TEST_WORKER: 'agent',
    });
    await agent.line(/taking its operations from/);
    const id = await c.install();
    await c.follow(id, (data) => data.includes(`waiting at ${gate} on agent`));
    const asked = performance.now();
    const cancel = await fetch(`${c.url}/api/v1/executions/${id}/cancel`, {
      method: 'POST',
      headers: c.headers,
      body: JSON.stringify({ force: true }),
    });
    assert.equal(cancel.status, 200, await cancel.clone().text());
    await c.recorded('host-aborted');
    const took = performance.now() - asked;
    assert.ok(took < 3_000, `the operation was aborted ${Math.round(took)} ms after the cancel`);
    assert.equal((await c.follow(id)).status, 'cancelled');
    assert.deepEqual(
      c
        .runs()
        .filter(([what]) => what === 'on-host' || what === 'host-aborted')
        .map(([what, , by]) => `${what} ${by}`),
      ['on-host agent', 'host-aborted agent'],
    );
    process.stdout.write(`# force-cancel reached the agent's operation in ${Math.round(took)} ms\n`);
  });
});
