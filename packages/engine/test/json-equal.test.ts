import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonEqual } from '../src/model/json-equal.js';

test('jsonEqual compares data, not prototypes: a name map without one equals the same map read from JSON', () => {
  const names = Object.assign(Object.create(null) as Record<string, unknown>, {
    app: { port: 8080, tags: ['a'] },
  });
  assert.equal(jsonEqual(names, JSON.parse(JSON.stringify(names))), true);
  assert.equal(jsonEqual({ a: 1 }, { a: 1, b: undefined }), false, 'a key more is a difference');
  assert.equal(jsonEqual({ a: [1, 2] }, { a: [2, 1] }), false, 'order of a list counts');
  assert.equal(jsonEqual({ a: [] }, { a: {} }), false, 'a list is not a map');
  assert.equal(jsonEqual({ a: 1 }, { a: '1' }), false, 'no coercion');
  assert.equal(jsonEqual(null, {}), false);
  assert.equal(jsonEqual({ b: 2, a: 1 }, { a: 1, b: 2 }), true, 'order of keys does not count');
});
