// What a broken constraint is reported as, when what it collided with has changed since.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActiveExecutionError, type ExecutionRecord } from '../src/store/types.js';
import { createExecutionError, type Lookup } from '../src/store/violations.js';

const execution = {
  id: 'mine',
  deploymentId: 'web',
  workflow: 'install',
  parameters: {},
  status: 'pending',
  error: null,
  createdAt: '2026-12-07T00:00:00.000Z',
} as unknown as ExecutionRecord;

const lookup = (active: { id: string; workflow: string } | undefined): Lookup => ({
  exists: async () => true,
  activeExecution: async () => active,
  latestExecution: async () => ({ id: 'theirs', workflow: 'install' }),
  deploymentOf: async () => 'web',
});

test('a second execution of a deployment is told which one runs, even when it ended just after the collision', async () => {
  const running = await createExecutionError(
    'active execution',
    new Error('UNIQUE'),
    execution,
    [],
    lookup({ id: 'other', workflow: 'update' }),
  );
  assert.ok(running instanceof ActiveExecutionError);
  assert.equal(running.activeExecutionId, 'other');
  // The process that collided was kept from its processor while the other execution ended: the
  // latest one is the one it collided with (its own insert was rolled back), not a raw SQL error.
  const ended = await createExecutionError(
    'active execution',
    new Error('UNIQUE'),
    execution,
    [],
    lookup(undefined),
  );
  assert.ok(ended instanceof ActiveExecutionError);
  assert.match(ended.message, /^deployment 'web' already has a running execution theirs \(install\)/);
});
