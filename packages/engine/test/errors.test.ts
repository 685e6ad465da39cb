import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as engine from '../src/index.js';

/** Every error class the engine exports. */
const errorClasses = Object.entries(engine).filter(
  (entry): entry is [string, typeof engine.WeftError] =>
    typeof entry[1] === 'function' && entry[1].prototype instanceof engine.WeftError,
);

/**
 * Each one's kind: about what the user gave (usage, exit 2) or a failure (exit 1). Listed so
 * that a new error class is given a code and a kind on purpose.
 */
const KINDS: Record<string, engine.ErrorKind> = {
  ActiveExecutionError: 'usage',
  AlreadyExistsError: 'usage',
  BlueprintError: 'usage',
  CancelWithoutRollbackError: 'usage',
  ExecutionStateError: 'usage',
  NotFoundError: 'usage',
  PluginError: 'usage',
  PluginLoadError: 'usage',
  ResourceError: 'failure',
  SecretKeyError: 'usage',
  StoreConnectionError: 'failure',
  SuspendedStackError: 'usage',
  VersionConflictError: 'failure',
  WorkflowError: 'usage',
};

test('every error the engine exports is a WeftError with a code of its own and the kind it should have', () => {
  assert.deepEqual(Object.fromEntries(errorClasses.map(([name, cls]) => [name, cls.kind])), KINDS);
  const codes = errorClasses.map(([name, cls]) => {
    assert.ok(Object.hasOwn(cls, 'code'), `${name} declares its code`);
    return cls.code;
  });
  assert.equal(new Set(codes).size, codes.length, `codes are unique: ${codes.join(', ')}`);
});

test('an instance carries its class code and kind', () => {
  const conflict = new engine.VersionConflictError('vm_1', 1, 2);
  assert.equal(conflict.kind, 'failure');
  assert.equal(conflict.code, 'version_conflict');
  const missing = new engine.NotFoundError('deployment', 'd');
  assert.ok(missing instanceof engine.WeftError);
  assert.deepEqual([missing.code, missing.kind], ['not_found', 'usage']);
});
