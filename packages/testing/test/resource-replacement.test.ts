// Heat-style replacement through a blueprint, the engine and its store: the new resource is
// created before the old one is deleted (Heat's and Pulumi's order), a replacement that fails to
// create leaves the old one in place, and deleteBeforeReplace reverses the order.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { InProcessOperation } from '@weft/engine';
import {
  type Json,
  NonRecoverableError,
  type PropertiesSchema,
  Resource,
  resourceOperations,
} from '@weft/sdk';
import { type WorkflowTestEnv, workflowTest } from '../src/index.js';

const blueprint = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'test',
  'fixtures',
  'replacement',
  'blueprint.yaml',
);

/** What the resources' handlers did, in order, across both nodes. */
const journal: string[] = [];
let nextId = 0;

interface DiskProperties {
  size: number;
  fail_create: boolean;
}

class Disk extends Resource<DiskProperties> {
  static override properties: PropertiesSchema = {
    size: { type: 'integer', required: true },
    fail_create: { type: 'boolean', default: false, updateAllowed: true },
  };
  static override attributes = { size: 'The size it was made with.' };

  override handleCreate(): null {
    this.resourceId = `${this.ctx.node.name}-${++nextId}`;
    journal.push(`create ${this.resourceId} (${this.properties.size})`);
    if (this.properties.fail_create) throw new NonRecoverableError(`${this.resourceId} could not be made`);
    return null;
  }

  override handleDelete(): null {
    journal.push(`delete ${this.resourceId}`);
    return null;
  }

  override resolveAttribute(name: string): Json | undefined {
    return name === 'size' ? this.properties.size : undefined;
  }
}

class ExclusiveDisk extends Disk {
  static override deleteBeforeReplace = true;
}

function operationsOf(prefix: string, cls: typeof Disk): Record<string, InProcessOperation> {
  const ops = resourceOperations(cls);
  return {
    [`res.${prefix}_create`]: ops.create,
    [`res.${prefix}_delete`]: ops.delete,
    [`res.${prefix}_update`]: ops.update,
  };
}

const envs: WorkflowTestEnv[] = [];
after(async () => {
  for (const env of envs) {
    await env.close();
    rmSync(env.dir, { recursive: true, force: true });
  }
});

async function installed(): Promise<WorkflowTestEnv> {
  journal.length = 0;
  nextId = 0;
  const env = await workflowTest(blueprint, {
    operations: { ...operationsOf('disk', Disk), ...operationsOf('exclusive', ExclusiveDisk) },
  });
  envs.push(env);
  const install = await env.execute('install');
  assert.equal(install.status, 'terminated', JSON.stringify(install.error));
  assert.deepEqual(journal.sort(), ['create disk-1 (10)', 'create exclusive-2 (10)']);
  journal.length = 0;
  return env;
}

/** Runs the update operation on one node with the properties to change. */
function update(env: WorkflowTestEnv, node: string, properties: Record<string, Json>) {
  return env.execute('execute_operation', {
    operation: 'weft.interfaces.resource.update',
    node_ids: [node],
    operation_kwargs: { properties },
  });
}

async function resourceId(env: WorkflowTestEnv, node: string): Promise<Json | undefined> {
  const [instance] = await env.instances(node);
  return instance?.runtimeProperties.resource_id;
}

test('a replacement creates the new resource, then deletes the old one', async () => {
  const env = await installed();
  const run = await update(env, 'disk', { size: 20 });
  assert.equal(run.status, 'terminated', JSON.stringify(run.error));
  assert.deepEqual(journal, ['create disk-3 (20)', 'delete disk-1']);
  assert.deepEqual(await env.outputs(), { disk_id: 'disk-3', disk_size: 20 });
});

test('a replacement that fails to create leaves the old resource in place; uninstall deletes both', async () => {
  const env = await installed();
  const run = await update(env, 'disk', { size: 30, fail_create: true });
  assert.equal(run.status, 'failed');
  assert.match(JSON.stringify(run.error), /disk-3 could not be made/);
  assert.deepEqual(journal, ['create disk-3 (30)']);
  assert.deepEqual(await env.outputs(), { disk_id: 'disk-1', disk_size: 10 });
  const warnings = (await env.events(run.id)).filter((e) => e.type === 'log' && e.level === 'warning');
  assert.ok(
    warnings.some((e) =>
      /replacement of Disk disk_\w+ was not created; the old one \(disk-1\) stays in place/.test(e.message),
    ),
    JSON.stringify(warnings),
  );

  journal.length = 0;
  const uninstall = await env.execute('uninstall');
  assert.equal(uninstall.status, 'terminated', JSON.stringify(uninstall.error));
  assert.deepEqual(journal.sort(), ['delete disk-1', 'delete disk-3', 'delete exclusive-2']);
});

test('deleteBeforeReplace deletes the old resource first', async () => {
  const env = await installed();
  const run = await update(env, 'exclusive', { size: 20 });
  assert.equal(run.status, 'terminated', JSON.stringify(run.error));
  assert.deepEqual(journal, ['delete exclusive-2', 'create exclusive-3 (20)']);
  assert.equal(await resourceId(env, 'exclusive'), 'exclusive-3');
});
