// Heat's check (handle_check) of a Resource, and the update preview weft plan asks a resource's
// update operation for (Heat's preview_update).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Json,
  NonRecoverableError,
  type PropertiesSchema,
  Resource,
  resourceMapping,
  resourceOperations,
  type Token,
} from '@weft/sdk';
import { FakeInstance, failed } from './fake-instance.js';

let calls: string[] = [];

const schema = {
  name: { type: 'string', required: true, updateAllowed: true },
  size: { type: 'integer', default: 10, updateAllowed: true },
  zone: { type: 'string', default: 'a' },
} satisfies PropertiesSchema;

/** A resource whose physical side is `exists`: gone when false, as if deleted behind Weft's back. */
class Disk extends Resource {
  static override properties: PropertiesSchema = schema;
  static exists = true;
  /** How many times checkCheckComplete answers false before true. */
  static slowChecks = 0;

  override handleCreate(): Token {
    calls.push(`create ${this.properties.name}`);
    Disk.exists = true;
    this.resourceId = `disk-${calls.length}`;
    return undefined;
  }

  override handleUpdate(): Token {
    calls.push('update');
    return undefined;
  }

  override handleDelete(): Token {
    calls.push(`delete ${this.resourceId}`);
    return undefined;
  }

  override handleSuspend(): Token {
    return undefined;
  }

  override handleCheck(): Token {
    calls.push('handleCheck');
    if (!Disk.exists) throw new Error(`${this.resourceId} is gone`);
    return { id: this.resourceId };
  }

  override checkCheckComplete(token: Json): boolean {
    calls.push(`checkCheck ${JSON.stringify(token)}`);
    return calls.filter((c) => c.startsWith('checkCheck')).length > Disk.slowChecks;
  }
}

/** No handleCheck, no handleUpdate. */
class Note extends Resource {
  static override properties: PropertiesSchema = { text: { type: 'string', updateAllowed: true } };
  override handleCreate(): Token {
    if (this.properties.text === 'fail') throw new NonRecoverableError('cannot write it');
    return undefined;
  }
}

const disk = resourceOperations(Disk);
const note = resourceOperations(Note);

async function createdDisk(): Promise<FakeInstance> {
  calls = [];
  Disk.exists = true;
  Disk.slowChecks = 0;
  const instance = new FakeInstance({ name: 'data' });
  assert.equal((await instance.run(disk.create)).outcome, 'ok');
  calls = [];
  return instance;
}

const checkOf = (instance: FakeInstance) => (instance.saved.heat as { check?: Json } | undefined)?.check;

describe("check (Heat's handle_check)", () => {
  test('without handleCheck, what the record tells: it exists and its last action did not fail', async () => {
    const fine = new FakeInstance({ text: 'hello' });
    await fine.run(note.create);
    const passed = await fine.run(note.check);
    assert.equal(passed.outcome, 'ok');
    assert.ok(passed.logs.includes('info: Note server_1: its record is as expected (it has no handleCheck)'));
    assert.equal(checkOf(fine), undefined, 'a check that passes stores nothing');

    const never = new FakeInstance({ text: 'hello' });
    const error = failed(await never.run(note.check));
    assert.ok(error instanceof NonRecoverableError, 'a failed check is not retried');
    assert.equal(error.message, 'Note server_1 failed its check: it was never created');
    assert.deepEqual(checkOf(never), { status: 'FAILED', reason: 'it was never created' });

    const broken = new FakeInstance({ text: 'fail' });
    failed(await broken.run(note.create));
    assert.match(
      failed(await broken.run(note.check)).message,
      /failed its check: its last create failed: cannot write it$/,
    );
  });

  test('handleCheck: what it throws fails the check and is kept; a check that passes clears it', async () => {
    const instance = await createdDisk();
    Disk.exists = false;
    const error = failed(await instance.run(disk.check));
    assert.ok(error instanceof NonRecoverableError);
    assert.equal(error.message, 'Disk server_1 failed its check: disk-1 is gone');
    assert.deepEqual(checkOf(instance), { status: 'FAILED', reason: 'disk-1 is gone' });
    assert.deepEqual(instance.heat.state, { action: 'CREATE', status: 'COMPLETE' }, 'the state is kept');
    Disk.exists = true;
    assert.equal((await instance.run(disk.check)).outcome, 'ok');
    assert.equal(checkOf(instance), undefined);
  });

  test("checkCheckComplete is polled with handleCheck's token on the retry timer", async () => {
    const instance = await createdDisk();
    Disk.slowChecks = 1;
    const [first, second] = await instance.runToEnd(disk.check);
    assert.deepEqual(first!.retry, { message: 'waiting for the check of Disk to complete', after: 5 });
    assert.equal(second!.outcome, 'ok');
    assert.deepEqual(calls, ['handleCheck', 'checkCheck {"id":"disk-1"}', 'checkCheck {"id":"disk-1"}']);
    assert.equal(checkOf(instance), undefined);
  });

  test('an unfinished action fails the check; a suspended resource stays suspended', async () => {
    const instance = await createdDisk();
    assert.equal((await instance.run(disk.suspend)).outcome, 'ok');
    assert.equal((await instance.run(disk.check)).outcome, 'ok');
    assert.deepEqual(instance.heat.state, { action: 'SUSPEND', status: 'COMPLETE' });
    const pending = new FakeInstance({ name: 'data' });
    pending.saved = {
      heat: {
        state: { action: 'UPDATE', status: 'IN_PROGRESS' },
        properties: {},
        pending: { action: 'UPDATE', phase: 'polling' },
      },
    };
    assert.match(
      failed(await pending.run(disk.check)).message,
      /failed its check: its update is unfinished$/,
    );
  });

  test('the next update replaces a resource that failed its check, though no property changed', async () => {
    const instance = await createdDisk();
    Disk.exists = false;
    failed(await instance.run(disk.check));
    calls = [];
    const replaced = await instance.run(disk.update);
    assert.equal(replaced.outcome, 'ok');
    assert.ok(
      replaced.logs.includes(
        'warning: replacing Disk server_1: it failed its last check (disk-1 is gone); creating a new resource, then deleting the old one',
      ),
      replaced.logs.join('\n'),
    );
    assert.deepEqual(calls, ['create data', 'delete disk-1']);
    assert.equal(checkOf(instance), undefined, 'the new resource has no failed check');
    assert.equal(instance.saved.resource_id, 'disk-1', 'the id the new resource got');
    calls = [];
    const again = await instance.run(disk.update);
    assert.ok(again.logs.some((l) => l.includes('no property changed')));
    assert.deepEqual(calls, []);
  });
});

describe("update.preview (Heat's preview_update)", () => {
  const before = { name: 'data', use_external_resource: false };

  test('updateAllowed changes update in place; any other change replaces, saying which', () => {
    assert.deepEqual(disk.update.preview(before, { ...before, name: 'logs', size: 20 }), {
      action: 'update',
      changed: ['name', 'size'],
    });
    assert.deepEqual(disk.update.preview(before, { ...before, size: 20, zone: 'b' }), {
      action: 'replace',
      changed: ['size', 'zone'],
      forcedBy: ['zone'],
      reason: 'zone cannot be updated in place',
      deletesFirst: false,
    });
    const deletingFirst = resourceOperations(Disk, { deleteBeforeReplace: true });
    assert.equal(
      (deletingFirst.update.preview(before, { ...before, zone: 'b' }) as { deletesFirst: boolean })
        .deletesFirst,
      true,
    );
  });

  test('defaults are applied and properties outside the schema do not count: no change, nothing to tell', () => {
    assert.equal(disk.update.preview(before, { ...before, zone: 'a', size: null }), undefined);
    assert.equal(disk.update.preview(before, { ...before, use_external_resource: true }), undefined);
  });

  test('a class without handleUpdate replaces on any change', () => {
    assert.deepEqual(note.update.preview({ text: 'a' }, { text: 'b' }), {
      action: 'replace',
      changed: ['text'],
      forcedBy: [],
      reason: 'Note cannot be updated in place',
      deletesFirst: false,
    });
  });

  test('through a mapping, by the nearest mapped type of the hierarchy; unmapped: undefined', () => {
    const mapping = resourceMapping({ 'test.nodes.Disk': Disk });
    const hierarchy = ['cloudify.nodes.Root', 'test.nodes.Disk', 'my.Disk'];
    assert.equal(mapping.update.preview(before, { ...before, zone: 'b' }, hierarchy)?.action, 'replace');
    assert.equal(
      mapping.update.preview(before, { ...before, zone: 'b' }, ['cloudify.nodes.Root']),
      undefined,
    );
  });
});
