import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Diagnostics } from '../src/dsl/diagnostics.js';
import { STDLIB_DIR } from '../src/dsl/reader.js';
import {
  keyLocOf,
  locOf,
  type ParsedJson,
  parsedFromJson,
  parseYaml,
  type Value,
} from '../src/dsl/yaml-source.js';

/** Every container's offset and its keys' and entries' offsets, in a walk of the value. */
function offsets(value: Value): number[] {
  const out: number[] = [];
  const walk = (v: Value) => {
    if (v === null || typeof v !== 'object') return;
    out.push(locOf(v)!.offset);
    const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
    for (const key of keys) {
      out.push(locOf(v, key)!.offset);
      if (typeof key === 'string') out.push(keyLocOf(v, key)!.offset);
      walk((v as Record<string | number, Value>)[key]!);
    }
  };
  walk(value);
  return out;
}

describe('standard library cache', () => {
  for (const name of readdirSync(STDLIB_DIR).filter((file) => file.endsWith('.yaml'))) {
    test(`${name}.json holds what parsing ${name} gives, values and positions (node packages/engine/scripts/stdlib-cache.mjs remakes it)`, () => {
      const path = join(STDLIB_DIR, name);
      const text = readFileSync(path, 'utf8');
      const cache = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as ParsedJson;
      const diagnostics = new Diagnostics();
      const parsed = parseYaml(text, path, diagnostics);
      assert.deepEqual(diagnostics.problems, []);
      const cached = parsedFromJson(cache, text, path);
      assert.notEqual(cached, undefined, `${name}.json was made from another text: remake it`);
      assert.deepEqual(cached, parsed);
      assert.deepEqual(offsets(cached!), offsets(parsed!));
      assert.equal(locOf(cached)!.file.path, path);
      // A changed file is parsed again, not read from a cache made from its old text.
      const changed = text.replace('derived_from', 'derived_frum');
      assert.equal(parsedFromJson(cache, changed, path), undefined);
    });
  }
});
