/** SharedReads: reads that come together share one, and each answer is from a read started after it was asked. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharedReads } from '../src/shared-reads.js';

/** A read of `key` the test ends by hand, numbered in the order they started. */
function controlledReads() {
  const started: { key: string; end: (value: string) => void; fail: (error: Error) => void }[] = [];
  const reads = new SharedReads<string>(
    (key) =>
      new Promise<string>((resolve, reject) => {
        started.push({ key, end: resolve, fail: reject });
      }),
  );
  return { reads, started };
}

test('reads asked for while one is in flight share the next, started when it ends', async () => {
  const { reads, started } = controlledReads();
  const first = reads.get('d1');
  assert.equal(started.length, 1);
  // Asked for after the first read started: it may not answer them (it may miss a change made
  // just before they were asked for), so they wait for the next, all of them for the same one.
  const second = reads.get('d1');
  const third = reads.get('d1');
  assert.equal(started.length, 1, 'no read while one is in flight');
  started[0]!.end('v1');
  assert.equal(await first, 'v1');
  // The next read starts once the first ended.
  await new Promise(setImmediate);
  assert.equal(started.length, 2);
  started[1]!.end('v2');
  assert.deepEqual(await Promise.all([second, third]), ['v2', 'v2']);
  await new Promise(setImmediate);
  assert.equal(started.length, 2, 'nobody waits: no third read');
  // Nothing in flight: a new read starts at once.
  const fourth = reads.get('d1');
  assert.equal(started.length, 3);
  started[2]!.end('v3');
  assert.equal(await fourth, 'v3');
});

test('other keys read on their own; a failed read fails only the reads it answers', async () => {
  const { reads, started } = controlledReads();
  const a = reads.get('a');
  const b = reads.get('b');
  assert.deepEqual(
    started.map((s) => s.key),
    ['a', 'b'],
  );
  const aAgain = reads.get('a');
  started[0]!.fail(new Error('lost'));
  await assert.rejects(a, /lost/);
  await new Promise(setImmediate);
  started[2]!.end('a2');
  assert.equal(await aAgain, 'a2');
  started[1]!.end('b1');
  assert.equal(await b, 'b1');
});
