import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorCause, NonRecoverableError, RecoverableError } from '../src/index.js';

test('causes are built from caught errors and kept as given when already causes', () => {
  const caught = new TypeError('socket closed');
  const error = new NonRecoverableError('Failed to start HTTP webserver', {
    causes: [caught, { type: 'Timeout', message: 'no answer in 15 s' }, 'plain text'],
  });
  assert.equal(error.name, 'NonRecoverableError');
  assert.equal(error.causes.length, 3);
  assert.equal(error.causes[0]!.type, 'TypeError');
  assert.equal(error.causes[0]!.message, 'socket closed');
  assert.match(error.causes[0]!.stack ?? '', /socket closed/);
  assert.deepEqual(error.causes[1], { type: 'Timeout', message: 'no answer in 15 s' });
  assert.deepEqual(error.causes[2], { type: 'string', message: 'plain text' });
});

test('a recoverable error can ask for a retry delay', () => {
  const error = new RecoverableError('busy', { retryAfter: 5 });
  assert.equal(error.retryAfter, 5);
  assert.deepEqual(error.causes, []);
  assert.equal(errorCause(error).type, 'RecoverableError');
  assert.equal(new RecoverableError('x').retryAfter, undefined);
});

test('operation() keeps the function and marks whether it may run again after a crash', async () => {
  const { operation, OperationRetry } = await import('../src/index.js');
  const create = operation((_ctx, inputs: { size: number }) => inputs.size * 2, { resumable: true });
  const plain = operation(() => 'done');
  assert.equal(create.resumable, true);
  assert.equal(plain.resumable, false);
  assert.equal(create({} as never, { size: 21 }), 42);
  const retry = new OperationRetry('waiting for the VM', 30);
  assert.equal(retry.after, 30);
  assert.equal(retry.name, 'OperationRetry');
});

test('errors from another copy of the SDK are still recognised (brand, not prototype)', async () => {
  const { NonRecoverableError: Ours, RecoverableError, OperationRetry } = await import('../src/index.js');
  // What a plugin with its own copy of the SDK throws: same brand, another prototype.
  const brand = Symbol.for('weft.sdk.error');
  const foreign = Object.assign(new Error('image not found'), { [brand]: 'NonRecoverableError', causes: [] });
  assert.ok(foreign instanceof Ours);
  assert.ok(!(foreign instanceof RecoverableError));
  assert.ok(!(new Error('plain') instanceof Ours));
  assert.ok(new OperationRetry('later', 1) instanceof OperationRetry);
  class Special extends Ours {}
  assert.ok(!(new Ours('x') instanceof Special), 'subclasses keep the ordinary check');
  assert.ok(new Special('y') instanceof Ours);
});
