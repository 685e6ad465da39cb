import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setOwn } from '../src/index.js';

test('setOwn keeps a "__proto__" key as data: the map keeps its prototype and lends nothing', () => {
  const given = JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(given)) setOwn(copy, key, value);
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.ok(Object.hasOwn(copy, '__proto__'));
  assert.equal(copy.polluted, undefined);
  assert.equal(JSON.stringify(copy), '{"__proto__":{"polluted":"yes"}}');
  setOwn(copy, '__proto__', 1);
  setOwn(copy, 'constructor', 2);
  assert.deepEqual(Object.entries(copy), [
    ['__proto__', 1],
    ['constructor', 2],
  ]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
