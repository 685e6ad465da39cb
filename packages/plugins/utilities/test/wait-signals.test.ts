// A wait condition handle's signals as files: Heat's defaults (id N = distinct ids so far + 1,
// reason "Signal N received", status SUCCESS, data null), a repeated id replacing its entry in
// place, the format Heat accepts, concurrent writers each getting a signal of their own, and
// clearing. Real files, real child processes writing at once.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from '@weft/testing/cli';
import {
  clearSignals,
  createHandleDir,
  handleToken,
  readSignals,
  SignalError,
  signalProblem,
  writeSignal,
} from '../src/wait-signals.js';

function handle(): string {
  const dir = join(tempDir('weft-handle-'), 'handle');
  createHandleDir(dir, 'the-token');
  return dir;
}

describe('wait condition signals', () => {
  test("Heat's defaults, in order; a repeated id replaces its entry where it was", () => {
    const dir = handle();
    writeSignal(dir, {});
    writeSignal(dir, { id: 'web', data: { ip: '10.0.0.5' }, reason: 'up' });
    writeSignal(dir, { status: 'FAILURE' });
    writeSignal(dir, { id: 1, data: 'again' });
    assert.deepEqual(
      [...readSignals(dir)],
      [
        // Its reason's number is Heat's: the ids seen before it, plus one.
        ['1', { status: 'SUCCESS', reason: 'Signal 4 received', data: 'again' }],
        ['web', { status: 'SUCCESS', reason: 'up', data: { ip: '10.0.0.5' } }],
        ['3', { status: 'FAILURE', reason: 'Signal 3 received', data: null }],
      ],
    );
    clearSignals(dir);
    assert.equal(readSignals(dir).size, 0);
    assert.equal(handleToken(dir), 'the-token');
  });

  test('only the format Heat accepts', () => {
    assert.equal(signalProblem({ status: 'SUCCESS', reason: 'r', data: [1], id: 'x' }), undefined);
    assert.match(String(signalProblem('SUCCESS')), /is a JSON object/);
    assert.match(String(signalProblem([])), /is a JSON object/);
    assert.match(String(signalProblem({ status: 'DONE' })), /SUCCESS or FAILURE, not "DONE"/);
    assert.match(String(signalProblem({ status: null })), /SUCCESS or FAILURE, not null/);
    assert.match(
      String(signalProblem({ stat: 'SUCCESS' })),
      /only the keys data, reason, status, id \(not stat\)/,
    );
    assert.match(String(signalProblem({ id: { a: 1 } })), /id is a string or a number/);
    const dir = handle();
    assert.throws(() => writeSignal(dir, { status: 'DONE' }), SignalError);
    assert.equal(readSignals(dir).size, 0);
    assert.throws(() => writeSignal(join(dir, 'missing'), {}), /no wait condition handle at/);
  });

  test('signals written at once by many processes are all kept, each under an id of its own', async () => {
    const dir = handle();
    const module = new URL('../src/wait-signals.js', import.meta.url).href;
    const script = `import { writeSignal } from ${JSON.stringify(module)}; writeSignal(process.argv[1], { data: process.argv[2] });`;
    const writers = Array.from({ length: 8 }, (_, i) =>
      promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, dir, `w${i}`]),
    );
    await Promise.all(writers);
    const signals = readSignals(dir);
    assert.deepEqual([...signals.keys()], ['1', '2', '3', '4', '5', '6', '7', '8']);
    assert.deepEqual([...signals.values()].map((s) => s.data).sort(), [
      'w0',
      'w1',
      'w2',
      'w3',
      'w4',
      'w5',
      'w6',
      'w7',
    ]);
  });
});
