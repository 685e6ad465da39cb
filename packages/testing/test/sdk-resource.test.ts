import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AllowedPattern,
  AllowedValues,
  Custom,
  checkSchema,
  type Json,
  Length,
  NonRecoverableError,
  PropertiesError,
  type PropertiesOf,
  type PropertiesSchema,
  type PropertyDiff,
  Range,
  RecoverableError,
  Resource,
  type ResourceDefinition,
  type ResourceState,
  resourceMapping,
  resourceOperations,
  type TemplateDiff,
  type Token,
  UpdateReplace,
  validateProperties,
} from '@weft/sdk';
import { FakeInstance, failed } from './fake-instance.js';

// ---------------------------------------------------------------------------------------------
// A resource with slow actions: each check*Complete answers false `polls` times before true.

const serverSchema = {
  name: { type: 'string', description: 'Server name', required: true, updateAllowed: true },
  flavor: {
    type: 'string',
    default: 'small',
    updateAllowed: true,
    constraints: [AllowedValues(['small', 'large'])],
  },
  image: { type: 'string', required: true },
  metadata: { type: 'map', default: {}, updateAllowed: true },
} satisfies PropertiesSchema;

type ServerProps = PropertiesOf<typeof serverSchema>;

interface Journal {
  calls: string[];
  tokens: Json[];
  polls: number;
  seen: {
    snippet?: ResourceDefinition;
    templateDiff?: TemplateDiff;
    propertyDiff?: PropertyDiff;
    old?: ServerProps;
  };
}

let journal: Journal;
let nextId = 0;

function reset(polls = 0, ids = true): void {
  journal = { calls: [], tokens: [], polls, seen: {} };
  if (ids) nextId = 0;
}

function pollsLeft(key: string): boolean {
  const count = journal.calls.filter((c) => c === key).length;
  return count > journal.polls;
}

class Server extends Resource<ServerProps> {
  static override properties = serverSchema;
  static override attributes = { address: 'The IP address', flavor: 'The flavor it runs' };
  static override pollInterval = 2;

  override async handleCreate(): Promise<Token> {
    journal.calls.push(
      `handleCreate ${this.properties.name}/${this.properties.flavor}/${this.properties.image}`,
    );
    this.resourceId = `srv-${++nextId}`;
    return { id: this.resourceId, started: 'now' };
  }

  override checkCreateComplete(token: Json): boolean {
    journal.calls.push('checkCreate');
    journal.tokens.push(token);
    return pollsLeft('checkCreate');
  }

  override handleUpdate(
    snippet: ResourceDefinition,
    templateDiff: TemplateDiff,
    propertyDiff: PropertyDiff,
  ): Token {
    journal.calls.push('handleUpdate');
    journal.seen = { snippet, templateDiff, propertyDiff, old: structuredClone(this.properties) };
    return `update-${this.resourceId}`;
  }

  override checkUpdateComplete(token: Json): boolean {
    journal.calls.push('checkUpdate');
    journal.tokens.push(token);
    return pollsLeft('checkUpdate');
  }

  override handleSuspend(): Token {
    journal.calls.push('handleSuspend');
    return 'suspending';
  }

  override checkSuspendComplete(token: Json): boolean {
    journal.calls.push('checkSuspend');
    journal.tokens.push(token);
    return pollsLeft('checkSuspend');
  }

  override handleResume(): Token {
    journal.calls.push('handleResume');
    return 'resuming';
  }

  override checkResumeComplete(token: Json): boolean {
    journal.calls.push('checkResume');
    journal.tokens.push(token);
    return pollsLeft('checkResume');
  }

  override handleDelete(): Token {
    journal.calls.push(`handleDelete ${this.resourceId} ${this.properties.name}`);
    return `delete-${this.resourceId}`;
  }

  override handleSnapshotDelete(state: ResourceState): Token {
    journal.calls.push(`handleSnapshotDelete ${this.resourceId} ${state.action}_${state.status}`);
    return `snapshot-${this.resourceId}`;
  }

  override checkDeleteComplete(token: Json): boolean {
    journal.calls.push('checkDelete');
    journal.tokens.push(token);
    return pollsLeft('checkDelete');
  }

  override resolveAttribute(name: string): Json | undefined {
    if (name === 'address') return `10.0.0.${this.resourceId?.slice(4)}`;
    if (name === 'flavor') return this.properties.flavor;
    return undefined;
  }
}

const ops = resourceOperations(Server);
// use_external_resource is what every node inherits from cloudify.nodes.Root: not the resource's business.
const good = { name: 'web', image: 'ubuntu', use_external_resource: false };

async function created(props: Record<string, Json> = good): Promise<FakeInstance> {
  reset();
  const instance = new FakeInstance(props);
  const [r] = await instance.runToEnd(ops.create);
  assert.equal(r!.outcome, 'ok');
  reset(0, false);
  return instance;
}

/** A created server whose update to another image (a replacement) failed to create the new one. */
async function failedReplacement(): Promise<FakeInstance> {
  const instance = await created();
  instance.properties = { ...good, image: 'debian' };
  const original = Server.prototype.checkCreateComplete;
  Server.prototype.checkCreateComplete = () => {
    throw new NonRecoverableError('ERROR state');
  };
  try {
    failed(await instance.run(ops.update));
  } finally {
    Server.prototype.checkCreateComplete = original;
  }
  return instance;
}

// ---------------------------------------------------------------------------------------------

describe('properties schema', () => {
  test('each type is checked and converted as Heat does', async () => {
    const schema = {
      s: { type: 'string' },
      sn: { type: 'string' },
      i: { type: 'integer' },
      n: { type: 'number' },
      b: { type: 'boolean' },
      m: { type: 'map' },
      l: { type: 'list' },
    } satisfies PropertiesSchema;
    const ok = await validateProperties(schema, {
      s: 'x',
      sn: 42,
      i: '7',
      n: '2.5',
      b: 'TRUE',
      m: { a: 1 },
      l: [1],
    });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.values, { s: 'x', sn: '42', i: 7, n: 2.5, b: true, m: { a: 1 }, l: [1] });
    const bad = await validateProperties(schema, {
      s: [1],
      sn: {},
      i: 7.5,
      n: 'abc',
      b: 'maybe',
      m: [1],
      l: 'a,b',
    });
    assert.deepEqual(
      bad.problems.map((p) => `${p.path}: ${p.message}`),
      [
        's: [1] is not a string',
        'sn: {} is not a string',
        'i: 7.5 is not an integer',
        'n: "abc" is not a number',
        'b: "maybe" is not a boolean',
        'm: [1] is not a map',
        'l: "a,b" is not a list',
      ],
    );
  });

  test('required, defaults (copied, nested ones too) and null as missing', async () => {
    const schema = {
      name: { type: 'string', required: true },
      size: { type: 'integer', default: 1, required: true },
      tags: { type: 'list', default: ['a'] },
      opts: { type: 'map', schema: { retries: { type: 'integer', default: 3 }, mode: { type: 'string' } } },
      optional: { type: 'string' },
    } satisfies PropertiesSchema;
    const missing = await validateProperties(schema, { name: null });
    assert.deepEqual(
      missing.problems.map((p) => `${p.path}: ${p.message}`),
      ['name: is required'],
    );
    const { values, problems } = await validateProperties(schema, { name: 'x', opts: { mode: 'fast' } });
    assert.deepEqual(problems, []);
    assert.deepEqual(values, { name: 'x', size: 1, tags: ['a'], opts: { retries: 3, mode: 'fast' } });
    (values.tags as Json[]).push('b');
    assert.deepEqual(schema.tags.default, ['a']);
  });

  test('AllowedPattern matches the whole string; a description replaces the message', async () => {
    const schema = {
      foo: { type: 'string', constraints: [AllowedPattern('(Ba[rc]?)+')] },
      bar: { type: 'string', constraints: [AllowedPattern(/[a-z]+/i, 'letters only')] },
    } satisfies PropertiesSchema;
    assert.deepEqual((await validateProperties(schema, { foo: 'BarBacBa', bar: 'aBc' })).problems, []);
    const { problems } = await validateProperties(schema, { foo: 'BarX', bar: 'a1' });
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      ['foo: "BarX" does not match pattern "(Ba[rc]?)+"', 'bar: letters only'],
    );
  });

  test('AllowedValues on scalars and on each item of a list', async () => {
    const schema = {
      size: { type: 'string', constraints: [AllowedValues(['s', 'm'])] },
      port: { type: 'integer', constraints: [AllowedValues([80, 443])] },
      zones: { type: 'list', constraints: [AllowedValues(['a', 'b'])] },
    } satisfies PropertiesSchema;
    assert.deepEqual(
      (await validateProperties(schema, { size: 'm', port: '443', zones: ['a', 'b'] })).problems,
      [],
    );
    const { problems } = await validateProperties(schema, { size: 'xl', port: 8080, zones: ['a', 'c'] });
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      [
        'size: "xl" is not one of ["s", "m"]',
        'port: 8080 is not one of [80, 443]',
        'zones[1]: "c" is not one of ["a", "b"]',
      ],
    );
  });

  test('Length on strings, lists and maps; Range on numbers', async () => {
    const schema = {
      name: { type: 'string', constraints: [Length({ min: 2, max: 4 })] },
      list: { type: 'list', constraints: [Length({ min: 1 })] },
      map: { type: 'map', constraints: [Length({ max: 1, description: "don't go crazy" })] },
      count: { type: 'integer', constraints: [Range({ min: 5, max: 10 })] },
      ratio: { type: 'number', constraints: [Range({ max: 1 })] },
    } satisfies PropertiesSchema;
    const fine = await validateProperties(schema, {
      name: 'abcd',
      list: [1],
      map: { a: 1 },
      count: 5,
      ratio: 0.5,
    });
    assert.deepEqual(fine.problems, []);
    const { problems } = await validateProperties(schema, {
      name: 'abcde',
      list: [],
      map: { a: 1, b: 2 },
      count: 11,
      ratio: 1.5,
    });
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      [
        'name: length 5 is not between 2 and 4',
        'list: length 0 is not at least 1',
        "map: don't go crazy",
        'count: 11 is not between 5 and 10',
        'ratio: 1.5 is not at most 1',
      ],
    );
  });

  test('Custom constraints, synchronous, asynchronous or throwing', async () => {
    const schema = {
      even: { type: 'integer', constraints: [Custom((v) => (v as number) % 2 === 0, 'must be even')] },
      flavor: { type: 'string', constraints: [Custom(async (v) => v === 'm1.small', 'no such flavor')] },
      odd: {
        type: 'string',
        constraints: [
          Custom(() => {
            throw new Error('lookup failed');
          }, 'cannot check'),
        ],
      },
    } satisfies PropertiesSchema;
    assert.deepEqual(
      (await validateProperties(schema, { even: 4, flavor: 'm1.small' })).problems.map((p) => p.message),
      [],
    );
    const { problems } = await validateProperties(schema, { even: 3, flavor: 'huge', odd: 'x' });
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      ['even: must be even', 'flavor: no such flavor', 'odd: cannot check (lookup failed)'],
    );
  });

  test('nested map and list schemas report paths into the value', async () => {
    const schema = {
      network: {
        type: 'map',
        required: true,
        schema: {
          name: { type: 'string', required: true },
          ports: {
            type: 'list',
            schema: {
              type: 'map',
              schema: {
                number: { type: 'integer', required: true, constraints: [Range({ min: 1, max: 65535 })] },
                protocol: { type: 'string', default: 'tcp', constraints: [AllowedValues(['tcp', 'udp'])] },
              },
            },
          },
        },
      },
      names: { type: 'list', schema: { type: 'string', constraints: [Length({ max: 3 })] } },
    } satisfies PropertiesSchema;
    const ok = await validateProperties(schema, {
      network: { name: 'n', ports: [{ number: 80 }, { number: '53', protocol: 'udp' }] },
      names: ['a', 'bc'],
    });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.values.network, {
      name: 'n',
      ports: [
        { number: 80, protocol: 'tcp' },
        { number: 53, protocol: 'udp' },
      ],
    });
    const { problems } = await validateProperties(schema, {
      network: { ports: [{ number: 0 }, { protocol: 'icmp', extra: true }, 'x'] },
      names: ['abcd'],
    });
    assert.deepEqual(
      problems.map((p) => `${p.path}: ${p.message}`),
      [
        'network.name: is required',
        'network.ports[0].number: 0 is not between 1 and 65535',
        'network.ports[1].number: is required',
        'network.ports[1].protocol: "icmp" is not one of ["tcp", "udp"]',
        'network.ports[1].extra: unknown property',
        'network.ports[2]: "x" is not a map',
        'names[0]: length 4 is not at most 3',
      ],
    );
  });

  test('unknown top-level properties are left out, or errors when asked; reserved names are never reported', async () => {
    const schema = { a: { type: 'string' } } satisfies PropertiesSchema;
    const strict = await validateProperties(
      schema,
      { a: 'x', b: 1, deletion_policy: 'Retain' },
      { unknown: 'error', reserved: ['deletion_policy'] },
    );
    assert.deepEqual(
      strict.problems.map((p) => `${p.path}: ${p.message}`),
      ['b: unknown property'],
    );
    const loose = await validateProperties(schema, { a: 'x', use_external_resource: false });
    assert.deepEqual(loose, { values: { a: 'x' }, problems: [] });
  });

  test('a broken schema is found: constraints on the wrong type, bad bounds, bad patterns', () => {
    const problems = checkSchema({
      a: { type: 'string', constraints: [Range({ min: 1 })] },
      b: { type: 'map', constraints: [AllowedValues([1])] },
      c: { type: 'integer', constraints: [Range({ min: 5, max: 1 })] },
      d: { type: 'string', constraints: [AllowedPattern('(')] },
      e: { type: 'list', schema: { type: 'boolean', constraints: [Length({ max: 1 })] } },
      f: { type: 'widget' } as never,
    });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['a', 'b', 'c', 'd', 'e[*]', 'f'],
    );
    assert.match(problems[0]!.message, /Range does not apply to a string property/);
  });

  test('every problem is reported at once before create, and nothing is created', async () => {
    reset();
    const instance = new FakeInstance({
      name: 5,
      flavor: 'huge',
      metadata: 'x',
      colour: 'red',
      deletion_policy: 'Keep',
    });
    const error = failed(
      await instance.run(resourceOperations(Server, { unknownProperties: 'error' }).create),
    );
    assert.ok(error instanceof PropertiesError);
    assert.ok(error instanceof NonRecoverableError);
    assert.deepEqual(
      error.problems.map((p) => `${p.path}: ${p.message}`),
      [
        'flavor: "huge" is not one of ["small", "large"]',
        'image: is required',
        'metadata: "x" is not a map',
        'colour: unknown property',
        'deletion_policy: must be one of Delete, Retain, Snapshot',
      ],
    );
    for (const problem of error.problems)
      assert.ok(error.message.includes(`${problem.path}: ${problem.message}`));
    assert.match(error.message, /invalid properties for Server server_1: 5 problems/);
    assert.equal(error.causes.length, 5);
    assert.deepEqual(journal.calls, []);
    assert.deepEqual(instance.saved, {}, 'no bookkeeping is left behind');
  });

  test('an invalid schema fails create as a plugin bug', async () => {
    class Broken extends Resource {
      static override properties: PropertiesSchema = {
        a: { type: 'boolean', constraints: [Length({ max: 1 })] },
      };
      override handleCreate(): Token {
        return undefined;
      }
    }
    const error = failed(await new FakeInstance({}).run(resourceOperations(Broken).create));
    assert.ok(error instanceof NonRecoverableError);
    assert.match(
      error.message,
      /Broken has an invalid properties schema.*\n {2}a: Length does not apply to a boolean/,
    );
  });
});

describe('create', () => {
  test('async completion: handleCreate once, then polls with the stored token on the engine timer', async () => {
    reset(2);
    const instance = new FakeInstance(good);
    const first = await instance.run(ops.create);
    assert.equal(first.outcome, 'retry');
    assert.deepEqual(first.retry, { message: 'waiting for Server to be created', after: 2 });
    assert.ok(first.logs.includes('info: creating Server server_1'));
    // The token and the resource id were saved before the first poll.
    assert.deepEqual(instance.heat.pending, {
      action: 'CREATE',
      phase: 'polling',
      token: { id: 'srv-1', started: 'now' },
    });
    assert.equal(instance.saved.resource_id, 'srv-1');
    assert.deepEqual(instance.heat.state, { action: 'CREATE', status: 'IN_PROGRESS' });
    assert.ok(instance.updates >= 2);

    const second = await instance.run(ops.create);
    assert.equal(second.outcome, 'retry');
    const third = await instance.run(ops.create);
    assert.equal(third.outcome, 'ok');
    assert.deepEqual(journal.calls, [
      'handleCreate web/small/ubuntu',
      'checkCreate',
      'checkCreate',
      'checkCreate',
    ]);
    assert.deepEqual(journal.tokens, [
      { id: 'srv-1', started: 'now' },
      { id: 'srv-1', started: 'now' },
      { id: 'srv-1', started: 'now' },
    ]);
    assert.deepEqual(instance.heat.state, { action: 'CREATE', status: 'COMPLETE' });
    assert.equal(instance.heat.pending, undefined);
    // The validated properties (defaults applied) are kept for update's diff.
    assert.deepEqual(instance.heat.properties, {
      name: 'web',
      flavor: 'small',
      image: 'ubuntu',
      metadata: {},
    });
    // Attributes were written for get_attribute.
    assert.equal(instance.saved.address, '10.0.0.1');
    assert.equal(instance.saved.flavor, 'small');
    assert.ok(third.logs.includes('info: Server created (resource id srv-1)'));
  });

  test('polling survives a crash: only what update() saved is needed', async () => {
    reset(1);
    const instance = new FakeInstance(good);
    const first = await instance.run(ops.create, {}, true);
    assert.equal(first.outcome, 'retry');
    const again = await instance.run(ops.create);
    assert.equal(again.outcome, 'ok');
    assert.equal(journal.calls.filter((c) => c.startsWith('handleCreate')).length, 1);
  });

  test('a handleCreate interrupted by a crash runs again, with a warning', async () => {
    reset();
    class Crashy extends Resource {
      static override properties: PropertiesSchema = {};
      static crashes = 1;
      override handleCreate(): Token {
        journal.calls.push('handleCreate');
        if (Crashy.crashes-- > 0) throw new Error('process died');
        return 'ok';
      }
    }
    const crashy = resourceOperations(Crashy);
    const instance = new FakeInstance({});
    await instance.run(crashy.create, {}, true);
    assert.equal(instance.heat.pending?.phase, 'handling');
    const r = await instance.run(crashy.create);
    assert.equal(r.outcome, 'ok');
    assert.ok(r.logs.some((l) => /warning: an earlier handleCreate of Crashy was interrupted/.test(l)));
    assert.deepEqual(journal.calls, ['handleCreate', 'handleCreate']);
  });

  test('a failed handleCreate marks CREATE FAILED and the next run creates again', async () => {
    reset();
    let fail = true;
    class Flaky extends Resource {
      override handleCreate(): Token {
        journal.calls.push('handleCreate');
        if (fail) throw new RecoverableError('quota busy');
        return null;
      }
    }
    const flaky = resourceOperations(Flaky);
    const instance = new FakeInstance({});
    const r = failed(await instance.run(flaky.create));
    assert.ok(r instanceof RecoverableError);
    assert.deepEqual(instance.heat.state, { action: 'CREATE', status: 'FAILED', reason: 'quota busy' });
    fail = false;
    assert.equal((await instance.run(flaky.create)).outcome, 'ok');
    assert.deepEqual(journal.calls, ['handleCreate', 'handleCreate']);
  });

  test('a check that throws a recoverable error keeps the token; a non-recoverable one drops it', async () => {
    reset();
    let error: Error = new RecoverableError('API timeout');
    class Checky extends Resource {
      override handleCreate(): Token {
        journal.calls.push('handleCreate');
        return 'tok';
      }
      override checkCreateComplete(token: Json): boolean {
        journal.tokens.push(token);
        throw error;
      }
    }
    const checky = resourceOperations(Checky);
    const instance = new FakeInstance({});
    failed(await instance.run(checky.create));
    assert.equal(instance.heat.pending?.token, 'tok');
    error = new NonRecoverableError('ERROR state');
    failed(await instance.run(checky.create));
    assert.equal(instance.heat.pending, undefined);
    assert.deepEqual(instance.heat.state, { action: 'CREATE', status: 'FAILED', reason: 'ERROR state' });
    assert.deepEqual(journal.calls, ['handleCreate']);
    assert.deepEqual(journal.tokens, ['tok', 'tok']);
  });

  test('running create again on a created resource does nothing', async () => {
    const instance = await created();
    const r = await instance.run(ops.create);
    assert.equal(r.outcome, 'ok');
    assert.deepEqual(journal.calls, []);
    assert.ok(r.logs.includes('info: Server server_1 already exists; nothing to create'));
  });
});

describe('update', () => {
  test('in place when every changed property is updateAllowed, polling checkUpdateComplete', async () => {
    const instance = await created({ ...good, metadata: { a: '1' } });
    journal.polls = 1;
    instance.properties = { name: 'web2', image: 'ubuntu', flavor: 'large' };
    const first = await instance.run(ops.update);
    assert.equal(first.outcome, 'retry');
    assert.deepEqual(first.retry, { message: 'waiting for Server to be updated', after: 2 });
    assert.ok(first.logs.includes('info: updating Server server_1 in place: name, flavor, metadata'));
    const second = await instance.run(ops.update);
    assert.equal(second.outcome, 'ok');
    assert.deepEqual(journal.calls, ['handleUpdate', 'checkUpdate', 'checkUpdate']);
    assert.deepEqual(journal.tokens, ['update-srv-1', 'update-srv-1']);
    const next = { name: 'web2', flavor: 'large', image: 'ubuntu', metadata: {} };
    // As in Heat, handleUpdate sees the old properties as this.properties and the changes in its arguments.
    assert.deepEqual(journal.seen.old, {
      name: 'web',
      flavor: 'small',
      image: 'ubuntu',
      metadata: { a: '1' },
    });
    assert.deepEqual(journal.seen.propertyDiff, { name: 'web2', flavor: 'large', metadata: {} });
    assert.deepEqual(journal.seen.templateDiff, { properties: next });
    assert.deepEqual(journal.seen.snippet, { type: 'test.nodes.Server', properties: next });
    assert.deepEqual(instance.heat.properties, next);
    assert.deepEqual(instance.heat.state, { action: 'UPDATE', status: 'COMPLETE' });
    assert.equal(instance.saved.resource_id, 'srv-1');
    assert.equal(instance.saved.flavor, 'large', 'attributes refreshed');
  });

  test('the `properties` input is laid over the current properties; one set to null is removed (null in the diff)', async () => {
    class Loose extends Resource {
      static override properties: PropertiesSchema = {
        a: { type: 'string', updateAllowed: true },
        b: { type: 'string', updateAllowed: true },
      };
      override handleCreate(): Token {
        return undefined;
      }
      override handleUpdate(_s: ResourceDefinition, _t: TemplateDiff, diff: PropertyDiff): Token {
        journal.seen.propertyDiff = diff;
        return undefined;
      }
    }
    reset();
    const loose = resourceOperations(Loose);
    const instance = new FakeInstance({ a: 'x', b: 'y' });
    await instance.run(loose.create);
    assert.equal((await instance.run(loose.update, { properties: { a: 'z' } })).outcome, 'ok');
    assert.deepEqual(journal.seen.propertyDiff, { a: 'z' }, 'b is kept');
    assert.equal((await instance.run(loose.update, { properties: { b: null } })).outcome, 'ok');
    assert.deepEqual(journal.seen.propertyDiff, { b: null });
    const wrong = await instance.run(loose.update, { properties: ['a'] });
    assert.match(
      String(wrong.error),
      /update's properties input must be a map of the properties to change, not a list/,
    );
  });

  test('nothing changed (properties outside the schema do not count): nothing to do', async () => {
    const instance = await created();
    instance.properties = { ...good, use_external_resource: true };
    const r = await instance.run(ops.update);
    assert.equal(r.outcome, 'ok');
    assert.deepEqual(journal.calls, []);
    assert.ok(r.logs.some((l) => l.includes('no property changed')));
  });

  test('replace when a changed property is not updateAllowed: create the new, then delete the old', async () => {
    const instance = await created();
    journal.polls = 1;
    instance.properties = { ...good, image: 'debian', name: 'web3' };
    const results = await instance.runToEnd(ops.update);
    assert.deepEqual(
      results.map((r) => r.retry?.message ?? r.outcome),
      ['waiting for Server to be created', 'waiting for Server to be deleted', 'ok'],
    );
    assert.ok(
      results[0]!.logs.includes(
        'warning: replacing Server server_1: image cannot be updated in place; creating a new resource, then deleting the old one',
      ),
    );
    // The old one is deleted as it was: its own id and properties.
    assert.deepEqual(journal.calls, [
      'handleCreate web3/small/debian',
      'checkCreate',
      'checkCreate',
      'handleDelete srv-1 web',
      'checkDelete',
      'checkDelete',
    ]);
    assert.ok(results[1]!.logs.includes('info: deleting Server srv-1'));
    assert.equal(instance.saved.resource_id, 'srv-2');
    assert.equal(instance.saved.address, '10.0.0.2');
    assert.deepEqual(instance.heat.properties, {
      name: 'web3',
      flavor: 'small',
      image: 'debian',
      metadata: {},
    });
    assert.deepEqual(instance.heat.state, { action: 'UPDATE', status: 'COMPLETE', reason: 'replaced' });
    assert.deepEqual(Object.keys(instance.heat).sort(), ['properties', 'state']);
    assert.ok(results[2]!.logs.includes('info: Server replaced'));
  });

  test('a replacement that fails to create leaves the old one in place; the next update deletes the failed one first', async () => {
    const instance = await created();
    instance.properties = { ...good, image: 'debian' };
    const original = Server.prototype.handleCreate;
    Server.prototype.handleCreate = function (this: Server) {
      journal.calls.push('handleCreate fails');
      this.resourceId = 'srv-broken';
      throw new NonRecoverableError('quota exceeded');
    };
    let r: Awaited<ReturnType<FakeInstance['run']>>;
    try {
      r = await instance.run(ops.update);
    } finally {
      Server.prototype.handleCreate = original;
    }
    assert.equal(failed(r).message, 'quota exceeded');
    assert.ok(
      r.logs.includes(
        'warning: the replacement of Server server_1 was not created; the old one (srv-1) stays in place',
      ),
    );
    assert.deepEqual(journal.calls, ['handleCreate fails']);
    assert.equal(instance.saved.resource_id, 'srv-1');
    assert.equal(instance.saved.address, '10.0.0.1');
    assert.equal(instance.heat.properties?.image, 'ubuntu');
    assert.deepEqual(instance.heat.state, {
      action: 'UPDATE',
      status: 'FAILED',
      reason: 'the replacement failed: quota exceeded',
    });

    // Retried: the failed replacement is deleted (as it saw itself), then the replacement is made again.
    reset(0, false);
    const [again] = await instance.runToEnd(ops.update);
    assert.equal(again!.outcome, 'ok');
    assert.deepEqual(journal.calls, [
      'handleDelete srv-broken web',
      'checkDelete',
      'handleCreate web/small/debian',
      'checkCreate',
      'handleDelete srv-1 web',
      'checkDelete',
    ]);
    assert.equal(instance.saved.resource_id, 'srv-2');
    assert.deepEqual(instance.heat.state, { action: 'UPDATE', status: 'COMPLETE', reason: 'replaced' });
  });

  test('after a failed replacement, an update back to the old properties keeps the old one as it was', async () => {
    const instance = await failedReplacement();
    assert.equal(instance.heat.state?.status, 'FAILED');
    // As Heat's stack update takes the old resource (not the FAILED replacement) as the one to
    // change: nothing changed from it, so only the failed one is deleted.
    instance.properties = good;
    reset(0, false);
    const [back] = await instance.runToEnd(ops.update);
    assert.equal(back!.outcome, 'ok');
    assert.deepEqual(journal.calls, ['handleDelete srv-2 web', 'checkDelete']);
    assert.equal(instance.saved.resource_id, 'srv-1');
    assert.deepEqual(instance.heat.state, { action: 'CREATE', status: 'COMPLETE' });
    assert.ok(!('condemned' in instance.heat));
  });

  test('after a failed replacement, delete removes the failed one and the old one', async () => {
    const instance = await failedReplacement();
    assert.equal(instance.saved.resource_id, 'srv-1');
    const [r] = await instance.runToEnd(ops.delete);
    assert.equal(r!.outcome, 'ok');
    assert.deepEqual(journal.calls, [
      'handleCreate web/small/debian',
      'handleDelete srv-2 web',
      'checkDelete',
      'handleDelete srv-1 web',
      'checkDelete',
    ]);
    assert.deepEqual(instance.heat.state, { action: 'DELETE', status: 'COMPLETE' });
  });

  test('a replacement interrupted between create and delete neither creates twice nor forgets the old one', async () => {
    const instance = await created();
    instance.properties = { ...good, image: 'debian' };
    class Stop extends Error {}
    const original = Server.prototype.handleDelete;
    Server.prototype.handleDelete = () => {
      throw new Stop('crash');
    };
    try {
      await instance.run(ops.update, {}, true);
    } finally {
      Server.prototype.handleDelete = original;
    }
    assert.equal(instance.saved.resource_id, 'srv-2');
    const r = await instance.run(ops.update);
    assert.equal(r.outcome, 'ok');
    assert.ok(r.logs.includes('info: continuing the replacement of Server server_1'));
    assert.deepEqual(journal.calls, [
      'handleCreate web/small/debian',
      'checkCreate',
      'handleDelete srv-1 web',
      'checkDelete',
    ]);
  });

  test('deleteBeforeReplace: delete the old, then create the new', async () => {
    const deleteFirst = resourceOperations(Server, { deleteBeforeReplace: true });
    const instance = await created();
    journal.polls = 1;
    instance.properties = { ...good, image: 'debian', name: 'web3' };
    const results = await instance.runToEnd(deleteFirst.update);
    assert.deepEqual(
      results.map((r) => r.retry?.message ?? r.outcome),
      ['waiting for Server to be deleted', 'waiting for Server to be created', 'ok'],
    );
    assert.ok(
      results[0]!.logs.includes(
        'warning: replacing Server server_1: image cannot be updated in place; deleting the old resource, then creating a new one',
      ),
    );
    assert.deepEqual(journal.calls, [
      'handleDelete srv-1 web',
      'checkDelete',
      'checkDelete',
      'handleCreate web3/small/debian',
      'checkCreate',
      'checkCreate',
    ]);
    assert.equal(instance.saved.resource_id, 'srv-2');
    assert.equal(instance.saved.address, '10.0.0.2');
    assert.deepEqual(instance.heat.state, { action: 'UPDATE', status: 'COMPLETE', reason: 'replaced' });
    assert.ok(results[2]!.logs.includes('info: Server replaced'));

    // The class may choose it too; the options win.
    class Exclusive extends Server {
      static override deleteBeforeReplace = true;
    }
    reset();
    const exclusive = new FakeInstance(good);
    await exclusive.runToEnd(resourceOperations(Exclusive).create);
    exclusive.properties = { ...good, image: 'debian' };
    await exclusive.runToEnd(resourceOperations(Exclusive).update);
    assert.deepEqual(journal.calls.slice(2), [
      'handleDelete srv-1 web',
      'checkDelete',
      'handleCreate web/small/debian',
      'checkCreate',
    ]);
    exclusive.properties = { ...good, image: 'alpine' };
    await exclusive.runToEnd(resourceOperations(Exclusive, { deleteBeforeReplace: false }).update);
    assert.deepEqual(journal.calls.slice(6), [
      'handleCreate web/small/alpine',
      'checkCreate',
      'handleDelete srv-2 web',
      'checkDelete',
    ]);
  });

  test('a delete-first replacement interrupted between delete and create does not delete twice', async () => {
    const deleteFirst = resourceOperations(Server, { deleteBeforeReplace: true });
    const instance = await created();
    instance.properties = { ...good, image: 'debian' };
    // The delete finishes, and the hand-over to create is saved before handleCreate runs.
    class Stop extends Error {}
    const original = Server.prototype.handleCreate;
    Server.prototype.handleCreate = () => {
      throw new Stop('crash');
    };
    try {
      await instance.run(deleteFirst.update, {}, true);
    } finally {
      Server.prototype.handleCreate = original;
    }
    assert.equal(instance.heat.pending?.action, 'CREATE');
    assert.equal(instance.saved.resource_id, null);
    // The replacement goes on as it started, whatever the class says now.
    const r = await instance.run(ops.update);
    assert.equal(r.outcome, 'ok');
    assert.deepEqual(journal.calls, [
      'handleDelete srv-1 web',
      'checkDelete',
      'handleCreate web/small/debian',
      'checkCreate',
    ]);
  });

  test('handleUpdate may throw UpdateReplace; without a handleUpdate, updateAllowed changes replace too', async () => {
    class Picky extends Server {
      override handleUpdate(): Token {
        journal.calls.push('handleUpdate');
        throw new UpdateReplace('flavor change needs a rebuild');
      }
    }
    reset();
    const picky = resourceOperations(Picky);
    const instance = new FakeInstance(good);
    await instance.runToEnd(picky.create);
    reset(0, false);
    instance.properties = { ...good, flavor: 'large' };
    const [r] = await instance.runToEnd(picky.update);
    assert.equal(r!.outcome, 'ok');
    assert.ok(
      r!.logs.some((l) => l.includes('warning: replacing Picky server_1: flavor change needs a rebuild')),
    );
    assert.deepEqual(journal.calls, [
      'handleUpdate',
      'handleCreate web/large/ubuntu',
      'checkCreate',
      'handleDelete srv-1 web',
      'checkDelete',
    ]);

    class Plain extends Resource {
      static override properties: PropertiesSchema = { a: { type: 'string', updateAllowed: true } };
      override handleCreate(): Token {
        journal.calls.push('create');
        return undefined;
      }
      override handleDelete(): Token {
        journal.calls.push('delete');
        return undefined;
      }
    }
    reset();
    const plain = resourceOperations(Plain);
    const other = new FakeInstance({ a: '1' });
    await other.run(plain.create);
    other.properties = { a: '2' };
    assert.equal((await other.run(plain.update)).outcome, 'ok');
    assert.deepEqual(journal.calls, ['create', 'create', 'delete']);
  });

  test('invalid new properties are reported before anything changes', async () => {
    const instance = await created();
    instance.properties = { name: 'x', flavor: 'tiny' };
    const error = failed(await instance.run(ops.update));
    assert.ok(error instanceof PropertiesError);
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['flavor', 'image'],
    );
    assert.deepEqual(journal.calls, []);
  });

  test('a resource that does not exist cannot be updated', async () => {
    reset();
    const error = failed(await new FakeInstance(good).run(ops.update));
    assert.match(error.message, /cannot be updated: it does not exist/);
  });
});

describe('delete and deletion policies', () => {
  test('Delete: handleDelete, then checkDeleteComplete until done', async () => {
    const instance = await created();
    journal.polls = 1;
    const results = await instance.runToEnd(ops.delete);
    assert.deepEqual(
      results.map((r) => r.retry?.message ?? r.outcome),
      ['waiting for Server to be deleted', 'ok'],
    );
    assert.deepEqual(journal.calls, ['handleDelete srv-1 web', 'checkDelete', 'checkDelete']);
    assert.deepEqual(journal.tokens, ['delete-srv-1', 'delete-srv-1']);
    assert.deepEqual(instance.heat.state, { action: 'DELETE', status: 'COMPLETE' });
    // Deleting again, or something never created, does nothing.
    assert.equal((await instance.run(ops.delete)).outcome, 'ok');
    assert.equal((await new FakeInstance(good).run(ops.delete)).outcome, 'ok');
    assert.equal(journal.calls.length, 3);
    // And it can be created again afterwards, as a new resource.
    reset();
    assert.equal((await instance.run(ops.create)).outcome, 'ok');
    assert.equal(journal.calls[0], 'handleCreate web/small/ubuntu');
  });

  test('Retain: the resource is left in place and no handler runs', async () => {
    const instance = await created({ ...good, deletion_policy: 'retain' });
    const r = await instance.run(ops.delete);
    assert.equal(r.outcome, 'ok');
    assert.deepEqual(journal.calls, []);
    assert.ok(r.logs.includes('info: retaining Server srv-1 (deletion policy Retain): it is left in place'));
    assert.deepEqual(instance.heat.state, { action: 'DELETE', status: 'COMPLETE', reason: 'retained' });
    assert.equal(instance.saved.resource_id, 'srv-1');
  });

  test('Snapshot: handleSnapshotDelete (with the state) instead of handleDelete, polled by checkDeleteComplete', async () => {
    const instance = await created({ ...good, deletion_policy: 'Snapshot' });
    journal.polls = 1;
    const results = await instance.runToEnd(ops.delete);
    assert.equal(results.length, 2);
    assert.deepEqual(journal.calls, [
      'handleSnapshotDelete srv-1 CREATE_COMPLETE',
      'checkDelete',
      'checkDelete',
    ]);
    assert.deepEqual(journal.tokens, ['snapshot-srv-1', 'snapshot-srv-1']);
    assert.ok(
      results[0]!.logs.includes('info: deleting Server srv-1 after a snapshot (deletion policy Snapshot)'),
    );
  });

  test('the policy comes from the node, else the options, else the class', async () => {
    class Kept extends Server {
      static override deletionPolicy = 'Retain' as const;
    }
    const kept = await (async () => {
      reset();
      const i = new FakeInstance(good);
      await i.runToEnd(resourceOperations(Kept).create);
      reset(0, false);
      return i;
    })();
    await kept.run(resourceOperations(Kept).delete);
    assert.deepEqual(journal.calls, [], 'class default Retain');

    const instance = await created();
    await instance.runToEnd(resourceOperations(Server, { deletionPolicy: 'Snapshot' }).delete);
    assert.match(journal.calls[0]!, /^handleSnapshotDelete/, 'options');

    const node = await created({ ...good, deletion_policy: 'Delete' });
    await node.runToEnd(resourceOperations(Kept).delete);
    assert.match(journal.calls[0]!, /^handleDelete/, 'the node wins');
  });

  test('Snapshot on a resource without handleSnapshotDelete is a validation problem', async () => {
    class NoSnap extends Resource {
      override handleCreate(): Token {
        return undefined;
      }
    }
    const error = failed(
      await new FakeInstance({ deletion_policy: 'Snapshot' }).run(resourceOperations(NoSnap).create),
    );
    assert.ok(error instanceof PropertiesError);
    assert.deepEqual(
      error.problems.map((p) => `${p.path}: ${p.message}`),
      ['deletion_policy: Snapshot is not supported by NoSnap (it has no handleSnapshotDelete)'],
    );
  });

  test('deleting while a create is still polling abandons it and deletes the resource', async () => {
    reset(5);
    const instance = new FakeInstance(good);
    assert.equal((await instance.run(ops.create)).outcome, 'retry');
    journal.polls = 0;
    const r = await instance.run(ops.delete);
    assert.equal(r.outcome, 'ok');
    assert.ok(r.logs.some((l) => l.includes('abandoning the unfinished create of Server')));
    assert.deepEqual(journal.calls.slice(-2), ['handleDelete srv-1 web', 'checkDelete']);
  });
});

describe('suspend and resume', () => {
  test('suspend then resume, each polled; repeated calls are no-ops', async () => {
    const instance = await created();
    journal.polls = 1;
    const suspended = await instance.runToEnd(ops.suspend);
    assert.deepEqual(
      suspended.map((r) => r.retry?.message ?? r.outcome),
      ['waiting for Server to be suspended', 'ok'],
    );
    assert.deepEqual(instance.heat.state, { action: 'SUSPEND', status: 'COMPLETE' });
    assert.equal((await instance.run(ops.suspend)).outcome, 'ok');
    const error = failed(await instance.run(ops.update));
    assert.match(error.message, /is suspended; resume it before updating it/);
    const resumed = await instance.runToEnd(ops.resume);
    assert.deepEqual(
      resumed.map((r) => r.retry?.message ?? r.outcome),
      ['waiting for Server to be resumed', 'ok'],
    );
    assert.deepEqual(instance.heat.state, { action: 'RESUME', status: 'COMPLETE' });
    const again = await instance.run(ops.resume);
    assert.ok(again.logs.some((l) => l.includes('is not suspended; nothing to resume')));
    assert.deepEqual(journal.calls, [
      'handleSuspend',
      'checkSuspend',
      'checkSuspend',
      'handleResume',
      'checkResume',
      'checkResume',
    ]);
    assert.deepEqual(journal.tokens, ['suspending', 'suspending', 'resuming', 'resuming']);
  });

  test('a resource that was never created cannot be suspended or resumed', async () => {
    reset();
    const instance = new FakeInstance(good);
    assert.match(failed(await instance.run(ops.suspend)).message, /cannot be suspended: it does not exist/);
    assert.match(failed(await instance.run(ops.resume)).message, /cannot be resumed: it does not exist/);
  });
});

describe('attributes', () => {
  test('resolveAttribute values are written into runtime properties, null when unknown', async () => {
    class Attrs extends Resource {
      static override attributes = { first: 'The first', second: 'Not known yet' };
      value = 'one';
      override handleCreate(): Token {
        this.resourceId = 'a-1';
        return undefined;
      }
      override resolveAttribute(name: string): Promise<Json | undefined> {
        return Promise.resolve(name === 'first' ? `${this.resourceId}:${this.value}` : undefined);
      }
    }
    const attrs = resourceOperations(Attrs, { refreshAttributes: false });
    const instance = new FakeInstance({});
    await instance.run(attrs.create);
    assert.equal(instance.saved.first, undefined, 'not written when refreshAttributes is false');
    assert.equal((await instance.run(attrs.attributes)).outcome, 'ok');
    assert.equal(instance.saved.first, 'a-1:one');
    assert.equal(instance.saved.second, null);
    delete instance.saved.first;
    await instance.run(attrs.attributes, { names: ['second'] });
    assert.equal(instance.saved.first, undefined, 'only the names asked for');
    assert.match(
      failed(await instance.run(attrs.attributes, { names: ['third'] })).message,
      /has no attribute third/,
    );
    assert.match(failed(await new FakeInstance({}).run(attrs.attributes)).message, /does not exist/);
  });

  test('the operations are marked resumable and the properties are typed from the schema', () => {
    assert.equal(ops.create.resumable, true);
    assert.equal(ops.delete.resumable, true);
    // Compile-time: required and defaulted properties are present, the others optional.
    const props: ServerProps = { name: 'a', flavor: 'small', image: 'i', metadata: {} };
    const name: string = props.name;
    assert.equal(name, 'a');
  });
});

test('create.checkProperties gives the problems create would find, without creating; through a mapping too', async () => {
  class Disk extends Resource {
    static override properties: PropertiesSchema = {
      size: { type: 'integer', required: true, constraints: [Range({ min: 1, max: 10 })] },
    };
    override handleCreate(): Token {
      throw new Error('not to be called');
    }
  }
  const ops = resourceOperations(Disk);
  assert.deepEqual(await ops.create.checkProperties({ size: 20 }), [
    { path: 'size', message: '20 is not between 1 and 10' },
  ]);
  assert.deepEqual(await ops.create.checkProperties({ size: 5 }), []);
  const mapped = resourceMapping({ 'my.Disk': Disk });
  assert.deepEqual(
    await mapped.create.checkProperties({}, ['cloudify.nodes.Root', 'my.Disk', 'my.FastDisk']),
    [{ path: 'size', message: 'is required' }],
  );
  assert.deepEqual(await mapped.create.checkProperties({}, ['cloudify.nodes.Root']), [], 'not a mapped type');
});
