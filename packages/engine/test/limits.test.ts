/**
 * Size limits on what operations hand back to the executor: a returned value, and an instance's
 * runtime properties after an update, over their limit fail the operation for good; nothing of
 * them is stored.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LimitError, NonRecoverableError } from '@weft/sdk';
import type { InProcessOperation } from '../src/runtime/in-process.js';
import type { WorkflowRunner } from '../src/runtime/workflow-run.js';
import { harness } from './executor-helpers.js';

const BLUEPRINT = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, install: false}
node_templates:
  a:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: p.create
        configure: {implementation: p.configure, max_retries: 3, retry_interval: 0}
workflows:
  wf: scripts/workflow.py
`;

/** What create leaves on the instance: 626 bytes of JSON. */
const CREATED = { ip: '10.0.0.1', pad: 'x'.repeat(600) };

/** A deployment with limits of 1,000 bytes whose instance gets CREATED from create, then runs `configure`. */
function setup(configure: InProcessOperation, workflowRunner?: WorkflowRunner) {
  return harness(BLUEPRINT, {
    limits: { resultBytes: 1000, runtimePropertiesBytes: 1000 },
    files: { 'scripts/workflow.py': '# stands in for a Python workflow script\n' },
    operations: {
      'p.create': (ctx) => {
        Object.assign(ctx.instance.runtimeProperties, CREATED);
      },
      'p.configure': configure,
    },
    ...(workflowRunner && { workflowRunner }),
  });
}

async function configureTask(h: Awaited<ReturnType<typeof setup>>, executionId: string) {
  const task = (await h.store.listTasks(executionId)).find((t) => t.operation?.endsWith('.configure'));
  assert.ok(task);
  return task;
}

const overRuntimeProperties = (bytes: string) =>
  new RegExp(
    `^the runtime properties of a_\\w+ would be ${bytes} bytes of JSON: over the 1,000-byte limit for one instance's runtime properties; WEFT_MAX_RUNTIME_PROPERTIES_BYTES raises it$`,
  );

describe('size limits', () => {
  test('a returned value over the limit (in UTF-8 bytes) fails the operation at once; it is not stored', async () => {
    // 602 characters of JSON, 1,202 bytes.
    const h = await setup(() => 'é'.repeat(600));
    const execution = await h.execute('install');
    assert.equal(execution.status, 'failed');
    const task = await configureTask(h, execution.id);
    assert.equal(task.state, 'failed');
    assert.equal(task.attempt, 0, 'not retried');
    assert.equal(task.result, null);
    assert.deepEqual(task.error, {
      type: 'LimitError',
      message:
        "the value it returned is 1,202 bytes of JSON: over the 1,000-byte limit for an operation's result; WEFT_MAX_RESULT_BYTES raises it",
      causes: [],
    });
    assert.equal(h.calls.filter((c) => c === 'a.configure').length, 1);
  });

  test('a returned value of exactly the limit is stored', async () => {
    const h = await setup(() => 'x'.repeat(998));
    const execution = await h.execute('install');
    assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
    assert.equal((await configureTask(h, execution.id)).result, 'x'.repeat(998));
  });

  test('runtime properties over the limit once merged fail the operation; the instance keeps what it had', async () => {
    // Under the limit on its own, over it with what create stored.
    const h = await setup((ctx) => {
      ctx.instance.runtimeProperties.ip = '10.0.0.2';
      ctx.instance.runtimeProperties.more = 'y'.repeat(600);
    });
    const execution = await h.execute('install');
    assert.equal(execution.status, 'failed');
    const task = await configureTask(h, execution.id);
    assert.equal(task.attempt, 0, 'not retried');
    assert.equal((task.error as { type: string }).type, 'LimitError');
    assert.match((task.error as { message: string }).message, overRuntimeProperties('1,236'));
    const [instance] = await h.store.listInstances('dep');
    assert.deepEqual(instance!.runtimeProperties, CREATED);
  });

  test('ctx.instance.update() over the limit rejects with a LimitError (non-recoverable) and saves nothing', async () => {
    let refused: unknown;
    const h = await setup(async (ctx) => {
      try {
        await ctx.instance.update({ more: 'y'.repeat(600) });
      } catch (error) {
        refused = error;
      }
      // The operation may go on without it.
      delete ctx.instance.runtimeProperties.more;
      ctx.instance.runtimeProperties.after = true;
    });
    const execution = await h.execute('install');
    assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
    assert.ok(refused instanceof LimitError);
    assert.ok(refused instanceof NonRecoverableError);
    assert.match(refused.message, overRuntimeProperties('1,236'));
    const [instance] = await h.store.listInstances('dep');
    assert.deepEqual(instance!.runtimeProperties, { ...CREATED, after: true });
  });

  test("a workflow script's instance update over the limit is refused; its result over the limit fails it", async () => {
    let refused: unknown;
    const h = await setup(
      () => undefined,
      async (ctx) => {
        const [a] = (await ctx.nodes())[0]!.instances;
        await ctx.updateInstance(a!.id, { runtimeProperties: { ok: true } });
        await ctx
          .updateInstance(a!.id, { runtimeProperties: { big: 'z'.repeat(1000) }, state: 'started' })
          .catch((error: unknown) => {
            refused = error;
          });
        return 'r'.repeat(1000);
      },
    );
    const execution = await h.execute('wf');
    assert.equal(execution.status, 'failed');
    assert.ok(refused instanceof LimitError);
    assert.match(refused.message, overRuntimeProperties('1,010'));
    assert.match(
      (execution.error as { message: string }).message,
      /^the value it returned is 1,002 bytes of JSON: over the 1,000-byte limit/,
    );
    const [instance] = await h.store.listInstances('dep');
    assert.deepEqual(instance!.runtimeProperties, { ok: true });
    assert.equal(instance!.state, 'uninitialized', 'nothing of the refused update applied');
  });
});
