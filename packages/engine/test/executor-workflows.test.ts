/**
 * The executor and the workflows beyond install/uninstall: cancel (and resume after it), custom
 * workflows, execute_operation, heal, reinstall, start/stop/restart, secrets masking, per-operation
 * timeouts and the concurrency limit. Operations run in-process and record what ran.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NonRecoverableError } from '@weft/sdk';
import { startExecution, startExecutionWithTasks } from '../src/deployment/deployments.js';
import { evaluateOutputs } from '../src/deployment/outputs.js';
import type { Value } from '../src/dsl/yaml-source.js';
import type { WorkflowFunction } from '../src/executor/dispatcher.js';
import { MASK } from '../src/executor/masker.js';
import { InProcessDispatcher, type InProcessOperation } from '../src/runtime/in-process.js';
import { openStore } from '../src/store/index.js';
import type { ExecutionStatus, Json, Store } from '../src/store/types.js';
import { WorkflowError } from '../src/workflows/builtin.js';
import { type Harness, type HarnessOptions, harness, noop } from './executor-helpers.js';

const HEAD = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, install: false}
`;

/** Generous per-test limit: a broken barrier or gate fails the test instead of hanging the run. */
const LIMIT = { timeout: 20_000 };

function before(calls: string[], a: string, b: string): void {
  const ia = calls.indexOf(a);
  const ib = calls.indexOf(b);
  assert.ok(ia >= 0, `${a} ran (calls: ${calls.join(', ')})`);
  assert.ok(ib >= 0, `${b} ran (calls: ${calls.join(', ')})`);
  assert.ok(ia < ib, `${a} before ${b} (calls: ${calls.join(', ')})`);
}

function count(calls: string[], call: string): number {
  return calls.filter((c) => c === call).length;
}

/** A promise with its resolve function. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once `n` callers have arrived: proves they ran at the same time. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  const all = deferred();
  return async () => {
    arrived++;
    if (arrived >= n) all.resolve();
    await all.promise;
  };
}

/**
 * Holds the event loop open until `promise` settles. The executor's cancel poll does not (it is
 * unref'd), so a test that waits on an operation blocked on a plain promise needs it.
 */
async function keepAlive<T>(promise: Promise<T>): Promise<T> {
  const handle = setInterval(() => {}, 60_000);
  try {
    return await promise;
  } finally {
    clearInterval(handle);
  }
}

function abortOf(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

async function idOf(h: Harness, node: string, index = 0): Promise<string> {
  const instances = (await h.store.listInstances('dep')).filter((i) => i.node === node);
  const instance = instances.sort((a, b) => a.index - b.index)[index];
  assert.ok(instance, `node ${node} has an instance ${index}`);
  return instance.id;
}

/**
 * A store that reports which execution statuses the executor's cancel poll read, so a test can
 * wait until the executor has seen a cancel instead of sleeping.
 */
function watchedStore(inner: Store): {
  store: Store;
  seen(status: ExecutionStatus, times: number): Promise<void>;
} {
  const counts = new Map<ExecutionStatus, number>();
  const waiters: { status: ExecutionStatus; times: number; resolve: () => void }[] = [];
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'getExecution') {
        return async (id: string) => {
          const execution = await target.getExecution(id);
          if (execution) {
            counts.set(execution.status, (counts.get(execution.status) ?? 0) + 1);
            for (const w of [...waiters])
              if ((counts.get(w.status) ?? 0) >= w.times) {
                waiters.splice(waiters.indexOf(w), 1);
                w.resolve();
              }
          }
          return execution;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    store,
    seen(status, times) {
      if ((counts.get(status) ?? 0) >= times) return Promise.resolve();
      const d = deferred();
      waiters.push({ status, times, resolve: d.resolve });
      return d.promise;
    },
  };
}

async function watchedHarness(
  blueprint: string,
  options: HarnessOptions,
): Promise<Harness & { seen(status: ExecutionStatus, times: number): Promise<void> }> {
  const inner = await openStore(join(mkdtempSync(join(tmpdir(), 'weft-cancel-')), 'weft.db'));
  const watched = watchedStore(inner);
  const h = await harness(blueprint, { ...options, store: watched.store });
  return Object.assign(h, { seen: watched.seen });
}

// ---------------------------------------------------------------------------------------------
describe('cancel', () => {
  const blueprint = `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.slow, configure: p.op}
  b:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.op}
    relationships: [{type: cloudify.relationships.depends_on, target: a}]
`;

  test(
    'cancelling: the running operation finishes, nothing new starts, the execution ends cancelled; resume finishes it',
    LIMIT,
    async () => {
      const started = deferred<string>();
      const release = deferred();
      let finished = false;
      const h = await watchedHarness(blueprint, {
        operations: {
          'p.slow': async (ctx) => {
            if (ctx.operation.retryNumber > 0 || finished) return;
            started.resolve(ctx.execution.id);
            await release.promise;
            ctx.instance.runtimeProperties.created = true;
            finished = true;
          },
          'p.op': noop,
        },
      });
      const running = h.execute('install');
      const executionId = await started.promise;
      await h.store.applyBatch({ execution: { id: executionId, status: 'cancelling' } });
      // The executor polls for cancels: wait until it has read the new status twice (the first
      // read was surely handled before the second one was made).
      await keepAlive(h.seen('cancelling', 2));
      release.resolve();
      const result = await running;
      assert.equal(result.status, 'cancelled');
      assert.ok(finished, 'the running operation was let finish');
      assert.deepEqual(h.calls, ['a.create'], 'no new operation started after the cancel');
      assert.equal((await h.store.getExecution(executionId))?.status, 'cancelled');
      const tasks = await h.store.listTasks(executionId);
      const create = tasks.find((t) => t.instanceId.startsWith('a_') && t.operation?.endsWith('.create'));
      assert.equal(create?.state, 'succeeded', 'the operation that was running is stored as succeeded');
      const [a] = (await h.store.listInstances('dep')).filter((i) => i.node === 'a');
      assert.deepEqual(a!.runtimeProperties, { created: true }, 'its runtime properties were saved');
      assert.ok(h.events.some((e) => e.type === 'workflow_cancelled'));
      const startedOps = h.events.filter((e) => e.type === 'task_started').map((e) => e.operation);
      assert.deepEqual(startedOps, ['cloudify.interfaces.lifecycle.create']);

      // Resume the cancelled execution: the rest runs, what succeeded does not run again.
      const resumed = await h.executor.run(executionId);
      assert.equal(resumed.status, 'terminated');
      assert.equal((await h.store.getExecution(executionId))?.status, 'terminated');
      assert.equal(count(h.calls, 'a.create'), 1, 'a.create did not run again');
      before(h.calls, 'a.configure', 'b.create');
      assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'started'));
    },
  );

  test(
    'force_cancelling: the running operation is aborted (its signal fires) and the execution ends cancelled; resume finishes it',
    LIMIT,
    async () => {
      const started = deferred<string>();
      let abortReason: unknown;
      const h = await harness(blueprint, {
        operations: {
          'p.slow': async (ctx) => {
            if (abortReason !== undefined) return; // the run after resume: quick
            started.resolve(ctx.execution.id);
            abortReason = await abortOf(ctx.signal);
            throw new Error('aborted');
          },
          'p.op': noop,
        },
      });
      const running = h.execute('install');
      const executionId = await started.promise;
      await h.store.applyBatch({ execution: { id: executionId, status: 'force_cancelling' } });
      const result = await keepAlive(running);
      assert.equal(result.status, 'cancelled');
      assert.ok(abortReason !== undefined, 'the operation saw its AbortSignal fire');
      assert.deepEqual(h.calls, ['a.create']);
      assert.equal((await h.store.getExecution(executionId))?.status, 'cancelled');
      const tasks = await h.store.listTasks(executionId);
      const create = tasks.find((t) => t.instanceId.startsWith('a_') && t.operation?.endsWith('.create'));
      assert.equal(create?.state, 'cancelled', 'the aborted task is stored as cancelled, not failed');
      assert.ok(h.events.some((e) => e.type === 'task_cancelled'));
      assert.ok(!h.events.some((e) => e.type === 'task_rescheduled'), 'an aborted task is not retried');

      const resumed = await h.executor.run(executionId);
      assert.equal(resumed.status, 'terminated');
      assert.equal(count(h.calls, 'a.create'), 2, 'the aborted operation ran again on resume');
      before(h.calls, 'a.configure', 'b.create');
      assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'started'));
    },
  );

  test('force_cancelling ends the execution even when the running operation ignores its signal; what it saves afterwards is refused', {
    ...LIMIT,
  }, async () => {
    const started = deferred<string>();
    const release = deferred();
    const savedLate = deferred<unknown>();
    const h = await harness(blueprint, {
      operations: {
        'p.slow': async (ctx) => {
          started.resolve(ctx.execution.id);
          await release.promise; // a hung operation: it never looks at ctx.signal
          // Woken after the execution ended, it saves what it made, as a late create would: the
          // next execution (a delete taking the stack over) may already be working on it.
          ctx.instance.runtimeProperties.late = true;
          await ctx.instance.update().then(
            () => savedLate.resolve('stored'),
            (error: Error) => savedLate.resolve(error),
          );
        },
        'p.op': noop,
      },
    });
    const running = h.execute('install');
    const executionId = await started.promise;
    await h.store.applyBatch({ execution: { id: executionId, status: 'force_cancelling' } });
    // Bounded wait: the execution must end on its own, well within 2 s (the poll is 20 ms).
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      running.then((e) => e.status),
      new Promise<'still running'>((resolve) => {
        timer = setTimeout(() => resolve('still running'), 2000);
      }),
    ]);
    clearTimeout(timer);
    const instanceOfA = async () => (await h.store.listInstances('dep')).find((i) => i.node === 'a')!;
    const ended = await instanceOfA();
    release.resolve(); // let the hung operation go, so nothing is left behind
    await keepAlive(running);
    assert.equal(outcome, 'cancelled');
    assert.deepEqual(h.calls, ['a.create']);
    const late = await savedLate.promise;
    assert.ok(late instanceof Error, 'the late save is refused');
    assert.match(late.message, /create on a_\w+ was cancelled or timed out: what it saves now is not stored/);
    const a = await instanceOfA();
    assert.equal(a.runtimeProperties.late, undefined, 'nothing of it reached the store');
    assert.equal(a.version, ended.version, 'the instance was not written');
  });

  test(
    'cancelling while a task waits to be retried ends the execution without running it again',
    LIMIT,
    async () => {
      const failedOnce = deferred<string>();
      const h = await watchedHarness(blueprint, {
        operations: {
          'p.slow': (ctx) => {
            if (ctx.operation.retryNumber === 0) {
              failedOnce.resolve(ctx.execution.id);
              ctx.operation.retry('not yet', 3600);
            }
          },
          'p.op': noop,
        },
      });
      const running = h.execute('install');
      const executionId = await failedOnce.promise;
      await h.store.applyBatch({ execution: { id: executionId, status: 'cancelling' } });
      const result = await keepAlive(running);
      assert.equal(result.status, 'cancelled');
      assert.deepEqual(h.calls, ['a.create']);
    },
  );
});

// ---------------------------------------------------------------------------------------------
describe('custom workflows', () => {
  const blueprint = `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      steps:
        one: {implementation: p.step, inputs: {tag: from-blueprint}}
        check: p.check
  b:
    type: cloudify.nodes.Root
    interfaces: {steps: {two: p.step}}
  c:
    type: cloudify.nodes.Root
    interfaces: {steps: {two: p.step}}
workflows:
  ordered:
    mapping: p.ordered
    parameters:
      label:
        description: no default, so it is required
      count:
        type: integer
        default: 2
      options:
        default: {mode: fast}
  unmapped: p.nothing
  broken: p.broken
  throws: p.throws
`;

  function setup() {
    const log: string[] = [];
    const seen: { parameters?: Record<string, Json>; inputs?: Record<string, Json>; stateAtCheck?: string } =
      {};
    const together = barrier(2);
    const step: InProcessOperation = async (ctx, inputs) => {
      const name = `${ctx.node.name}.${ctx.operation.name.split('.').pop()}`;
      log.push(`start ${name}`);
      if (ctx.node.name === 'a') seen.inputs = inputs;
      if (name.endsWith('.two')) await together();
      log.push(`end ${name}`);
    };
    const ordered: WorkflowFunction = (ctx) => {
      seen.parameters = ctx.parameters;
      const a = ctx.node('a')!.instances[0]!;
      const b = ctx.node('b')!.instances[0]!;
      const c = ctx.instance(ctx.node('c')!.instances[0]!.id)!;
      ctx.sequence(
        a.executeOperation('steps.one', { kwargs: { label: ctx.parameters.label ?? null } }),
        ctx.parallel(b.executeOperation('two'), c.executeOperation('steps.two')),
        a.setState('configured'),
        a.executeOperation('check'),
      );
    };
    const options: HarnessOptions = {
      operations: {
        'p.step': step,
        'p.check': (ctx) => {
          seen.stateAtCheck = ctx.instance.state;
          log.push('check');
        },
      },
      workflows: {
        'p.ordered': ordered,
        'p.broken': (ctx) => {
          ctx.node('a')!.instances[0]!.executeOperation('steps.missing');
        },
        'p.throws': () => {
          throw new Error('construction failed');
        },
      },
    };
    return { log, seen, options };
  }

  test(
    'sequence and parallel steps run in order; parameters (with defaults) reach the function; setState changes the state',
    LIMIT,
    async () => {
      const { log, seen, options } = setup();
      const h = await harness(blueprint, options);
      const execution = await h.execute('ordered', { label: 'blue', count: 5 });
      assert.equal(execution.status, 'terminated');
      // Given parameters, and the blueprint's defaults for the others.
      assert.deepEqual(seen.parameters, { label: 'blue', count: 5, options: { mode: 'fast' } });
      // kwargs reach the operation over its own inputs.
      assert.deepEqual(seen.inputs, { tag: 'from-blueprint', label: 'blue' });
      // one, then b.two and c.two side by side (the barrier needs both), then the state, then check.
      assert.deepEqual(log.slice(0, 2), ['start a.one', 'end a.one']);
      assert.deepEqual(log.slice(2, 4).sort(), ['start b.two', 'start c.two']);
      assert.deepEqual(log.slice(4, 6).sort(), ['end b.two', 'end c.two']);
      assert.deepEqual(log.slice(6), ['check']);
      assert.equal(seen.stateAtCheck, 'configured', 'setState ran before the step after it');
      const instances = await h.store.listInstances('dep');
      assert.equal(instances.find((i) => i.node === 'a')?.state, 'configured');
      assert.equal(instances.find((i) => i.node === 'b')?.state, 'uninitialized');
    },
  );

  test('a parameter left out takes the default from the blueprint', LIMIT, async () => {
    const { seen, options } = setup();
    const h = await harness(blueprint, options);
    const execution = await h.execute('ordered', { label: 'x' });
    assert.equal(execution.status, 'terminated');
    assert.equal(seen.parameters?.count, 2);
    assert.deepEqual(seen.parameters?.options, { mode: 'fast' });
  });

  test('a missing required parameter, an undeclared one or one of the wrong type is refused by startExecution', async () => {
    const { options } = setup();
    const h = await harness(blueprint, options);
    const dispatcher = new InProcessDispatcher({}, { workflows: options.workflows ?? {} });
    const refused = (parameters: Record<string, Json>, message: RegExp) =>
      assert.rejects(
        startExecution({ store: h.store, dispatcher, deploymentId: 'dep', workflow: 'ordered', parameters }),
        (error: unknown) => error instanceof WorkflowError && message.test(error.message),
      );
    await refused({}, /workflow 'ordered' needs the parameter 'label'/);
    await refused({ label: 'x', colour: 'red' }, /has no parameter 'colour'/);
    await refused(
      { label: 'x', count: 'many' },
      /^workflow 'ordered' parameter 'count' must be an integer, got "many"$/,
    );
    // Nothing was stored: the deployment is free for the next execution.
    assert.deepEqual(await h.store.listExecutions('dep'), []);
  });

  test('a workflow no plugin provides, an unknown workflow and an unknown operation are clear errors', async () => {
    const { options } = setup();
    const h = await harness(blueprint, options);
    const dispatcher = new InProcessDispatcher({}, { workflows: options.workflows ?? {} });
    const start = (workflow: string) =>
      startExecution({ store: h.store, dispatcher, deploymentId: 'dep', workflow });
    await assert.rejects(
      start('unmapped'),
      /workflow 'unmapped' maps to 'p.nothing', which no installed plugin provides/,
    );
    await assert.rejects(start('nosuch'), /unknown workflow 'nosuch'.*ordered/);
    await assert.rejects(start('broken'), /node 'a' has no operation 'steps.missing'/);
    await assert.rejects(
      start('throws'),
      /^WorkflowError: workflow 'throws' failed while building its tasks: construction failed$/,
    );
    assert.deepEqual(await h.store.listExecutions('dep'), []);
  });
});

// ---------------------------------------------------------------------------------------------
describe('execute_operation', () => {
  const blueprint = `${HEAD}
node_types:
  Base:
    derived_from: cloudify.nodes.Root
    interfaces:
      maint:
        ping:
          implementation: p.ping
          inputs:
            fixed: {default: from-type}
  Special:
    derived_from: Base
node_templates:
  db:
    type: Base
    capabilities: {scalable: {properties: {default_instances: 2}}}
  web:
    type: Special
    relationships: [{type: cloudify.relationships.connected_to, target: db}]
`;

  interface Ping {
    node: string;
    instance: string;
    operation: string;
    inputs: Record<string, Json>;
  }

  async function setup(ping?: InProcessOperation) {
    const pings: Ping[] = [];
    const h = await harness(blueprint, {
      operations: {
        'p.ping': async (ctx, inputs) => {
          pings.push({
            node: ctx.node.name,
            instance: ctx.instance.id,
            operation: ctx.operation.name,
            inputs,
          });
          await ping?.(ctx, inputs);
        },
      },
    });
    return { h, pings };
  }

  const run = (h: Harness, params: Record<string, Json>) => h.execute('execute_operation', params);

  test(
    'the tasks a new execution hands back are those stored, operation_kwargs as JSON holds them',
    LIMIT,
    async () => {
      const { h } = await setup();
      const { execution, tasks } = await startExecutionWithTasks({
        store: h.store,
        dispatcher: new InProcessDispatcher({}),
        deploymentId: 'dep',
        workflow: 'execute_operation',
        parameters: { operation: 'maint.ping', operation_kwargs: { text: 'a\u0000b', zero: -0 } },
      });
      assert.deepEqual(tasks, await h.store.listTasks(execution.id));
      const inputs = tasks.filter((t) => t.kind === 'operation').map((t) => t.inputs);
      assert.deepEqual(
        inputs,
        [0, 1, 2].map(() => ({ text: 'a\uFFFDb', zero: 0 })),
      );
    },
  );

  test('by full name and by short name, on every instance, with the operation inputs', LIMIT, async () => {
    const { h, pings } = await setup();
    assert.equal((await run(h, { operation: 'maint.ping' })).status, 'terminated');
    assert.equal(pings.length, 3);
    assert.deepEqual(pings.map((p) => p.node).sort(), ['db', 'db', 'web']);
    assert.ok(pings.every((p) => p.operation === 'maint.ping'));
    assert.ok(pings.every((p) => p.inputs.fixed === 'from-type'));
    pings.length = 0;
    assert.equal((await run(h, { operation: 'ping' })).status, 'terminated');
    assert.equal(pings.length, 3);
    assert.ok(
      pings.every((p) => p.operation === 'maint.ping'),
      'the short name runs the full operation',
    );
    // The instances' lifecycle states are untouched.
    assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'uninitialized'));
  });

  test('operation_kwargs reach the operation as inputs', LIMIT, async () => {
    const { h, pings } = await setup();
    const params = { operation: 'maint.ping', operation_kwargs: { extra: 5, nested: { a: [1, 'two'] } } };
    assert.equal((await run(h, params)).status, 'terminated');
    for (const p of pings)
      assert.deepEqual(p.inputs, { fixed: 'from-type', extra: 5, nested: { a: [1, 'two'] } });
  });

  test(
    'a kwarg that overrides an operation input is refused unless allow_kwargs_override=true',
    LIMIT,
    async () => {
      const { h, pings } = await setup();
      await assert.rejects(
        run(h, { operation: 'maint.ping', operation_kwargs: { fixed: 'mine' } }),
        (error: unknown) =>
          error instanceof WorkflowError &&
          /'fixed'/.test(error.message) &&
          /allow_kwargs_override/.test(error.message),
      );
      assert.equal(pings.length, 0);
      assert.deepEqual(await h.store.listExecutions('dep'), [], 'the refused execution was not stored');
      const ok = await run(h, {
        operation: 'maint.ping',
        operation_kwargs: { fixed: 'mine' },
        allow_kwargs_override: true,
      });
      assert.equal(ok.status, 'terminated');
      assert.equal(pings.length, 3);
      assert.ok(pings.every((p) => p.inputs.fixed === 'mine'));
    },
  );

  test(
    'node_ids, node_instance_ids and type_names select the instances (together: all must match)',
    LIMIT,
    async () => {
      const { h, pings } = await setup();
      const db0 = await idOf(h, 'db', 0);
      const db1 = await idOf(h, 'db', 1);
      const web = await idOf(h, 'web');
      const ran = async (params: Record<string, Json>) => {
        pings.length = 0;
        assert.equal((await run(h, { operation: 'maint.ping', ...params })).status, 'terminated');
        return pings.map((p) => p.instance).sort();
      };
      assert.deepEqual(await ran({ node_ids: ['web'] }), [web]);
      assert.deepEqual(await ran({ node_ids: ['db'] }), [db0, db1].sort());
      assert.deepEqual(await ran({ node_instance_ids: [db1] }), [db1]);
      assert.deepEqual(await ran({ node_instance_ids: [db0, web] }), [db0, web].sort());
      assert.deepEqual(await ran({ type_names: ['Special'] }), [web]);
      assert.deepEqual(
        await ran({ type_names: ['Base'] }),
        [db0, db1, web].sort(),
        'a derived type matches its base',
      );
      assert.deepEqual(await ran({ node_ids: ['db'], node_instance_ids: [db0, web] }), [db0]);
      assert.deepEqual(await ran({ node_ids: ['db'], type_names: ['Special'] }), []);
    },
  );

  test('run_by_dependency_order runs targets before their sources', LIMIT, async () => {
    const order: string[] = [];
    const { h } = await setup(async (ctx) => {
      order.push(`start ${ctx.node.name}`);
      await new Promise((r) => setImmediate(r));
      order.push(`end ${ctx.node.name}`);
    });
    assert.equal(
      (await run(h, { operation: 'maint.ping', run_by_dependency_order: true })).status,
      'terminated',
    );
    const webStart = order.indexOf('start web');
    assert.equal(order.filter((o, i) => o === 'end db' && i < webStart).length, 2, order.join(', '));
  });

  test('without run_by_dependency_order every instance runs at once', LIMIT, async () => {
    const all = barrier(3);
    const { h, pings } = await setup(() => all());
    assert.equal((await run(h, { operation: 'maint.ping' })).status, 'terminated');
    assert.equal(pings.length, 3);
  });

  test('an unknown operation, node or instance, or no operation at all, is a clear error', async () => {
    const { h, pings } = await setup();
    await assert.rejects(
      run(h, { operation: 'maint.nope' }),
      /node '(db|web)' has no operation 'maint.nope'/,
    );
    await assert.rejects(
      run(h, { operation: 'ping', node_ids: ['ghost'] }),
      /node_ids names unknown node 'ghost'/,
    );
    await assert.rejects(
      run(h, { operation: 'ping', node_instance_ids: ['db_zzzzzz'] }),
      /node_instance_ids names unknown instance 'db_zzzzzz'/,
    );
    await assert.rejects(run(h, {}), /execute_operation needs the 'operation' parameter/);
    assert.equal(pings.length, 0);
    assert.deepEqual(await h.store.listExecutions('dep'), []);
  });

  test('a short name that several interfaces share is refused with an error naming the candidates', {}, async () => {
    const h = await harness(
      `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {start: p.op}
      cloudify.interfaces.monitoring: {start: p.op}
`,
      { operations: { 'p.op': noop } },
    );
    await assert.rejects(
      h.execute('execute_operation', { operation: 'start' }),
      (error: unknown) =>
        error instanceof WorkflowError &&
        error.message.includes('cloudify.interfaces.lifecycle.start') &&
        error.message.includes('cloudify.interfaces.monitoring.start'),
    );
    assert.deepEqual(h.calls, []);
  });
});

// ---------------------------------------------------------------------------------------------
describe('heal, reinstall, start, stop, restart', () => {
  const LIFECYCLE = `
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.op, configure: p.op, start: p.op, stop: p.op, delete: p.op}`;
  const blueprint = `${HEAD}
node_templates:
  vm:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}${LIFECYCLE}
  app:
    type: cloudify.nodes.ApplicationServer${LIFECYCLE}
    relationships:
      - {type: cloudify.relationships.contained_in, target: vm}
      - type: cloudify.relationships.connected_to
        target: other
        source_interfaces:
          cloudify.interfaces.relationship_lifecycle: {preconfigure: p.op, establish: p.op, unlink: p.op}
  other:
    type: cloudify.nodes.Root${LIFECYCLE}
`;

  /** `failing` holds `node.operation` calls that throw a NonRecoverableError. */
  async function installed() {
    const failing = new Set<string>();
    const h = await harness(blueprint, {
      operations: {
        'p.op': (ctx) => {
          const call = `${ctx.node.name}.${ctx.operation.name.split('.').pop()}`;
          if (failing.has(call)) throw new NonRecoverableError(`${call} broke`);
          ctx.instance.runtimeProperties[`${ctx.operation.name.split('.').pop()}d`] = true;
        },
      },
    });
    assert.equal((await h.execute('install')).status, 'terminated');
    h.calls.length = 0;
    h.events.length = 0;
    return { h, failing };
  }

  test(
    'heal reinstalls the instance and what it contains; failures of the uninstall half are ignored',
    LIMIT,
    async () => {
      const { h, failing } = await installed();
      failing.add('vm.stop');
      const vm = await idOf(h, 'vm');
      const execution = await h.execute('heal', { node_instance_id: vm, task_retries: 0 });
      assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
      const c = h.calls;
      // Teardown: the contained app first, then the vm (whose stop fails and is passed over).
      before(c, 'app.stop', 'app.delete');
      before(c, 'app.delete', 'vm.stop');
      before(c, 'vm.stop', 'vm.delete');
      // Then install again: the vm first, then the app in it.
      before(c, 'vm.delete', 'vm.create');
      before(c, 'vm.start', 'app.create');
      // The app is linked to `other` again (unlink, preconfigure, establish), though other is left alone.
      assert.equal(c.length, 2 * 2 + 2 * 3 + 3, c.join(', '));
      assert.ok(!c.some((call) => call.startsWith('other.')), 'instances outside the subtree are left alone');
      assert.ok(h.events.some((e) => e.type === 'task_failed' && /vm.stop broke/.test(e.message)));
      assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'started'));
    },
  );

  test('heal of a contained instance leaves its host alone', LIMIT, async () => {
    const { h } = await installed();
    const app = await idOf(h, 'app');
    assert.equal((await h.execute('heal', { node_instance_id: app })).status, 'terminated');
    assert.deepEqual(h.calls, [
      'app.stop',
      'app.unlink[app->other]',
      'app.delete',
      'app.create',
      'app.preconfigure[app->other]',
      'app.configure',
      'app.start',
      'app.establish[app->other]',
    ]);
  });

  test(
    'heal of a relationship target re-links the sources around it: unlink before, establish after',
    LIMIT,
    async () => {
      const { h } = await installed();
      const other = await idOf(h, 'other');
      assert.equal((await h.execute('heal', { node_instance_id: other })).status, 'terminated');
      assert.deepEqual(h.calls, [
        'app.unlink[app->other]',
        'other.stop',
        'other.delete',
        'other.create',
        'other.configure',
        'other.start',
        'app.establish[app->other]',
      ]);
      const app = (await h.store.listInstances('dep')).find((i) => i.node === 'app');
      assert.equal(app?.state, 'started', 'the related instance keeps its state');
    },
  );

  test('a failure in the install half of heal fails it', LIMIT, async () => {
    const { h, failing } = await installed();
    failing.add('app.create');
    const vm = await idOf(h, 'vm');
    const execution = await h.execute('heal', { node_instance_id: vm, task_retries: 0 });
    assert.equal(execution.status, 'failed');
    assert.match((execution.error as { message: string }).message, /app.create broke/);
  });

  test('heal without a known node_instance_id is a clear error', async () => {
    const { h } = await installed();
    await assert.rejects(h.execute('heal', {}), /heal needs node_instance_id/);
    await assert.rejects(h.execute('heal', { node_instance_id: 'vm_nothere' }), /'vm_nothere' is not one/);
  });

  test('reinstall uninstalls everything, then installs everything', LIMIT, async () => {
    const { h } = await installed();
    assert.equal((await h.execute('reinstall')).status, 'terminated');
    const c = h.calls;
    const firstCreate = c.findIndex((call) => call.endsWith('.create'));
    const lastDelete = c.map((call) => call.endsWith('.delete')).lastIndexOf(true);
    assert.ok(lastDelete >= 0 && lastDelete < firstCreate, c.join(', '));
    for (const node of ['vm', 'app', 'other'])
      for (const op of ['stop', 'delete', 'create', 'configure', 'start'])
        assert.equal(count(c, `${node}.${op}`), 1, `${node}.${op} once (calls: ${c.join(', ')})`);
    before(c, 'app.delete', 'vm.stop');
    before(c, 'vm.start', 'app.create');
    assert.ok((await h.store.listInstances('dep')).every((i) => i.state === 'started'));
  });

  test(
    'start runs start operations hosts first; stop runs stop operations contained ones first',
    LIMIT,
    async () => {
      const { h } = await installed();
      assert.equal((await h.execute('start')).status, 'terminated');
      assert.deepEqual([...h.calls].sort(), ['app.start', 'other.start', 'vm.start']);
      before(h.calls, 'vm.start', 'app.start');
      h.calls.length = 0;
      assert.equal((await h.execute('stop')).status, 'terminated');
      assert.deepEqual([...h.calls].sort(), ['app.stop', 'other.stop', 'vm.stop']);
      before(h.calls, 'app.stop', 'vm.stop');
    },
  );

  test('restart stops everything, then starts everything', LIMIT, async () => {
    const { h } = await installed();
    assert.equal((await h.execute('restart')).status, 'terminated');
    const c = h.calls;
    assert.equal(c.length, 6, c.join(', '));
    const lastStop = c.map((call) => call.endsWith('.stop')).lastIndexOf(true);
    const firstStart = c.findIndex((call) => call.endsWith('.start'));
    assert.ok(lastStop < firstStart, c.join(', '));
    before(c, 'app.stop', 'vm.stop');
    before(c, 'vm.start', 'app.start');
  });

  test("start and stop take Cloudify's node_ids / node_instance_ids / type_names filters", {
    ...LIMIT,
  }, async () => {
    const { h } = await installed();
    assert.equal((await h.execute('stop', { node_ids: ['other'] })).status, 'terminated');
    assert.deepEqual(h.calls, ['other.stop']);
    h.calls.length = 0;
    const app = await idOf(h, 'app');
    assert.equal((await h.execute('start', { node_instance_ids: [app] })).status, 'terminated');
    assert.deepEqual(h.calls, ['app.start']);
  });
});

// ---------------------------------------------------------------------------------------------
describe('secrets', () => {
  const PASSWORD = 'S3cr3t-Pa55word!';
  const USER = 'svc-admin-user';
  const TOKEN = 'tok-ABCDEF-123456';
  const secrets = new Map<string, Value>([
    ['db_password', PASSWORD],
    ['creds', { user: USER, token: TOKEN }],
  ]);
  const PLAIN = [PASSWORD, USER, TOKEN, JSON.stringify({ user: USER, token: TOKEN })];

  const blueprint = `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: p.create
          inputs:
            password: {get_secret: db_password}
            user: {get_secret: [creds, user]}
            whole: {get_secret: creds}
        configure:
          implementation: p.leak
          max_retries: 1
          retry_interval: 0
          inputs:
            password: {get_secret: db_password}
            token: {get_secret: [creds, token]}
outputs:
  pw: {value: {get_secret: db_password}}
  url: {value: {concat: ['postgres://admin:', {get_secret: db_password}, '@db:5432']}}
  copied: {value: {get_attribute: [a, copy]}}
  user: {value: {get_secret: [creds, user]}}
`;

  function assertNoSecret(what: string, value: unknown): void {
    const text = JSON.stringify(value);
    for (const plain of PLAIN) assert.ok(!text.includes(plain), `${what} holds a secret value: ${text}`);
  }

  test(
    'get_secret resolves at run time; the value is masked in events, logs, task and execution errors and outputs',
    LIMIT,
    async () => {
      let received: Record<string, Json> | undefined;
      const h = await harness(blueprint, {
        secrets,
        operations: {
          'p.create': (ctx, inputs) => {
            received = inputs;
            ctx.logger.info(`connecting as ${inputs.user} with ${inputs.password}`);
            ctx.logger.warning(`credentials: ${JSON.stringify(inputs.whole)}`);
            ctx.logger.debug(`token is ${(inputs.whole as { token: string }).token}`);
            ctx.instance.runtimeProperties.copy = inputs.password!;
          },
          'p.leak': (ctx, inputs) => {
            if (ctx.operation.retryNumber === 0)
              throw new Error(`login refused for password ${inputs.password}`);
            throw new NonRecoverableError(`still refused: ${inputs.password}`, {
              causes: [
                new TypeError(`bad token ${inputs.token}`),
                { type: 'Http', message: `401 for ${inputs.password}` },
              ],
            });
          },
        },
      });
      const execution = await h.execute('install', { task_retries: 3, task_retry_interval: 0 });
      assert.equal(execution.status, 'failed');
      // The operation got the real values.
      assert.deepEqual(received, { password: PASSWORD, user: USER, whole: { user: USER, token: TOKEN } });

      const stored = await h.store.listEvents({ executionId: execution.id });
      assert.ok(stored.length > 0);
      for (const e of stored) assertNoSecret(`event ${e.type} '${e.message}'`, e);
      for (const e of h.events) assertNoSecret(`reported event ${e.type}`, e);
      const logs = stored.filter((e) => e.type === 'log');
      assert.equal(logs.length, 3);
      assert.ok(
        logs.some((e) => e.message === `connecting as ${MASK} with ${MASK}`),
        JSON.stringify(logs),
      );
      // Task errors (the retried one and the final one), with their causes.
      for (const t of await h.store.listTasks(execution.id)) assertNoSecret(`task ${t.id} error`, t.error);
      assert.ok(stored.some((e) => e.type === 'task_rescheduled' && e.message.includes(`password ${MASK}`)));
      // The execution's error, returned and stored.
      assertNoSecret('execution error', execution.error);
      assertNoSecret('stored execution', await h.store.getExecution(execution.id));
      const error = execution.error as { message: string; causes: { message: string }[] };
      assert.equal(error.message, `still refused: ${MASK}`);
      assert.deepEqual(
        error.causes.map((c) => c.message),
        [`bad token ${MASK}`, `401 for ${MASK}`],
      );
      // Outputs are masked, whether they read the secret or a runtime property holding it.
      const outputs = await evaluateOutputs(h.store, 'dep', secrets);
      assert.deepEqual(outputs, {
        pw: MASK,
        url: `postgres://admin:${MASK}@db:5432`,
        copied: MASK,
        user: MASK,
      });
    },
  );

  test(
    'node properties holding get_secret and get_attribute are evaluated when an operation runs',
    LIMIT,
    async () => {
      const seen: Record<string, Json>[] = [];
      const h = await harness(
        `${HEAD}
node_types:
  t.App:
    derived_from: cloudify.nodes.Root
    properties:
      host_marker: {required: false}
      own: {required: false}
      password: {required: false}
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties:
      agent_config: {install_method: none, user: {get_secret: [creds, user]}, key: {get_secret: db_password}}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.mark
  app:
    type: t.App
    properties:
      host_marker: {get_attribute: [host, marker]}
      own: {get_attribute: [SELF, node_instance_id]}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.look
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
  broken:
    type: t.App
    properties:
      password: {get_secret: nope}
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.look
    relationships:
      - {type: cloudify.relationships.depends_on, target: app}
`,
        {
          secrets,
          operations: {
            'p.mark': (ctx) => {
              ctx.instance.runtimeProperties.marker = 'marked';
            },
            'p.look': (ctx) => {
              seen.push({ own: ctx.node.properties, host: ctx.host?.node.properties ?? null });
            },
          },
        },
      );
      const execution = await h.execute('install', { task_retries: 3, task_retry_interval: 0 });
      assert.equal(execution.status, 'failed');
      const [app] = await h.store.listInstances('dep').then((all) => all.filter((i) => i.node === 'app'));
      assert.equal(seen.length, 1);
      const { own, host } = seen[0] as {
        own: Record<string, Json>;
        host: { agent_config: Record<string, Json> };
      };
      assert.deepEqual([own.host_marker, own.own], ['marked', app!.id]);
      assert.deepEqual([host.agent_config.user, host.agent_config.key], [USER, PASSWORD]);
      const failed = (await h.store.listTasks(execution.id)).filter((t) => t.state === 'failed');
      assert.equal(failed.length, 1);
      assert.match(JSON.stringify(failed[0]!.error), /get_secret: no secret named 'nope'/);
      assert.equal(failed[0]!.attempt, 0, 'a missing secret is not retried');
    },
  );

  test('a secret with quotes or backslashes is masked in a log line that JSON-encodes it', {
    ...LIMIT,
  }, async () => {
    const tricky = 'pa"ss\\word-42';
    const h = await harness(
      `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: p.create, inputs: {password: {get_secret: tricky}}}
`,
      {
        secrets: new Map<string, Value>([['tricky', tricky]]),
        operations: {
          'p.create': (ctx, inputs) => {
            assert.equal(inputs.password, tricky);
            ctx.logger.info(`config: ${JSON.stringify(inputs)}`);
          },
        },
      },
    );
    const execution = await h.execute('install');
    assert.equal(execution.status, 'terminated');
    const [log] = (await h.store.listEvents({ executionId: execution.id })).filter((e) => e.type === 'log');
    assert.ok(log);
    const escaped = JSON.stringify(tricky).slice(1, -1);
    assert.ok(!log.message.includes(tricky) && !log.message.includes(escaped), log.message);
    assert.ok(log.message.includes(MASK), log.message);
  });

  test('a secret that does not exist fails the task with a clear, non-recoverable error', LIMIT, async () => {
    const h = await harness(blueprint, {
      secrets: new Map(),
      operations: { 'p.create': noop, 'p.leak': noop },
    });
    const execution = await h.execute('install', { task_retries: 3, task_retry_interval: 0 });
    assert.equal(execution.status, 'failed');
    assert.match(
      (execution.error as { message: string }).message,
      /get_secret: no secret named 'db_password'/,
    );
    assert.deepEqual(h.calls, [], 'the operation was not called');
    assert.ok(!h.events.some((e) => e.type === 'task_rescheduled'), 'not retried');
  });
});

// ---------------------------------------------------------------------------------------------
describe('timeouts and concurrency', () => {
  test(
    'an operation that exceeds its timeout fails at once as non-recoverable; its signal fires',
    LIMIT,
    async () => {
      let attempts = 0;
      let aborted = false;
      const h = await harness(
        `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: p.hang, timeout: 0.2}
        configure: p.op
`,
        {
          operations: {
            'p.hang': async (ctx) => {
              attempts++;
              await abortOf(ctx.signal);
              aborted = true;
            },
            'p.op': noop,
          },
        },
      );
      const execution = await h.execute('install', { task_retries: 3, task_retry_interval: 0 });
      assert.equal(execution.status, 'failed');
      assert.equal(attempts, 1, 'not retried');
      assert.ok(aborted, 'the operation was told to stop');
      assert.ok(!h.calls.includes('a.configure'));
      const error = execution.error as { message: string; task: { operation: string } };
      assert.match(error.message, /timed out after 0.2 s/);
      assert.equal(error.task.operation, 'cloudify.interfaces.lifecycle.create');
      const failed = h.events.find((e) => e.type === 'task_failed');
      assert.ok(failed, 'a task_failed event');
      assert.equal((failed.data as { type: string }).type, 'TimeoutError');
    },
  );

  test('with timeout_recoverable: true a timed-out operation is retried', LIMIT, async () => {
    let attempts = 0;
    const h = await harness(
      `${HEAD}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: p.hang, timeout: 0.2, timeout_recoverable: true, max_retries: 3, retry_interval: 0}
        configure: p.op
`,
      {
        operations: {
          'p.hang': async (ctx) => {
            attempts++;
            if (ctx.operation.retryNumber < 2) await abortOf(ctx.signal);
          },
          'p.op': noop,
        },
      },
    );
    const execution = await h.execute('install');
    assert.equal(execution.status, 'terminated');
    assert.equal(attempts, 3);
    const rescheduled = h.events.filter((e) => e.type === 'task_rescheduled');
    assert.equal(rescheduled.length, 2);
    assert.match(rescheduled[0]!.message, /timed out after 0.2 s \[retry 1\/3/);
    assert.ok(h.calls.includes('a.configure'));
  });

  test(
    'the concurrency limit is never exceeded (10 parallel instances at concurrency 3)',
    LIMIT,
    async () => {
      let running = 0;
      let peak = 0;
      let total = 0;
      const h = await harness(
        `${HEAD}
node_templates:
  n:
    type: cloudify.nodes.Root
    capabilities: {scalable: {properties: {default_instances: 10}}}
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.count, configure: p.count, start: p.count}
`,
        {
          concurrency: 3,
          operations: {
            'p.count': async () => {
              running++;
              total++;
              peak = Math.max(peak, running);
              // Hold the slot for a few turns of the event loop, so other tasks could start meanwhile.
              for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
              running--;
            },
          },
        },
      );
      const execution = await h.execute('install');
      assert.equal(execution.status, 'terminated');
      assert.equal(total, 30);
      assert.equal(peak, 3, `at most 3 at once, and the limit was used (peak ${peak})`);
    },
  );
});
