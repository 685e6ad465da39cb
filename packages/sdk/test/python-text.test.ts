import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pythonJson, pythonStr } from '../src/index.js';

test("pythonStr prints as Python's str(): strings bare at the top, repr inside containers", () => {
  assert.equal(pythonStr('plain'), 'plain');
  assert.equal(pythonStr(null), 'None');
  assert.equal(pythonStr(true), 'True');
  assert.equal(pythonStr(false), 'False');
  assert.equal(pythonStr(8080), '8080');
  assert.equal(pythonStr(['a', 1, null, false]), "['a', 1, None, False]");
  assert.equal(
    pythonStr({ k: { n: [true] }, "it's": 'say "hi"' }),
    `{'k': {'n': [True]}, "it's": 'say "hi"'}`,
  );
  assert.equal(
    pythonStr(['both \' and "', 'line\nbreak', 'back\\slash']),
    `['both \\' and "', 'line\\nbreak', 'back\\\\slash']`,
  );
});

test("pythonJson writes as Python's json.dumps(): spaced separators, non-ASCII escaped", () => {
  assert.equal(
    pythonJson({ a: [1, 'b', null, true], é: 'ü😀' }),
    '{"a": [1, "b", null, true], "\\u00e9": "\\u00fc\\ud83d\\ude00"}',
  );
  assert.equal(pythonJson([]), '[]');
  assert.equal(pythonJson({}), '{}');
  assert.equal(pythonJson('tab\there'), '"tab\\there"');
});
