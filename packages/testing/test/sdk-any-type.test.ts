// Properties of type `any` (Heat's ANY): any JSON value, kept as given, with required, defaults,
// Custom constraints, nesting, and update diffs that compare values deeply.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AllowedPattern,
  AllowedValues,
  Custom,
  checkSchema,
  type Json,
  Length,
  PropertiesError,
  type PropertiesOf,
  type PropertiesSchema,
  type PropertyDiff,
  Range,
  Resource,
  type ResourceDefinition,
  resourceOperations,
  type TemplateDiff,
  type Token,
  validateProperties,
} from '@weft/sdk';
import { FakeInstance, failed } from './fake-instance.js';

const problemsOf = (problems: { path: string; message: string }[]) =>
  problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message));

describe('any properties: validation', () => {
  test('every JSON value is taken as given, without conversion', async () => {
    const schema = { v: { type: 'any' } } satisfies PropertiesSchema;
    const given: Json[] = [
      '5',
      5,
      2.5,
      true,
      'true',
      '',
      0,
      false,
      [],
      [1, 'a', null],
      {},
      { a: { b: [1] } },
    ];
    for (const value of given) {
      const { values, problems } = await validateProperties(schema, { v: value });
      assert.deepEqual(problems, [], JSON.stringify(value));
      assert.deepEqual(values, { v: value }, JSON.stringify(value));
    }
  });

  test('required, defaults (copied) and null as missing, as for the other types', async () => {
    const schema = {
      needed: { type: 'any', required: true },
      fallback: { type: 'any', default: { user: 'admin', roles: ['a'] } },
      optional: { type: 'any' },
    } satisfies PropertiesSchema;
    const missing = await validateProperties(schema, { needed: null, optional: null });
    assert.deepEqual(problemsOf(missing.problems), ['needed: is required']);
    assert.deepEqual(missing.values, { fallback: { user: 'admin', roles: ['a'] } });
    const { values, problems } = await validateProperties(schema, { needed: [1] });
    assert.deepEqual(problems, []);
    (values.fallback as { roles: Json[] }).roles.push('b');
    assert.deepEqual(schema.fallback.default.roles, ['a'], 'the default is copied');
  });

  test('the value is a copy: changing it does not change the given properties', async () => {
    const given = { v: { nested: { list: [1, 2] } } };
    const { values } = await validateProperties({ v: { type: 'any' } }, given);
    (values.v as { nested: { list: Json[] } }).nested.list.push(3);
    assert.deepEqual(given.v.nested.list, [1, 2]);
  });

  test('Custom constraints apply; a failing one is reported', async () => {
    const schema = {
      command: {
        type: 'any',
        constraints: [
          Custom(
            (v) => (typeof v === 'string' && v !== '') || (Array.isArray(v) && v.length > 0),
            'must be a string or a list',
          ),
        ],
      },
    } satisfies PropertiesSchema;
    assert.deepEqual((await validateProperties(schema, { command: 'ls -l' })).problems, []);
    assert.deepEqual((await validateProperties(schema, { command: ['ls', '-l'] })).problems, []);
    const { problems } = await validateProperties(schema, { command: { ls: true } });
    assert.deepEqual(problemsOf(problems), ['command: must be a string or a list']);
  });

  test('other constraints and nested schemas do not apply to an any property: a schema problem', () => {
    const problems = checkSchema({
      a: { type: 'any', constraints: [AllowedValues([1, 'one'])] },
      b: { type: 'any', constraints: [Length({ max: 2 })] },
      c: { type: 'any', constraints: [Range({ min: 1 })] },
      d: { type: 'any', constraints: [AllowedPattern('x+')] },
      e: { type: 'any', schema: { type: 'string' } } as never,
      fine: { type: 'any', constraints: [Custom(() => true, 'never')] },
    });
    assert.deepEqual(problemsOf(problems), [
      'a: AllowedValues does not apply to an any property',
      'b: Length does not apply to an any property',
      'c: Range does not apply to an any property',
      'd: AllowedPattern does not apply to an any property',
      'e: a nested schema needs a map or list property, not any',
    ]);
  });

  test('an any property in a nested map schema and as list items', async () => {
    const schema = {
      settings: { type: 'map', schema: { value: { type: 'any', required: true }, name: { type: 'string' } } },
      values: { type: 'list', schema: { type: 'any', required: true } },
    } satisfies PropertiesSchema;
    const ok = await validateProperties(schema, {
      settings: { value: [1, { a: 2 }], name: 'n' },
      values: ['a', 1, { b: [] }],
    });
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.values, {
      settings: { value: [1, { a: 2 }], name: 'n' },
      values: ['a', 1, { b: [] }],
    });
    const bad = await validateProperties(schema, { settings: { name: 'n' }, values: [1, null] });
    assert.deepEqual(problemsOf(bad.problems), ['settings.value: is required', 'values[1]: is required']);
  });

  test('PropertiesOf types an any property as Json', () => {
    const schema = {
      value: { type: 'any', required: true },
      maybe: { type: 'any' },
    } as const satisfies PropertiesSchema;
    const props: PropertiesOf<typeof schema> = { value: { a: [1, 'x'] } };
    const value: Json = props.value;
    const maybe: Json | undefined = props.maybe;
    // @ts-expect-error: an any property is not known to be a string.
    const text: string = props.value;
    assert.deepEqual([value, maybe, text], [{ a: [1, 'x'] }, undefined, { a: [1, 'x'] }]);
  });
});

// A holder of any value: `value` changes in place, `fixed` only by replacement.
interface Seen {
  created: Json[];
  diffs: PropertyDiff[];
  deleted: number;
}
let seen: Seen;

class Holder extends Resource<{ value: Json; fixed?: Json }> {
  static override properties: PropertiesSchema = {
    value: { type: 'any', required: true, updateAllowed: true },
    fixed: { type: 'any' },
  };
  static override attributes = { value: 'The value.' };

  override handleCreate(): Token {
    seen.created.push(this.properties.value);
    this.resourceId = 'holder';
    return undefined;
  }

  override handleUpdate(_snippet: ResourceDefinition, _t: TemplateDiff, diff: PropertyDiff): Token {
    seen.diffs.push(diff);
    return undefined;
  }

  override handleDelete(): Token {
    seen.deleted++;
    return undefined;
  }

  override resolveAttribute(name: string): Json | undefined {
    return name === 'value' ? this.properties.value : undefined;
  }
}

const holder = resourceOperations(Holder);

async function createdHolder(properties: Record<string, Json>): Promise<FakeInstance> {
  seen = { created: [], diffs: [], deleted: 0 };
  const instance = new FakeInstance(properties);
  assert.equal((await instance.run(holder.create)).outcome, 'ok');
  return instance;
}

describe('any properties: create and update', () => {
  test('the resource gets the value as given, and its attribute holds it', async () => {
    const instance = await createdHolder({ value: { user: 'admin', ports: [80, 443] } });
    assert.deepEqual(seen.created, [{ user: 'admin', ports: [80, 443] }]);
    assert.deepEqual(instance.saved.value, { user: 'admin', ports: [80, 443] });
  });

  test('a missing value is reported before create', async () => {
    seen = { created: [], diffs: [], deleted: 0 };
    const error = failed(await new FakeInstance({ value: null }).run(holder.create));
    assert.ok(error instanceof PropertiesError);
    assert.deepEqual(problemsOf(error.problems), ['value: is required']);
    assert.deepEqual(seen.created, []);
  });

  test('the same value with its keys in another order is no change', async () => {
    const instance = await createdHolder({ value: { a: 1, b: { c: [1, 2], d: 'x' } } });
    instance.properties = { value: { b: { d: 'x', c: [1, 2] }, a: 1 } };
    const r = await instance.run(holder.update);
    assert.equal(r.outcome, 'ok');
    assert.ok(r.logs.some((l) => l.includes('no property changed')));
    assert.deepEqual(seen.diffs, []);
  });

  test('a change deep inside the value is updated in place when updateAllowed', async () => {
    const instance = await createdHolder({ value: { a: 1, b: { c: [1, 2] } } });
    instance.properties = { value: { a: 1, b: { c: [1, 3] } } };
    assert.equal((await instance.run(holder.update)).outcome, 'ok');
    assert.deepEqual(seen.diffs, [{ value: { a: 1, b: { c: [1, 3] } } }]);
    assert.equal(seen.deleted, 0);
    assert.deepEqual(instance.saved.value, { a: 1, b: { c: [1, 3] } }, 'attribute refreshed');
  });

  test('a value of another type is a change too; one that is not updateAllowed replaces', async () => {
    const instance = await createdHolder({ value: ['a'], fixed: { size: 1 } });
    instance.properties = { value: 'a', fixed: { size: 1 } };
    assert.equal((await instance.run(holder.update)).outcome, 'ok');
    assert.deepEqual(seen.diffs, [{ value: 'a' }]);
    instance.properties = { value: 'a', fixed: { size: 2 } };
    assert.equal((await instance.run(holder.update)).outcome, 'ok');
    assert.equal(seen.deleted, 1);
    assert.deepEqual(seen.created, [['a'], 'a']);
  });
});
