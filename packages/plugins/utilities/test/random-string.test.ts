// weft.nodes.RandomString: Heat's generation rules (minimums of classes and sequences honoured,
// only their characters used), validation of every problem at once, and a new string on a salt
// change, through the plugin's operations with mockContext.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PropertiesError } from '@weft/sdk';
import { CHARACTER_CLASSES, generate, type RandomStringProperties } from '../src/random-string.js';
import { drive } from './helpers.js';

const TYPE = 'weft.nodes.RandomString';

function count(text: string, characters: string): number {
  return [...text].filter((c) => characters.includes(c)).length;
}

describe('RandomString', () => {
  test('every class and sequence minimum is honoured over many draws, from their characters only', () => {
    const properties: RandomStringProperties = {
      length: 12,
      character_classes: [
        { class: 'digits', min: 3 },
        { class: 'uppercase', min: 2 },
      ],
      character_sequences: [{ sequence: '!@#', min: 4 }],
    };
    const allowed = `${CHARACTER_CLASSES.digits}${CHARACTER_CLASSES.uppercase}!@#`;
    const firstPositions = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const value = generate(properties);
      assert.equal(value.length, 12);
      assert.ok(count(value, CHARACTER_CLASSES.digits) >= 3, value);
      assert.ok(count(value, CHARACTER_CLASSES.uppercase) >= 2, value);
      assert.ok(count(value, '!@#') >= 4, value);
      assert.equal(count(value, allowed), 12, value);
      firstPositions.add(value[0]!);
    }
    // Shuffled: the minimums are not always at the front.
    assert.ok([...firstPositions].some((c) => '!@#'.includes(c)));
    assert.ok([...firstPositions].some((c) => CHARACTER_CLASSES.digits.includes(c)));
    assert.ok([...firstPositions].some((c) => CHARACTER_CLASSES.uppercase.includes(c)));
  });

  test('without classes or sequences: length 32 from letters and digits, distinct draws', async () => {
    const values = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const { ctx } = await drive('create', TYPE, { properties: {} });
      const value = ctx.mock.runtimeProperties.value as string;
      assert.match(value, /^[A-Za-z0-9]{32}$/);
      values.add(value);
      assert.equal(ctx.mock.runtimeProperties.resource_id, 'node_1');
      // The string is never logged.
      assert.ok(ctx.mock.logs.every((l) => !l.message.includes(value)));
    }
    assert.equal(values.size, 20);
  });

  test('a sequence alone supplies every character; a class defaults to lettersdigits with min 1', () => {
    assert.match(generate({ length: 40, character_sequences: [{ sequence: 'ab', min: 1 }] }), /^[ab]{40}$/);
    assert.match(generate({ length: 5, character_classes: [{ class: 'octdigits', min: 1 }] }), /^[0-7]{5}$/);
  });

  test('every problem is reported at once: schema and the minimums against the length', async () => {
    const error = await drive('create', TYPE, {
      properties: {
        length: 4,
        character_classes: [
          { class: 'symbols', min: 2 },
          { class: 'digits', min: 3 },
        ],
        character_sequences: [{ sequence: '', min: 2 }],
      },
    }).then(
      () => assert.fail('create succeeded'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof PropertiesError);
    assert.deepEqual(
      error.problems.map((p) => p.path),
      ['character_classes[0].class', 'character_sequences[0].sequence', 'length'],
    );
    assert.match(
      error.message,
      /length: 4 is less than the character class and sequence minimums together \(7\)/,
    );

    const range = await drive('create', TYPE, { properties: { length: 513 } }).catch((e: unknown) => e);
    assert.ok(range instanceof PropertiesError);
    assert.match(range.message, /length: 513 is not between 1 and 512/);
  });

  test('a salt change on update replaces the string; an unchanged update keeps it', async () => {
    const properties = { length: 16, salt: 'one' };
    const created = await drive('create', TYPE, { properties });
    const first = created.ctx.mock.runtimeProperties.value as string;

    const same = await drive('update', TYPE, {
      properties,
      runtimeProperties: created.ctx.mock.runtimeProperties,
    });
    assert.equal(same.ctx.mock.runtimeProperties.value, first);

    const salted = await drive(
      'update',
      TYPE,
      { properties, runtimeProperties: created.ctx.mock.runtimeProperties },
      { inputs: { properties: { salt: 'two' } } },
    );
    const second = salted.ctx.mock.runtimeProperties.value as string;
    assert.match(second, /^[A-Za-z0-9]{16}$/);
    assert.notEqual(second, first);
    assert.deepEqual((salted.ctx.mock.runtimeProperties.heat as { state: unknown }).state, {
      action: 'UPDATE',
      status: 'COMPLETE',
      reason: 'replaced',
    });
  });
});
