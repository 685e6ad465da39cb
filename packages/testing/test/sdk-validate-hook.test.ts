// A Resource class's static validate: checks across properties, reported with the schema's
// problems, all at once, before create or update does anything.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Json,
  NonRecoverableError,
  type Problem,
  PropertiesError,
  type PropertiesSchema,
  Range,
  Resource,
  resourceOperations,
  type Token,
} from '@weft/sdk';
import { FakeInstance, failed } from './fake-instance.js';

let calls: string[];
let received: Record<string, Json>[];

const problemsOf = (problems: Problem[]) =>
  problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));

/** A pool of `size` slots, of which `reserved` are kept back: they must fit. */
class Pool extends Resource<{ size: number; reserved: number; name?: string }> {
  static override properties: PropertiesSchema = {
    size: { type: 'integer', default: 4, updateAllowed: true, constraints: [Range({ min: 1 })] },
    reserved: { type: 'integer', default: 0, updateAllowed: true },
    name: { type: 'string' },
  };

  static override validate(properties: Record<string, Json>): Problem[] {
    received.push(structuredClone(properties));
    const { size, reserved } = properties;
    const problems: Problem[] = [];
    if (typeof size === 'number' && typeof reserved === 'number' && reserved > size) {
      problems.push({ path: 'reserved', message: `${reserved} is more than size (${size})` });
    }
    if (properties.name === 'taken') problems.push({ path: 'name', message: 'is taken' });
    // Changes here must not reach the resource.
    properties.size = 1000;
    return problems;
  }

  override handleCreate(): Token {
    calls.push(`create ${this.properties.size}/${this.properties.reserved}`);
    this.resourceId = 'pool';
    return undefined;
  }

  override handleUpdate(): Token {
    calls.push('update');
    return undefined;
  }
}

const pool = resourceOperations(Pool);

function reset(): void {
  calls = [];
  received = [];
}

describe('static validate: checks across properties', () => {
  test('gets the validated values (converted, defaults applied); its changes do not reach the resource', async () => {
    reset();
    const instance = new FakeInstance({ reserved: '2', use_external_resource: false });
    assert.equal((await instance.run(pool.create)).outcome, 'ok');
    assert.deepEqual(received, [{ size: 4, reserved: 2 }]);
    assert.deepEqual(calls, ['create 4/2']);
  });

  test("its problems are reported with the schema's, at once, and nothing is created", async () => {
    reset();
    const instance = new FakeInstance({ size: 0, reserved: 3, name: 'taken', deletion_policy: 'Keep' });
    const error = failed(await instance.run(pool.create));
    assert.ok(error instanceof PropertiesError);
    assert.ok(error instanceof NonRecoverableError);
    assert.deepEqual(problemsOf(error.problems), [
      'size: 0 is not at least 1',
      'reserved: 3 is more than size (0)',
      'name: is taken',
      'deletion_policy: must be one of Delete, Retain, Snapshot',
    ]);
    assert.match(error.message, /invalid properties for Pool server_1: 4 problems/);
    assert.deepEqual(calls, []);
    assert.deepEqual(instance.saved, {}, 'no bookkeeping is left behind');
  });

  test('it runs even when the schema found problems: a value of the wrong type is missing', async () => {
    reset();
    const error = failed(await new FakeInstance({ size: 'big', name: 'taken' }).run(pool.create));
    assert.deepEqual(received, [{ reserved: 0, name: 'taken' }]);
    assert.deepEqual(problemsOf((error as PropertiesError).problems), [
      'size: "big" is not an integer',
      'name: is taken',
    ]);
  });

  test('an update with new properties that do not fit fails before anything changes', async () => {
    reset();
    const instance = new FakeInstance({ size: 4, reserved: 1 });
    await instance.run(pool.create);
    instance.properties = { size: 2, reserved: 3 };
    const error = failed(await instance.run(pool.update));
    assert.deepEqual(problemsOf((error as PropertiesError).problems), ['reserved: 3 is more than size (2)']);
    assert.deepEqual(calls, ['create 4/1']);
    assert.deepEqual((instance.saved.heat as { properties: Json }).properties, { size: 4, reserved: 1 });
    instance.properties = { size: 2, reserved: 2 };
    assert.equal((await instance.run(pool.update)).outcome, 'ok');
    assert.deepEqual(calls, ['create 4/1', 'update']);
  });

  test('it may be asynchronous; a throw is reported as a problem', async () => {
    class Remote extends Resource {
      static override properties: PropertiesSchema = { zone: { type: 'string', required: true } };
      static override async validate(properties: Record<string, Json>): Promise<Problem[]> {
        if (properties.zone === 'down') throw new Error('the zone service did not answer');
        return properties.zone === 'b' ? [] : [{ path: 'zone', message: 'no such zone' }];
      }
      override handleCreate(): Token {
        return undefined;
      }
    }
    const remote = resourceOperations(Remote);
    assert.equal((await new FakeInstance({ zone: 'b' }).run(remote.create)).outcome, 'ok');
    const unknown = failed(await new FakeInstance({ zone: 'c' }).run(remote.create));
    assert.deepEqual(problemsOf((unknown as PropertiesError).problems), ['zone: no such zone']);
    const down = failed(await new FakeInstance({ zone: 'down' }).run(remote.create));
    assert.ok(down instanceof PropertiesError);
    assert.deepEqual(problemsOf(down.problems), ['Remote.validate failed: the zone service did not answer']);
  });

  test('a class without one is validated by its schema alone', async () => {
    class Plain extends Resource {
      static override properties: PropertiesSchema = { a: { type: 'integer' } };
      override handleCreate(): Token {
        return undefined;
      }
    }
    assert.deepEqual(await Plain.validate({ a: 1 }), []);
    assert.equal((await new FakeInstance({ a: 1 }).run(resourceOperations(Plain).create)).outcome, 'ok');
  });
});
