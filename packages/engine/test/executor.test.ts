import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NonRecoverableError, RecoverableError } from '@weft/sdk';
import { startExecution } from '../src/deployment/deployments.js';
import { evaluateOutputs } from '../src/deployment/outputs.js';
import { COMMIT_WINDOW_MS } from '../src/executor/executor.js';
import { InProcessDispatcher } from '../src/runtime/in-process.js';
import { openStore } from '../src/store/index.js';
import { ActiveExecutionError, type Batch, type Store } from '../src/store/types.js';
import { harness, noop } from './executor-helpers.js';

const HEAD = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, install: false}
`;

const LIFECYCLE = `
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.op, configure: p.op, start: p.op, stop: p.op, delete: p.op}`;

function before(calls: string[], a: string, b: string): void {
  const ia = calls.indexOf(a);
  const ib = calls.indexOf(b);
  assert.ok(ia >= 0, `${a} ran (calls: ${calls.join(', ')})`);
  assert.ok(ib >= 0, `${b} ran (calls: ${calls.join(', ')})`);
  assert.ok(ia < ib, `${a} before ${b} (calls: ${calls.join(', ')})`);
}

describe('install and uninstall order', () => {
  const blueprint = `${HEAD}
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}${LIFECYCLE}
  db:
    type: cloudify.nodes.DBMS${LIFECYCLE}
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
  app:
    type: cloudify.nodes.ApplicationServer${LIFECYCLE}
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle: {preconfigure: p.op, postconfigure: p.op, establish: p.op, unlink: p.op}
        target_interfaces:
          cloudify.interfaces.relationship_lifecycle: {preconfigure: p.op, postconfigure: p.op, establish: p.op, unlink: p.op}
  monitor:
    type: cloudify.nodes.Root${LIFECYCLE}
    relationships: [{type: cloudify.relationships.depends_on, target: app}]
`;

  test('install follows Cloudify: targets first, then create, preconfigure, configure, postconfigure, start, establish', async () => {
    const h = await harness(blueprint, { operations: { 'p.op': noop } });
    const execution = await h.execute('install');
    assert.equal(execution.status, 'terminated');
    const c = h.calls;
    before(c, 'vm.start', 'db.create');
    before(c, 'db.start', 'app.create');
    before(c, 'app.create', 'app.preconfigure[app->db]');
    // Both ends of a relationship operation run (the target's with its own node), before configure.
    before(c, 'app.create', 'db.preconfigure[app->db]');
    before(c, 'app.preconfigure[app->db]', 'app.configure');
    before(c, 'db.preconfigure[app->db]', 'app.configure');
    before(c, 'db.establish[app->db]', 'monitor.create');
    before(c, 'app.configure', 'app.postconfigure[app->db]');
    before(c, 'app.postconfigure[app->db]', 'app.start');
    before(c, 'app.start', 'app.establish[app->db]');
    before(c, 'app.establish[app->db]', 'monitor.create');
    const instances = await h.store.listInstances('dep');
    assert.ok(instances.every((i) => i.state === 'started'));
    // create, configure, start on four nodes; three relationship operations on both ends.
    assert.equal(c.length, 4 * 3 + 3 * 2, `${c.length} calls: ${c.join(', ')}`);
  });

  test('uninstall runs in reverse: sources stop and unlink before their targets are deleted', async () => {
    const h = await harness(blueprint, { operations: { 'p.op': noop } });
    await h.execute('install');
    h.calls.length = 0;
    const execution = await h.execute('uninstall');
    assert.equal(execution.status, 'terminated');
    const c = h.calls;
    before(c, 'monitor.delete', 'app.stop');
    before(c, 'app.stop', 'app.unlink[app->db]');
    before(c, 'app.unlink[app->db]', 'app.delete');
    before(c, 'app.delete', 'db.stop');
    before(c, 'db.delete', 'vm.stop');
    assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'deleted'));
  });

  test('each operation sees the state Cloudify sets before it; a state step after an operation is stored with it', async () => {
    const all = `
    interfaces:
      cloudify.interfaces.lifecycle:
        {precreate: p.op, create: p.op, configure: p.op, start: p.op, poststart: p.op, prestop: p.op, stop: p.bad, delete: p.op, postdelete: p.op}`;
    const seen: string[] = [];
    const h = await harness(
      `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root${all}
`,
      {
        operations: {
          'p.op': (ctx) => {
            seen.push(`${ctx.operation.name.split('.').pop()}:${ctx.instance.state}`);
          },
          'p.bad': (ctx) => {
            seen.push(`${ctx.operation.name.split('.').pop()}:${ctx.instance.state}`);
            throw new NonRecoverableError('stop failed');
          },
        },
      },
    );
    const install = await h.execute('install');
    assert.equal(install.status, 'terminated');
    assert.deepEqual(seen, [
      'precreate:initializing',
      'create:creating',
      'configure:configuring',
      'start:starting',
      'poststart:starting',
    ]);
    const tasks = await h.store.listTasks(install.id);
    // One state task (where the instance starts), then each operation with the state after it.
    assert.deepEqual(
      tasks.map((t) => `${t.operation?.split('.').pop() ?? t.kind}->${t.targetState}`),
      [
        'state->initializing',
        'precreate->creating',
        'create->configuring',
        'configure->starting',
        'start->null',
        'poststart->started',
      ],
    );
    assert.equal((await h.store.listInstances('dep'))[0]!.state, 'started');

    // A failure uninstall ignores still moves the instance on, as the state task after it did.
    seen.length = 0;
    const uninstall = await h.execute('uninstall', { ignore_failure: true });
    assert.equal(uninstall.status, 'terminated');
    assert.deepEqual(seen, ['prestop:stopping', 'stop:stopping', 'delete:deleting', 'postdelete:deleting']);
    assert.equal((await h.store.listInstances('dep'))[0]!.state, 'deleted');
  });

  test('empty operations are skipped without a dispatch', async () => {
    const h = await harness(`${HEAD}
node_templates:
  a: {type: cloudify.nodes.Root}
`);
    const execution = await h.execute('install');
    assert.equal(execution.status, 'terminated');
    assert.deepEqual(h.calls, []);
    assert.equal(h.events.filter((e) => e.type === 'task_started').length, 0);
  });
});

describe('retries and failures', () => {
  const one = `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.create, start: p.start}
  b:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.other}
    relationships: [{type: cloudify.relationships.depends_on, target: a}]
`;

  test('a plain error is retried up to task_retries, then the run goes on', async () => {
    let attempts = 0;
    const h = await harness(one, {
      operations: {
        'p.create': (ctx) => {
          attempts++;
          assert.equal(ctx.operation.retryNumber, attempts - 1);
          if (attempts < 3) throw new Error(`flaky ${attempts}`);
        },
        'p.start': noop,
        'p.other': noop,
      },
    });
    const execution = await h.execute('install', { task_retries: 3, task_retry_interval: 0 });
    assert.equal(execution.status, 'terminated');
    assert.equal(attempts, 3);
    const rescheduled = h.events.filter((e) => e.type === 'task_rescheduled');
    assert.equal(rescheduled.length, 2);
    assert.match(rescheduled[0]!.message, /flaky 1 \[retry 1\/3 in 0 s\]/);
  });

  test('NonRecoverableError fails the task at once; the execution says which task and why', async () => {
    let attempts = 0;
    const h = await harness(one, {
      operations: {
        'p.create': () => {
          attempts++;
          throw new NonRecoverableError('image not found', { causes: [new TypeError('404 from registry')] });
        },
        'p.start': noop,
        'p.other': noop,
      },
    });
    const execution = await h.execute('install', { task_retries: 5, task_retry_interval: 0 });
    assert.equal(execution.status, 'failed');
    assert.equal(attempts, 1);
    const error = execution.error as {
      message: string;
      task: { node: string; operation: string };
      causes: { type: string; message: string }[];
    };
    assert.equal(error.message, 'image not found');
    assert.equal(error.task.node, 'a');
    assert.equal(error.task.operation, 'cloudify.interfaces.lifecycle.create');
    assert.deepEqual(
      error.causes.map((c) => [c.type, c.message]),
      [['TypeError', '404 from registry']],
    );
    // Nothing after the failure ran.
    assert.deepEqual(h.calls, ['a.create']);
    const stored = await h.store.getExecution(execution.id);
    assert.equal(stored?.status, 'failed');
  });

  test('retries exhausted fail the execution', async () => {
    const h = await harness(one, {
      operations: {
        'p.create': () => {
          throw new RecoverableError('busy');
        },
        'p.start': noop,
        'p.other': noop,
      },
    });
    const execution = await h.execute('install', { task_retries: 2, task_retry_interval: 0 });
    assert.equal(execution.status, 'failed');
    assert.equal(h.calls.filter((c) => c === 'a.create').length, 3);
  });

  test('ctx.operation.retry re-queues on a timer without holding a worker slot', async () => {
    const order: string[] = [];
    const h = await harness(
      `${HEAD}
node_templates:
  waiter:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.wait}
  other:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.quick}
`,
      {
        concurrency: 1,
        operations: {
          'p.wait': (ctx) => {
            order.push(`wait ${ctx.operation.retryNumber}`);
            if (ctx.operation.retryNumber < 2) ctx.operation.retry('not ready', 0.05);
          },
          'p.quick': () => {
            order.push('quick');
          },
        },
      },
    );
    const execution = await h.execute('install', { task_retries: 5 });
    assert.equal(execution.status, 'terminated');
    // The quick task ran while the waiting one waited, with one slot.
    assert.ok(order.indexOf('quick') < order.indexOf('wait 2'), order.join(', '));
    assert.deepEqual(
      order.filter((o) => o.startsWith('wait')),
      ['wait 0', 'wait 1', 'wait 2'],
    );
  });

  test('a failure lets in-flight tasks finish and starts nothing new', async () => {
    let release!: () => void;
    const slowDone = new Promise<void>((r) => {
      release = r;
    });
    let slowFinished = false;
    const h = await harness(
      `${HEAD}
node_templates:
  slow:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.slow}}
  bad:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.bad}}
  later:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.later}}
    relationships: [{type: cloudify.relationships.depends_on, target: bad}]
`,
      {
        operations: {
          'p.slow': async () => {
            await slowDone;
            slowFinished = true;
          },
          'p.bad': () => {
            setImmediate(release);
            throw new NonRecoverableError('boom');
          },
          'p.later': noop,
        },
      },
    );
    const execution = await h.execute('install', { task_retries: 0 });
    assert.equal(execution.status, 'failed');
    assert.ok(slowFinished, 'the in-flight task finished before the execution ended');
    assert.ok(!h.calls.includes('later.create'));
  });
});

test('relationship operation inputs: get_input and get_property of SOURCE and TARGET are evaluated, get_attribute when it runs', async () => {
  const seen: Record<string, unknown> = {};
  const h = await harness(
    `${HEAD}
inputs:
  name: {default: from-input}
node_types:
  t.Db: {derived_from: cloudify.nodes.Root, properties: {port: {default: 1}}}
  t.App: {derived_from: cloudify.nodes.Root, properties: {path: {default: /}}}
relationships:
  t.uses:
    derived_from: cloudify.relationships.connected_to
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle:
        preconfigure:
          implementation: p.pre
          inputs:
            from_type: {default: {concat: [{get_property: [SOURCE, path]}, '@', {get_property: [TARGET, port]}]}}
node_templates:
  db:
    type: t.Db
    properties: {port: 5432}
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.create}
  app:
    type: t.App
    properties: {path: /app}
    relationships:
      - type: t.uses
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish:
              implementation: p.establish
              inputs:
                port: {get_property: [TARGET, port]}
                path: {get_property: [SOURCE, path]}
                name: {get_input: name}
                ip: {get_attribute: [TARGET, ip]}
        target_interfaces:
          cloudify.interfaces.relationship_lifecycle:
            establish: {implementation: p.target_side, inputs: {nested: {list: [{get_property: [db, port]}]}}}
`,
    {
      operations: {
        'p.create': (ctx) => {
          ctx.instance.runtimeProperties.ip = '10.0.0.9';
        },
        'p.pre': (_ctx, inputs) => {
          seen.pre = inputs;
        },
        'p.establish': (_ctx, inputs) => {
          seen.establish = inputs;
        },
        'p.target_side': (_ctx, inputs) => {
          seen.target = inputs;
        },
      },
    },
  );
  const execution = await h.execute('install');
  assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
  assert.deepEqual(seen, {
    pre: { from_type: '/app@5432' },
    establish: { port: 5432, path: '/app', name: 'from-input', ip: '10.0.0.9' },
    target: { nested: { list: [5432] } },
  });
});

describe('runtime properties', () => {
  const bp = `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.create, configure: p.configure, start: p.start}
outputs:
  endpoint: {value: {concat: ['http://', {get_attribute: [a, ip]}, ':', {get_attribute: [a, nested, port]}]}}
  id: {value: {get_attribute: [a, node_instance_id]}}
`;

  test('changes are saved when an operation ends, nested in-place changes included', async () => {
    const h = await harness(bp, {
      operations: {
        'p.create': (ctx) => {
          ctx.instance.runtimeProperties.ip = '10.0.0.5';
          ctx.instance.runtimeProperties.nested = { port: 80 };
        },
        'p.configure': (ctx) => {
          // An in-place change of a nested value (Cloudify would drop it).
          (ctx.instance.runtimeProperties.nested as { port: number }).port = 8080;
        },
        'p.start': (ctx) => {
          assert.equal(ctx.instance.runtimeProperties.ip, '10.0.0.5');
          delete ctx.instance.runtimeProperties.unused;
        },
      },
    });
    await h.execute('install');
    const [instance] = await h.store.listInstances('dep');
    assert.deepEqual(instance!.runtimeProperties, { ip: '10.0.0.5', nested: { port: 8080 } });
    assert.ok(instance!.version >= 2);
    const outputs = await evaluateOutputs(h.store, 'dep', new Map());
    assert.equal(outputs.endpoint, 'http://10.0.0.5:8080');
    assert.equal(outputs.id, instance!.id);
  });

  test('ctx.instance.update() saves at once, before the operation ends; update(changes) merges first', async () => {
    let seenDuring: unknown;
    const h = await harness(bp, {
      operations: {
        'p.create': async (ctx) => {
          ctx.instance.runtimeProperties.stage = 'created-resource';
          await ctx.instance.update();
          const [stored] = await h.store.listInstances('dep');
          seenDuring = stored!.runtimeProperties.stage;
          await ctx.instance.update({ merged: 'by update' });
          ctx.instance.runtimeProperties.done = true;
        },
        'p.configure': noop,
        'p.start': noop,
      },
    });
    await h.execute('install');
    assert.equal(seenDuring, 'created-resource');
    const [instance] = await h.store.listInstances('dep');
    assert.deepEqual(instance!.runtimeProperties, {
      stage: 'created-resource',
      merged: 'by update',
      done: true,
    });
  });

  test('a conflicting concurrent update of the same key is detected, not lost', async () => {
    let gate!: () => void;
    const both = new Promise<void>((r) => {
      gate = r;
    });
    let arrived = 0;
    const write =
      (value: number) =>
      async (ctx: {
        operation: { retryNumber: number };
        instance: { runtimeProperties: Record<string, unknown> };
      }) => {
        if (ctx.operation.retryNumber === 0) {
          arrived++;
          if (arrived === 2) gate();
          await both;
        }
        ctx.instance.runtimeProperties.count = value;
        ctx.instance.runtimeProperties[`by${value}`] = true;
      };
    const h = await harness(
      `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces: {custom: {one: p.one, two: p.two}}
workflows:
  both: p.both
`,
      {
        operations: { 'p.one': write(1), 'p.two': write(2) },
        workflows: {
          'p.both': (ctx) => {
            const [instance] = ctx.node('a')!.instances;
            ctx.parallel(instance!.executeOperation('custom.one'), instance!.executeOperation('custom.two'));
          },
        },
      },
    );
    const execution = await h.execute('both', { task_retries: 2, task_retry_interval: 0 });
    assert.equal(execution.status, 'terminated');
    const conflicts = h.events.filter(
      (e) =>
        e.type === 'task_rescheduled' &&
        /update conflict: runtime properties 'count' of .* were changed by another operation/.test(e.message),
    );
    assert.equal(conflicts.length, 1, 'the second writer was told and ran again');
    const [instance] = await h.store.listInstances('dep');
    // Both writers' other keys survive; the key they fought over holds the retried writer's value.
    assert.equal(instance!.runtimeProperties.by1, true);
    assert.equal(instance!.runtimeProperties.by2, true);
    const retried = conflicts[0]!.operation === 'custom.one' ? 1 : 2;
    assert.equal(instance!.runtimeProperties.count, retried);
  });
});

describe('commits', () => {
  test('quick operations go out many to a commit; what depends on a task is sent only once its success is stored; few are sent ahead of a free slot', async () => {
    const inner = await openStore(join(mkdtempSync(join(tmpdir(), 'weft-commits-')), 'weft.db'));
    const batches: Batch[] = [];
    const store = new Proxy(inner, {
      get(target, key) {
        if (key === 'applyBatch')
          return async (batch: Batch) => {
            await target.applyBatch(batch);
            batches.push(structuredClone(batch));
          };
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const concurrency = 4;
    const h = await harness(
      `${HEAD}
node_templates:
  n:
    type: cloudify.nodes.Root
    capabilities: {scalable: {properties: {default_instances: 150}}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.op, configure: p.op, start: p.op}}
`,
      { store, concurrency, operations: { 'p.op': noop } },
    );
    const execution = await startExecution({
      store,
      dispatcher: new InProcessDispatcher({}),
      deploymentId: 'dep',
      workflow: 'install',
    });
    const tasks = await store.listTasks(execution.id);
    const result = await h.executor.run(execution.id);
    assert.equal(result.status, 'terminated');
    assert.equal(h.calls.length, 450);
    assert.ok(batches.length < 450 / 12, `${batches.length} commits for 450 operations`);
    const stored = new Map(tasks.map((t) => [t.id, t.state as string]));
    for (const batch of batches) {
      for (const change of batch.tasks ?? []) stored.set(change.id, change.state);
      for (const change of batch.tasks ?? []) {
        if (change.state !== 'sent') continue;
        for (const dep of tasks[change.id]!.dependsOn)
          assert.equal(
            stored.get(dep),
            'succeeded',
            `task ${change.id} sent before task ${dep} is stored done`,
          );
      }
      const sent = [...stored.values()].filter((state) => state === 'sent').length;
      assert.ok(sent <= concurrency * 9, `${sent} tasks stored as sent at once`);
    }
  });
  test('a change that comes alone (a log line of a long operation) is stored at once, not held for COMMIT_WINDOW_MS', async (t) => {
    const gate = () => {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      return { open, opened };
    };
    const running = gate();
    const log = gate();
    const end = gate();
    const h = await harness(
      `${HEAD}
node_templates:
  n:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.op}}
`,
      {
        operations: {
          'p.op': async (ctx) => {
            running.open();
            await log.opened;
            ctx.logger.info('working');
            await end.opened;
          },
        },
      },
    );
    // The clock moves only when the test moves it: a commit waiting for a timer comes only then.
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    let ended = false;
    const run = h.execute('install').finally(() => {
      ended = true;
    });
    const turns = async (until: () => boolean) => {
      for (let turn = 0; turn < 100_000 && !until(); turn++) await new Promise(setImmediate);
    };
    await running.opened;
    // What the operation's start left to commit goes out and is stored; then a window passes.
    t.mock.timers.tick(COMMIT_WINDOW_MS);
    await turns(() => h.events.some((e) => e.type === 'task_started'));
    t.mock.timers.tick(COMMIT_WINDOW_MS);
    log.open();
    await turns(() => h.events.some((e) => e.type === 'log'));
    assert.ok(
      h.events.some((e) => e.type === 'log' && e.message === 'working'),
      'the log line was stored without the clock moving',
    );
    end.open();
    // The operation's success, which nothing waits for, may wait for the window: the clock moves on.
    for (let turn = 0; turn < 10_000 && !ended; turn++) {
      t.mock.timers.tick(COMMIT_WINDOW_MS);
      await new Promise(setImmediate);
    }
    assert.equal((await run).status, 'terminated');
  });
});

describe('one execution at a time', () => {
  test('a second execution on a busy deployment is refused with a clear message', async () => {
    const h = await harness(`${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.op}}
`);
    const dispatcher = new InProcessDispatcher({});
    await startExecution({ store: h.store, dispatcher, deploymentId: 'dep', workflow: 'install' });
    await assert.rejects(
      startExecution({ store: h.store, dispatcher, deploymentId: 'dep', workflow: 'uninstall' }),
      (error: unknown) =>
        error instanceof ActiveExecutionError &&
        /already has a running execution .* \(install\)/.test(error.message),
    );
  });
});

describe('scale', () => {
  const bp = `${HEAD}
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    capabilities: {scalable: {properties: {default_instances: 2, max_instances: 4}}}${LIFECYCLE}
  app:
    type: cloudify.nodes.ApplicationServer${LIFECYCLE}
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
      - type: cloudify.relationships.connected_to
        target: db
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle: {establish: p.op, unlink: p.op}
  db:
    type: cloudify.nodes.DBMS${LIFECYCLE}
  monitor:
    type: cloudify.nodes.Root${LIFECYCLE}
    relationships:
      - type: cloudify.relationships.connected_to
        target: app
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle: {establish: p.op, unlink: p.op}
`;

  test('scale out adds instances on every host, installs them and connects existing sources to them', async () => {
    const h = await harness(bp, { operations: { 'p.op': noop } });
    await h.execute('install');
    h.calls.length = 0;
    const execution = await h.execute('scale', { scalable_entity_name: 'app', delta: 1 });
    assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
    const instances = await h.store.listInstances('dep');
    const apps = instances.filter((i) => i.node === 'app');
    assert.equal(apps.length, 4, 'one more app on each of the two hosts');
    assert.ok(apps.every((a) => a.state === 'started'));
    const hosts = new Map<string, number>();
    for (const a of apps) hosts.set(a.containedIn!, (hosts.get(a.containedIn!) ?? 0) + 1);
    assert.deepEqual([...hosts.values()], [2, 2]);
    // Only the new apps were installed; they connected to the db; the monitor connected to them.
    assert.deepEqual(h.calls.filter((c) => c.startsWith('app.create')).length, 2);
    assert.equal(h.calls.filter((c) => c === 'app.establish[app->db]').length, 2);
    assert.equal(h.calls.filter((c) => c === 'monitor.establish[monitor->app]').length, 2);
    assert.ok(!h.calls.includes('host.create') && !h.calls.includes('db.create'));
    const [monitor] = instances.filter((i) => i.node === 'monitor');
    assert.equal((monitor!.relationships as unknown[]).length, 4);
  });

  test('scale_compute scales the host with what it contains; scale in uninstalls and removes', async () => {
    const h = await harness(bp, { operations: { 'p.op': noop } });
    await h.execute('install');
    const out = await h.execute('scale', { scalable_entity_name: 'app', delta: 1, scale_compute: true });
    assert.equal(out.status, 'terminated', JSON.stringify(out.error));
    let instances = await h.store.listInstances('dep');
    assert.equal(instances.filter((i) => i.node === 'host').length, 3);
    assert.equal(instances.filter((i) => i.node === 'app').length, 3);
    h.calls.length = 0;
    const back = await h.execute('scale', { scalable_entity_name: 'host', delta: -1 });
    assert.equal(back.status, 'terminated', JSON.stringify(back.error));
    instances = await h.store.listInstances('dep');
    assert.equal(instances.filter((i) => i.node === 'host').length, 2);
    assert.equal(instances.filter((i) => i.node === 'app').length, 2);
    // The monitor unlinked from the app that went away, before that app stopped.
    const unlink = h.calls.indexOf('monitor.unlink[monitor->app]');
    assert.ok(unlink >= 0 && unlink < h.calls.indexOf('app.stop'), h.calls.join(', '));
    assert.ok(h.calls.indexOf('app.delete') < h.calls.indexOf('host.stop'));
    const [monitor] = instances.filter((i) => i.node === 'monitor');
    const targets = new Set(instances.map((i) => i.id));
    assert.ok((monitor!.relationships as { targetId: string }[]).every((r) => targets.has(r.targetId)));
  });

  test('scaling past max_instances or below min_instances is refused before anything runs', async () => {
    const h = await harness(bp, { operations: { 'p.op': noop } });
    await h.execute('install');
    await assert.rejects(
      h.execute('scale', { scalable_entity_name: 'host', delta: 3 }),
      /more than max_instances 4/,
    );
    await assert.rejects(
      h.execute('scale', { scalable_entity_name: 'host', delta: -3 }),
      /fewer than min_instances 0/,
    );
    await assert.rejects(
      h.execute('scale', { scalable_entity_name: 'nope', delta: 1 }),
      /neither a node nor a scaling group/,
    );
    assert.equal((await h.store.listInstances('dep')).length, 2 + 2 + 1 + 1);
  });

  test("a blueprint's workflow mapped to one of Cloudify's under its own name runs it, with its parameters", async () => {
    // As cloudify-manager's deployment-update tests declare them: the deprecated scale takes node_id.
    const h = await harness(
      `${bp}
workflows:
  grow:
    mapping: default_workflows.cloudify.plugins.workflows.scale
    parameters:
      node_id: {default: ''}
      delta: {default: 1}
      scale_compute: {default: true}
  shrink:
    mapping: default_workflows.cloudify.plugins.workflows.scale_entity
    parameters:
      scalable_entity_name: {default: host}
      delta: {default: -1}
  setup: default_workflows.cloudify.plugins.workflows.install
`,
      { operations: { 'p.op': noop } },
    );
    const setup = await h.execute('setup');
    assert.equal(setup.status, 'terminated', JSON.stringify(setup.error));
    assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'started'));
    const grown = await h.execute('grow', { node_id: 'app' });
    assert.equal(grown.status, 'terminated', JSON.stringify(grown.error));
    const count = async (node: string) =>
      (await h.store.listInstances('dep')).filter((i) => i.node === node).length;
    // scale_compute (the blueprint's default): one more host with its app.
    assert.deepEqual([await count('host'), await count('app')], [3, 3]);
    const shrunk = await h.execute('shrink');
    assert.equal(shrunk.status, 'terminated', JSON.stringify(shrunk.error));
    // The instances the scale-in took down are gone once it has succeeded.
    assert.deepEqual([await count('host'), await count('app')], [2, 2]);
    await assert.rejects(
      h.execute('grow', { scalable_entity_name: 'app' }),
      /workflow 'grow' has no parameter 'scalable_entity_name'/,
    );
  });
});

describe('interrupts (Ctrl-C)', () => {
  const blueprint = `${HEAD}
node_templates:
  slow:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.slow, start: p.op}}
  after:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.op}}
    relationships: [{type: cloudify.relationships.depends_on, target: slow}]
`;

  /** An install whose slow.create is running (until released, or aborted). */
  async function running(resumable: string[] = []) {
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const h = await harness(blueprint, {
      resumable,
      operations: {
        'p.slow': (ctx) =>
          new Promise<void>((resolve, reject) => {
            entered();
            void gate.then(resolve);
            ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
          }),
        'p.op': noop,
      },
    });
    const execution = await startExecution({
      store: h.store,
      dispatcher: new InProcessDispatcher({}),
      deploymentId: 'dep',
      workflow: 'install',
    });
    const interrupt = new AbortController();
    const interruptNow = new AbortController();
    const done = h.executor.run(execution.id, {
      interrupt: interrupt.signal,
      interruptNow: interruptNow.signal,
    });
    await inside;
    return { h, done, interrupt, interruptNow, release };
  }

  const slowCreate = async (h: Awaited<ReturnType<typeof running>>['h'], executionId: string) =>
    (await h.store.listTasks(executionId)).find(
      (t) => t.node === 'slow' && t.operation?.endsWith('.create'),
    )!;

  test('the first lets the running operation finish, starts nothing new and ends the execution interrupted', async () => {
    const r = await running();
    r.interrupt.abort();
    r.release();
    const result = await r.done;
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.error, {
      message: 'interrupted by the user',
      byUser: true,
      tasks: [],
      notResumable: [],
    });
    assert.deepEqual(r.h.calls, ['slow.create']);
    assert.equal((await slowCreate(r.h, result.id)).state, 'succeeded');
    assert.equal((await r.h.store.getExecution(result.id))?.status, 'interrupted');
    const resumed = await r.h.executor.run(result.id);
    assert.equal(resumed.status, 'terminated');
    assert.deepEqual(r.h.calls, ['slow.create', 'slow.start', 'after.create'], 'nothing finished runs again');
  });

  test('the second aborts the running operation and leaves it in flight: resumable ones run again on resume', async () => {
    for (const resumable of [[], ['p.slow']]) {
      const r = await running(resumable);
      r.interrupt.abort();
      r.interruptNow.abort();
      const result = await r.done;
      const slow = await slowCreate(r.h, result.id);
      assert.equal(result.status, 'interrupted');
      assert.equal(slow.state, 'started', 'left in flight');
      const error = result.error as unknown as { message: string; tasks: number[]; notResumable: number[] };
      assert.deepEqual(error.tasks, [slow.id]);
      assert.deepEqual(error.notResumable, resumable.length > 0 ? [] : [slow.id]);
      assert.match(
        error.message,
        resumable.length > 0
          ? /resumable \(runs again on resume\): slow_\w+ create$/
          : /not resumable: slow_\w+ create .*--retry-in-flight/,
      );
      r.release();
      const resumed = await r.h.executor.run(result.id);
      assert.equal(
        resumed.status,
        resumable.length > 0 ? 'terminated' : 'interrupted',
        JSON.stringify(resumed.error),
      );
      if (resumable.length === 0)
        assert.equal((await r.h.executor.run(result.id, { retryInFlight: true })).status, 'terminated');
      assert.deepEqual(r.h.calls, ['slow.create', 'slow.create', 'slow.start', 'after.create']);
    }
  });
});

describe('a store that stops taking changes (a full disk, a database gone)', () => {
  const blueprint = `${HEAD}
node_templates:
  slow:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: p.slow}}
  flaky:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {create: {implementation: p.flaky, max_retries: 3, retry_interval: 3600}}}
`;

  /** A real store whose batches fail, as SQLite's do on a full disk, while `failing` is set. */
  async function faultyStore() {
    const inner = await openStore(join(mkdtempSync(join(tmpdir(), 'weft-fault-')), 'weft.db'));
    const control = { failing: false, onBatch: (_batch: Batch) => {} };
    const store = new Proxy(inner, {
      get(target, key) {
        if (key === 'applyBatch')
          return async (batch: Batch) => {
            if (control.failing) throw new Error('database or disk is full');
            await target.applyBatch(batch);
            control.onBatch(batch);
          };
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    return { store, control };
  }

  test('the run stops at once as interrupted: running operations aborted, retry timers dropped, nothing more written', {
    timeout: 30_000,
  }, async () => {
    const { store, control } = await faultyStore();
    let flakyRuns = 0;
    let aborted = false;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const h = await harness(blueprint, {
      store,
      operations: {
        'p.slow': (ctx) => {
          entered();
          return new Promise<void>((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              aborted = true;
              reject(new Error('aborted'));
            });
            // A log line after the store failed: its commit is refused.
            void storeFails.then(() => ctx.logger.info('still working'));
          });
        },
        'p.flaky': () => {
          flakyRuns += 1;
          throw new Error('not yet');
        },
      },
    });
    let fail!: () => void;
    const storeFails = new Promise<void>((resolve) => {
      fail = resolve;
    });
    // The flaky task's retry is stored (its timer armed for an hour) before the store fails.
    const rescheduled = new Promise<void>((resolve) => {
      control.onBatch = (batch) => {
        if (batch.tasks?.some((t) => t.state === 'rescheduled')) resolve();
      };
    });
    const execution = await startExecution({
      store,
      dispatcher: new InProcessDispatcher({}),
      deploymentId: 'dep',
      workflow: 'install',
    });
    const done = h.executor.run(execution.id);
    await Promise.all([inside, rescheduled]);
    control.failing = true;
    fail();
    const result = await done;
    assert.equal(result.status, 'interrupted');
    assert.ok(aborted, 'the running operation was aborted');
    const error = result.error as unknown as { message: string; byUser: boolean; notResumable: number[] };
    assert.equal(error.byUser, false);
    assert.match(
      error.message,
      /^the state store failed: database or disk is full; stopped while running, not resumable: slow_\w+ create/,
    );
    assert.equal(error.notResumable.length, 1);
    // Nothing was written after the failure; what was stored before is as it was: the execution
    // and the aborted operation as a crash leaves them (a resume's case), the retry still due.
    assert.equal((await store.getExecution(execution.id))?.status, 'started');
    const states = Object.fromEntries(
      (await store.listTasks(execution.id))
        .filter((t) => t.kind === 'operation')
        .map((t) => [t.node, t.state]),
    );
    assert.deepEqual(states, { slow: 'started', flaky: 'rescheduled' });
    assert.equal(flakyRuns, 1);
  });
});
