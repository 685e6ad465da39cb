// weft.nodes.TestResource with a mocked clock: waits polled (never slept) per action, a permanent
// and a transient failure after the wait, update in place and the two ways to be replaced.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { type Json, NonRecoverableError, RecoverableError } from '@weft/sdk';
import { drive } from './helpers.js';

const TYPE = 'weft.nodes.TestResource';

/** Advances the mocked clock by a poll's delay, as the engine's retry timer would wait. */
const tick = (seconds: number): void => {
  mock.timers.tick(seconds * 1000);
};

function state(rp: Record<string, Json>): Json {
  return (rp.heat as { state: Json }).state;
}

describe('TestResource', () => {
  beforeEach(() => mock.timers.enable({ apis: ['Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  test('create stores value as output after wait_secs, polled every 0.5 s', async () => {
    const { ctx, polls } = await drive(
      'create',
      TYPE,
      { properties: { value: 'hello', wait_secs: 2 } },
      { between: tick },
    );
    assert.equal(polls, 4);
    assert.equal(ctx.mock.runtimeProperties.output, 'hello');
    assert.deepEqual(state(ctx.mock.runtimeProperties), { action: 'CREATE', status: 'COMPLETE' });
  });

  test('action_wait_secs overrides wait_secs per action; attr_wait_secs lengthens create', async () => {
    const properties = { wait_secs: 5, action_wait_secs: { create: 1, delete: 0 }, attr_wait_secs: 1 };
    const created = await drive('create', TYPE, { properties }, { between: tick });
    assert.equal(created.polls, 4);
    const deleted = await drive(
      'delete',
      TYPE,
      { properties, runtimeProperties: created.ctx.mock.runtimeProperties },
      { between: tick },
    );
    assert.equal(deleted.polls, 0);
    assert.equal(deleted.ctx.mock.runtimeProperties.output, null);
  });

  test('wait_secs -1 waits forever', async () => {
    await assert.rejects(
      drive('create', TYPE, { properties: { wait_secs: -1 } }, { between: tick, maxPolls: 50 }),
      /still polling after 51 polls/,
    );
  });

  test('fail: after the wait, a non-recoverable failure, and no output', async () => {
    const error = (await drive(
      'create',
      TYPE,
      { properties: { fail: true, wait_secs: 1 } },
      { between: tick },
    ).catch((e: unknown) => e)) as Error & { runtimeProperties?: Record<string, Json> };
    assert.ok((error as unknown) instanceof NonRecoverableError);
    assert.match(error.message, /TestResource node_1 failed its create \(fail is set\)/);
    assert.equal(error.runtimeProperties?.output, undefined);
    assert.equal((state(error.runtimeProperties!) as { status: string }).status, 'FAILED');
  });

  test('fail_times: the first N completions fail recoverably, then it succeeds without waiting again', async () => {
    const { ctx, polls, errors } = await drive(
      'create',
      TYPE,
      { properties: { value: 'v', wait_secs: 1, fail_times: 2 } },
      { between: tick, retries: 5 },
    );
    assert.equal(polls, 2);
    assert.equal(errors.length, 2);
    assert.ok(errors.every((e) => e instanceof RecoverableError));
    assert.match(errors[1]!.message, /failure 2 of 2, fail_times/);
    assert.equal(ctx.mock.runtimeProperties.failed_attempts, 2);
    assert.equal(ctx.mock.runtimeProperties.output, 'v');

    // Fewer task retries than failures: the task fails with the recoverable error.
    await assert.rejects(
      drive('create', TYPE, { properties: { fail_times: 3 } }, { between: tick, retries: 2 }),
      RecoverableError,
    );
  });

  test('update: a new value in place after the update wait; other changes take no time', async () => {
    const properties = { value: 'one', action_wait_secs: { update: 1 } };
    const created = await drive('create', TYPE, { properties }, { between: tick });
    const resourceId = created.ctx.mock.runtimeProperties.resource_id;
    const updated = await drive(
      'update',
      TYPE,
      { properties, runtimeProperties: created.ctx.mock.runtimeProperties },
      { between: tick, inputs: { properties: { value: 'two' } } },
    );
    assert.equal(updated.polls, 2);
    assert.equal(updated.ctx.mock.runtimeProperties.output, 'two');
    assert.equal(updated.ctx.mock.runtimeProperties.resource_id, resourceId);
    assert.deepEqual(state(updated.ctx.mock.runtimeProperties), { action: 'UPDATE', status: 'COMPLETE' });

    const waited = await drive(
      'update',
      TYPE,
      { properties, runtimeProperties: updated.ctx.mock.runtimeProperties },
      { between: tick, inputs: { properties: { value: 'two', wait_secs: 3 } } },
    );
    assert.equal(waited.polls, 0);
  });

  test("update's properties input: only the changes, over the node's; null is the default; not a map fails", async () => {
    const properties = { value: 'one', wait_secs: 1 };
    const created = await drive('create', TYPE, { properties }, { between: tick });
    const rp = created.ctx.mock.runtimeProperties;
    const reset = await drive(
      'update',
      TYPE,
      { properties, runtimeProperties: rp },
      { between: tick, inputs: { properties: { value: null } } },
    );
    assert.equal(reset.polls, 2, "the node's wait_secs still applies");
    assert.equal(reset.ctx.mock.runtimeProperties.output, 'test_string');
    await assert.rejects(
      drive('update', TYPE, { properties, runtimeProperties: rp }, { inputs: { properties: ['value'] } }),
      (error: unknown) =>
        error instanceof NonRecoverableError &&
        /properties input must be a map of the properties to change, not a list/.test(error.message),
    );
  });

  test('update_replace: a new value replaces the resource (delete, then create)', async () => {
    const properties = { value: 'one', update_replace: true, action_wait_secs: { delete: 1, create: 1 } };
    const created = await drive('create', TYPE, { properties }, { between: tick });
    const replaced = await drive(
      'update',
      TYPE,
      { properties, runtimeProperties: created.ctx.mock.runtimeProperties },
      { between: tick, inputs: { properties: { value: 'two' } } },
    );
    assert.equal(replaced.polls, 4, 'the delete wait, then the create wait');
    assert.equal(replaced.ctx.mock.runtimeProperties.output, 'two');
    assert.deepEqual(state(replaced.ctx.mock.runtimeProperties), {
      action: 'UPDATE',
      status: 'COMPLETE',
      reason: 'replaced',
    });
    assert.ok(replaced.messages.some((m) => /update_replace is set/.test(m)));
  });

  test('update_replace_value: any change replaces it; fail on update fails it for good', async () => {
    const created = await drive('create', TYPE, { properties: { update_replace_value: 'a' } });
    const replaced = await drive(
      'update',
      TYPE,
      { properties: { update_replace_value: 'a' }, runtimeProperties: created.ctx.mock.runtimeProperties },
      { inputs: { properties: { update_replace_value: 'b' } } },
    );
    assert.ok(replaced.messages.some((m) => /update_replace_value cannot be updated/.test(m)));

    await assert.rejects(
      drive(
        'update',
        TYPE,
        { properties: { update_replace_value: 'a' }, runtimeProperties: created.ctx.mock.runtimeProperties },
        { inputs: { properties: { value: 'x', fail: true } } },
      ),
      /failed its update \(fail is set\)/,
    );
  });
});

describe('Value and NoOp', () => {
  const VALUE = 'weft.nodes.Value';

  test('Value exposes a value of any type, checks its type, and updates in place', async () => {
    const created = await drive('create', VALUE, { properties: { value: { a: [1, 2] }, type: 'json' } });
    assert.deepEqual(created.ctx.mock.runtimeProperties.value, { a: [1, 2] });
    const updated = await drive(
      'update',
      VALUE,
      {
        properties: { value: { a: [1, 2] }, type: 'json' },
        runtimeProperties: created.ctx.mock.runtimeProperties,
      },
      { inputs: { properties: { value: [3], type: 'comma_delimited_list' } } },
    );
    assert.deepEqual(updated.ctx.mock.runtimeProperties.value, [3]);
    assert.deepEqual(state(updated.ctx.mock.runtimeProperties), { action: 'UPDATE', status: 'COMPLETE' });

    await assert.rejects(
      drive('create', VALUE, { properties: { value: 'text', type: 'number' } }),
      /value: is not a number \(type is number\)/,
    );
    await assert.rejects(drive('create', VALUE, { properties: {} }), /value: is required/);
    // A value that looks like another type is kept as given; false is a value, not a missing one.
    const text = await drive('create', VALUE, { properties: { value: '42', type: 'string' } });
    assert.equal(text.ctx.mock.runtimeProperties.value, '42');
    const no = await drive('create', VALUE, { properties: { value: false } });
    assert.equal(no.ctx.mock.runtimeProperties.value, false);
  });

  test('NoOp accepts any properties of a derived type, has no attributes, and never changes', async () => {
    const stub = {
      nodeType: 'my.Stub',
      typeHierarchy: ['cloudify.nodes.Root', 'weft.nodes.NoOp', 'my.Stub'],
      properties: { flavor: 'large' },
    };
    const created = await drive('create', 'my.Stub', stub);
    assert.equal(created.ctx.mock.runtimeProperties.resource_id, 'node_1');
    const updated = await drive(
      'update',
      'my.Stub',
      { ...stub, runtimeProperties: created.ctx.mock.runtimeProperties },
      { inputs: { properties: { flavor: 'small' } } },
    );
    assert.ok(updated.ctx.mock.messages('info').some((m) => /no property changed/.test(m)));
    assert.deepEqual(Object.keys(updated.ctx.mock.runtimeProperties).sort(), ['heat', 'resource_id']);
  });
});
