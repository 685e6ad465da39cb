/**
 * Workflow scripts (`workflows: NAME: scripts/x.py`) in the executor: the script is task 0 of its
 * execution and adds tasks while it runs. The script plugin's runner is stood in for by functions
 * that ask what a script would ask, so that the engine's side is tested on its own.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NonRecoverableError, type WorkflowRunContext } from '@weft/sdk';
import { startExecution } from '../src/deployment/deployments.js';
import { Executor } from '../src/executor/executor.js';
import { InProcessDispatcher } from '../src/runtime/in-process.js';
import type { WorkflowRunner } from '../src/runtime/workflow-run.js';
import type { Json } from '../src/store/types.js';
import { harness } from './executor-helpers.js';

const BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    instances: {deploy: 2}
    interfaces:
      test:
        op: p.ops.op
        fail: p.ops.fail
        gate: p.ops.gate
        declared_only: {}
  b:
    type: cloudify.nodes.Root
    interfaces:
      test:
        op:
          implementation: p.ops.op
          inputs: {fixed: 1}
workflows:
  wf: scripts/workflow.py
  with_params:
    mapping: scripts/workflow.py
    parameters:
      key: {default: value}
`;

const FILES = { 'scripts/workflow.py': '# stands in for a Python workflow script\n' };

const LIMIT = { timeout: 20_000 };

/** Runs one operation and waits for it, as `instance.execute_operation(op).get()`. */
async function run(
  ctx: WorkflowRunContext,
  instanceId: string,
  operation: string,
  kwargs?: Record<string, Json>,
) {
  const [id] = await ctx.submit([{ kind: 'operation', instanceId, operation, ...(kwargs && { kwargs }) }]);
  assert.notEqual(id, null);
  return ctx.wait(id!);
}

/** Released by the test: the operation p.ops.gate waits for it. */
let gate: { opened: Promise<void>; open: () => void; reached: Promise<void>; arrive: () => void };
function newGate() {
  let open!: () => void;
  let arrive!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const reached = new Promise<void>((r) => {
    arrive = r;
  });
  gate = { opened, open, reached, arrive };
}

function setup(runner: WorkflowRunner, extra: { concurrency?: number } = {}) {
  return harness(BLUEPRINT, {
    files: FILES,
    concurrency: extra.concurrency ?? 8,
    workflowRunner: runner,
    operations: {
      'p.ops.op': (ctx, inputs) => `${ctx.instance.id}:${JSON.stringify(inputs)}`,
      'p.ops.gate': async () => {
        gate.arrive();
        await gate.opened;
        return 'through';
      },
      'p.ops.fail': () => {
        throw new NonRecoverableError('it broke');
      },
    },
  });
}

describe('workflow scripts in the executor', () => {
  test(
    'a script runs operations on each instance in order, with their results and its events',
    LIMIT,
    async () => {
      const seen: Json[] = [];
      const h = await setup(async (ctx) => {
        for (const node of await ctx.nodes())
          for (const instance of node.instances) {
            await ctx.submit([
              { kind: 'event', instanceId: instance.id, message: `running op on ${instance.id}` },
            ]);
            const outcome = await run(ctx, instance.id, 'test.op', { n: 1 });
            assert.ok(outcome.ok);
            seen.push(outcome.result);
          }
        return 'done';
      });
      const execution = await h.execute('wf');
      assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
      assert.deepEqual(h.calls, ['a.op', 'a.op', 'b.op']);
      assert.equal(seen.length, 3);
      assert.match(String(seen[2]), /^b_\w+:\{"fixed":1,"n":1\}$/);
      const tasks = await h.store.listTasks(execution.id);
      assert.deepEqual(
        tasks.map((t) => [t.kind, t.state]),
        [
          ['workflow', 'succeeded'],
          ...[1, 2, 3].flatMap(() => [
            ['event', 'succeeded'],
            ['operation', 'succeeded'],
          ]),
        ],
      );
      assert.equal(tasks[0]!.result, 'done');
      assert.equal(tasks[0]!.operation, 'scripts/workflow.py');
      const sent = h.events.filter((e) => e.type === 'workflow_event').map((e) => e.message);
      assert.equal(sent.length, 3);
      assert.match(sent[0]!, /^running op on a_/);
    },
  );

  test('the parameters reach the script, with script_path as Cloudify adds it', LIMIT, async () => {
    let parameters: Record<string, Json> = {};
    const h = await setup(async (ctx) => {
      parameters = ctx.parameters;
    });
    const execution = await h.execute('with_params', { key: 'given' });
    assert.equal(execution.status, 'terminated');
    assert.deepEqual(parameters, { script_path: 'scripts/workflow.py', key: 'given' });
  });

  test(
    "an operation's failure is the script's to handle; if it fails, the execution fails with its message",
    LIMIT,
    async () => {
      const h = await setup(async (ctx) => {
        const node = (await ctx.nodes()).find((n) => n.id === 'a')!;
        const outcome = await run(ctx, node.instances[0]!.id, 'fail');
        assert.equal(outcome.ok, false);
        throw new NonRecoverableError(outcome.ok ? '' : outcome.message);
      });
      const execution = await h.execute('wf');
      assert.equal(execution.status, 'failed');
      const error = execution.error as { message: string; task: { operation: string } };
      assert.match(error.message, /^test\.fail on a_\w+ failed: it broke$/);
      assert.equal(error.task.operation, 'scripts/workflow.py');
      // The workflow script ran once: a workflow is not retried.
      assert.equal(h.events.filter((e) => e.type === 'task_started' && e.taskId === 0).length, 1);
    },
  );

  test('a graph: what depends on a failed task is not run, the rest is', LIMIT, async () => {
    const outcomes: boolean[] = [];
    const h = await setup(async (ctx) => {
      const [a1, a2] = (await ctx.nodes()).find((n) => n.id === 'a')!.instances;
      const ids = await ctx.submit([
        { kind: 'operation', instanceId: a1!.id, operation: 'test.fail' },
        { kind: 'state', instanceId: a1!.id, state: 'started', dependsOn: [0] },
        { kind: 'operation', instanceId: a2!.id, operation: 'test.op' },
        { kind: 'event', message: 'after', dependsOn: [1, 2] },
      ]);
      for (const id of ids) outcomes.push((await ctx.wait(id!)).ok);
    });
    const execution = await h.execute('wf');
    // Every outcome was waited for and none stopped the script; the script itself succeeded.
    assert.equal(execution.status, 'terminated');
    assert.deepEqual(outcomes, [false, false, true, false]);
    assert.deepEqual(h.calls.sort(), ['a.fail', 'a.op']);
    const tasks = await h.store.listTasks(execution.id);
    assert.deepEqual(
      tasks.map((t) => t.state),
      ['succeeded', 'failed', 'cancelled', 'succeeded', 'cancelled'],
    );
  });

  test(
    'an operation without an implementation, or not declared, is a no-op; a kwarg over an input is refused',
    LIMIT,
    async () => {
      const results: unknown[] = [];
      const h = await setup(async (ctx) => {
        const nodes = await ctx.nodes();
        const a = nodes.find((n) => n.id === 'a')!.instances[0]!.id;
        const b = nodes.find((n) => n.id === 'b')!.instances[0]!.id;
        results.push(await ctx.submit([{ kind: 'operation', instanceId: a, operation: 'declared_only' }]));
        results.push(await ctx.submit([{ kind: 'operation', instanceId: a, operation: 'nope.nothing' }]));
        await assert.rejects(
          ctx.submit([{ kind: 'operation', instanceId: b, operation: 'op', kwargs: { fixed: 2 } }]),
          /Duplicate definition of fixed in operation properties and in kwargs.*allow_kwargs_override/,
        );
        const [id] = await ctx.submit([
          {
            kind: 'operation',
            instanceId: b,
            operation: 'op',
            kwargs: { fixed: 2 },
            allowKwargsOverride: true,
          },
        ]);
        results.push(await ctx.wait(id!));
        await assert.rejects(
          ctx.submit([{ kind: 'state', instanceId: 'nobody', state: 'started' }]),
          /no node instance 'nobody'/,
        );
      });
      const execution = await h.execute('wf');
      assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
      assert.deepEqual(results.slice(0, 2), [[null], [null]]);
      assert.match(String((results[2] as { result: string }).result), /"fixed":2/);
    },
  );

  test('with one operation slot the script runs (it holds none)', LIMIT, async () => {
    const h = await setup(
      async (ctx) => {
        const a = (await ctx.nodes()).find((n) => n.id === 'a')!;
        const ids = await ctx.submit(
          a.instances.map((i) => ({ kind: 'operation' as const, instanceId: i.id, operation: 'op' })),
        );
        for (const id of ids) assert.ok((await ctx.wait(id!)).ok);
      },
      { concurrency: 1 },
    );
    const execution = await h.execute('wf');
    assert.equal(execution.status, 'terminated');
    assert.equal(h.calls.length, 2);
  });

  test(
    'resumed, the script runs again and what had finished gives its stored result instead of running',
    LIMIT,
    async () => {
      let runs = 0;
      const got: Json[] = [];
      const h = await setup(async (ctx) => {
        runs++;
        const [a1, a2] = (await ctx.nodes()).find((n) => n.id === 'a')!.instances;
        const first = await run(ctx, a1!.id, 'op', { run: 'any' });
        got.push(first.ok ? first.result : null);
        const second = await run(ctx, a2!.id, runs === 1 ? 'fail' : 'op');
        if (!second.ok) throw new NonRecoverableError(second.message);
      });
      const failed = await h.execute('wf');
      assert.equal(failed.status, 'failed');
      assert.deepEqual(h.calls, ['a.op', 'a.fail']);
      const again = await h.executor.run(failed.id);
      assert.equal(again.status, 'terminated', JSON.stringify(again.error));
      // a1's op ran once; its result came back from the store the second time.
      assert.deepEqual(h.calls, ['a.op', 'a.fail', 'a.op']);
      assert.equal(got.length, 2);
      assert.equal(got[0], got[1]);
      const tasks = await h.store.listTasks(failed.id);
      assert.deepEqual(
        tasks.map((t) => [t.operation, t.state]),
        [
          ['scripts/workflow.py', 'succeeded'],
          ['test.op', 'succeeded'],
          ['test.fail', 'cancelled'],
          ['test.op', 'succeeded'],
        ],
      );
    },
  );

  test(
    'update_node_instance writes runtime properties and state now, refusing a stale version',
    LIMIT,
    async () => {
      const h = await setup(async (ctx) => {
        const b = (await ctx.nodes()).find((n) => n.id === 'b')!.instances[0]!;
        const version = await ctx.updateInstance(b.id, {
          runtimeProperties: { tested: true },
          version: b.version,
        });
        assert.equal(version, b.version + 1);
        await assert.rejects(
          ctx.updateInstance(b.id, { runtimeProperties: { again: true }, version: b.version }),
          (error: Error) => error.name === 'ConflictError' && /is at version 1, not 0/.test(error.message),
        );
        await ctx.updateInstance(b.id, { state: 'configured' });
      });
      const execution = await h.execute('wf');
      assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
      const b = (await h.store.listInstances('dep')).find((i) => i.node === 'b')!;
      assert.deepEqual(b.runtimeProperties, { tested: true });
      assert.equal(b.state, 'configured');
    },
  );

  test(
    'interrupted (Ctrl-C) while it waits, the script stops; resumed, it gets the finished result',
    LIMIT,
    async () => {
      newGate();
      const got: unknown[] = [];
      const h = await setup(async (ctx) => {
        const a1 = (await ctx.nodes()).find((n) => n.id === 'a')!.instances[0]!;
        const outcome = await run(ctx, a1.id, 'gate');
        got.push(outcome);
        if (!outcome.ok) throw new NonRecoverableError(outcome.message);
      });
      const dispatcher = new InProcessDispatcher({});
      const execution = await startExecution({
        store: h.store,
        dispatcher,
        deploymentId: 'dep',
        workflow: 'wf',
      });
      const interrupt = new AbortController();
      const running = h.executor.run(execution.id, { interrupt: interrupt.signal });
      await gate.reached;
      interrupt.abort();
      gate.open();
      const stopped = await running;
      assert.equal(stopped.status, 'interrupted');
      assert.deepEqual(got, [
        { ok: false, errorType: 'ExecutionStopped', message: 'the execution was interrupted' },
      ]);
      assert.deepEqual(
        (await h.store.listTasks(execution.id)).map((t) => t.state),
        ['cancelled', 'succeeded'],
      );
      const resumed = await h.executor.run(execution.id);
      assert.equal(resumed.status, 'terminated', JSON.stringify(resumed.error));
      assert.deepEqual(h.calls, ['a.gate']);
      assert.deepEqual(got[1], { ok: true, result: 'through' });
    },
  );

  test('a workflow script needs a dispatcher that runs them', LIMIT, async () => {
    const h = await setup(async () => undefined);
    const dispatcher = new InProcessDispatcher({});
    const execution = await startExecution({
      store: h.store,
      dispatcher,
      deploymentId: 'dep',
      workflow: 'wf',
    });
    const done = await new Executor({ store: h.store, dispatcher }).run(execution.id);
    assert.equal(done.status, 'failed');
    assert.match((done.error as { message: string }).message, /no workflow script runner/);
  });
});
