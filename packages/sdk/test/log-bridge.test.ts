import assert from 'node:assert/strict';
import { test } from 'node:test';
import { consoleToLogger, type Logger, logStream } from '../src/index.js';

function recorder(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  return {
    logger: { debug: at('debug'), info: at('info'), warning: at('warning'), error: at('error') },
    lines,
  };
}

test('a JSON-lines logger (pino-style records) writes to ctx.logger at the right levels, across chunks', () => {
  const { logger, lines } = recorder();
  const stream = logStream(logger);
  stream.write('{"level":30,"msg":"started"}\n{"level":50,"msg":"bro');
  stream.write('ken"}\n{"level":40,"msg":"slow"}\nplain text\n{"level":"debug","message":"detail"}\n');
  assert.deepEqual(lines, [
    'info started',
    'error broken',
    'warning slow',
    'info plain text',
    'debug detail',
  ]);
});

test('a console-like object writes to ctx.logger', () => {
  const { logger, lines } = recorder();
  const console = consoleToLogger(logger);
  console.log('a', 1, { b: true });
  console.warn('careful');
  console.error('bad');
  console.debug('fine detail');
  assert.deepEqual(lines, ['info a 1 {"b":true}', 'warning careful', 'error bad', 'debug fine detail']);
});
