import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as engine from '../src/index.js';

/** Every error class the engine exports, with what its code says about it. */
const errorClasses = Object.entries(engine).filter(
  (entry): entry is [string, typeof engine.WeftError] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof engine.WeftError,
);

test('every error the engine exports is a WeftError with a code of its own', () => {
  const names = errorClasses.map(([name]) => name).sort();
  // The list is checked so that a new error class is given a code and a kind on purpose.
  assert.deepEqual(names, [
    'ActiveExecutionError',
    'AlreadyExistsError',
    'BlueprintError',
    'ExecutionStateError',
    'NotFoundError',
    'PluginError',
    'PluginLoadError',
    'ResourceError',
    'SecretKeyError',
    'VersionConflictError',
    'WorkflowError',
  ]);
  const codes = errorClasses.map(([name, cls]) => {
    assert.ok(Object.hasOwn(cls, 'code'), `${name} declares its code`);
    return cls.code;
  });
  assert.equal(new Set(codes).size, codes.length, `codes are unique: ${codes.join(', ')}`);
});

test('errors about what the user gave are usage errors; the others are failures', () => {
  const usage = errorClasses.filter(([, cls]) => cls.kind === 'usage').map(([name]) => name);
  assert.deepEqual(usage.sort(), [
    'ActiveExecutionError',
    'AlreadyExistsError',
    'BlueprintError',
    'ExecutionStateError',
    'NotFoundError',
    'PluginError',
    'PluginLoadError',
    'SecretKeyError',
    'WorkflowError',
  ]);
  const conflict = new engine.VersionConflictError('vm_1', 1, 2);
  assert.equal(conflict.kind, 'failure');
  assert.equal(conflict.code, 'version_conflict');
  assert.ok(new engine.NotFoundError('deployment', 'd') instanceof engine.WeftError);
});
