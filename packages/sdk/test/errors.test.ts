import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

test('errors from another copy of the SDK are recognised by brand, each as its own class', async () => {
  const ours = await import('../src/index.js');
  // A second copy of the SDK's modules, loaded apart from ours: what a plugin bundling its own throws.
  const dir = mkdtempSync(join(tmpdir(), 'weft-sdk-copy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(fileURLToPath(new URL('../src', import.meta.url)), dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  const copy = (await import(pathToFileURL(join(dir, 'index.js')).href)) as typeof ours;
  assert.notEqual(copy.NonRecoverableError, ours.NonRecoverableError);
  const foreign = {
    RecoverableError: new copy.RecoverableError('busy'),
    NonRecoverableError: new copy.NonRecoverableError('image not found'),
    ConflictError: new copy.ConflictError('changed meanwhile'),
    OperationRetry: new copy.OperationRetry('later', 1),
    UpdateReplace: new copy.UpdateReplace(),
    PropertiesError: new copy.PropertiesError('Server', [{ path: 'size', message: 'required' }]),
  };
  for (const [name, error] of Object.entries(foreign)) {
    for (const other of Object.keys(foreign)) {
      const expected = other === name || (name === 'PropertiesError' && other === 'NonRecoverableError');
      assert.equal(
        error instanceof ours[other as keyof typeof foreign],
        expected,
        `${name} instanceof ${other}`,
      );
    }
    assert.ok(error instanceof ours.WeftError, name);
  }
  assert.ok(!(new Error('plain') instanceof ours.NonRecoverableError));
  assert.ok(!({ code: 'non_recoverable' } instanceof ours.NonRecoverableError));
});

test("a subclass without a code of its own shares its parent's and keeps the prototype check", () => {
  class ImageMissing extends NonRecoverableError {}
  const error = new ImageMissing('no image');
  assert.equal(error.code, 'non_recoverable');
  assert.ok(error instanceof NonRecoverableError);
  assert.ok(!(new NonRecoverableError('x') instanceof ImageMissing));
});

test('every SDK error has a code of its own and is a failure, not a usage error', async () => {
  const sdk = await import('../src/index.js');
  const errors = [
    new sdk.RecoverableError('a'),
    new sdk.NonRecoverableError('b'),
    new sdk.ConflictError('c'),
    new sdk.OperationRetry('d'),
    new sdk.UpdateReplace(),
    new sdk.PropertiesError('Server', []),
  ];
  assert.equal(new Set(errors.map((e) => e.code)).size, errors.length);
  for (const error of errors) assert.equal(error.kind, 'failure', error.name);
});
