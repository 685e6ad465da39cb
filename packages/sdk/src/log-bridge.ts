import type { Logger } from './context.js';

type Level = keyof Logger;

/** A console-like object whose methods write to ctx.logger (for libraries that take a console). */
export function consoleToLogger(logger: Logger): Pick<Console, 'log' | 'info' | 'debug' | 'warn' | 'error'> {
  const format = (args: unknown[]) =>
    args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  return {
    log: (...args: unknown[]) => logger.info(format(args)),
    info: (...args: unknown[]) => logger.info(format(args)),
    debug: (...args: unknown[]) => logger.debug(format(args)),
    warn: (...args: unknown[]) => logger.warning(format(args)),
    error: (...args: unknown[]) => logger.error(format(args)),
  };
}

/** pino's numeric levels: trace 10, debug 20, info 30, warn 40, error 50, fatal 60. */
function levelOf(value: unknown): Level {
  if (typeof value === 'number')
    return value >= 50 ? 'error' : value >= 40 ? 'warning' : value >= 30 ? 'info' : 'debug';
  if (typeof value === 'string') {
    const name = value.toLowerCase();
    if (name === 'warn' || name === 'warning') return 'warning';
    if (name === 'error' || name === 'fatal' || name === 'critical') return 'error';
    if (name === 'debug' || name === 'trace') return 'debug';
  }
  return 'info';
}

/**
 * A writable destination for JSON-lines loggers (pino, bunyan, winston's JSON format): each
 * record becomes a ctx.logger line at its level; text that is not JSON is logged as info.
 *
 *     const log = pino({}, logStream(ctx.logger));
 */
export function logStream(logger: Logger): { write(chunk: string | Uint8Array): boolean } {
  let pending = '';
  return {
    write(chunk) {
      pending += typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk);
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          const message = record.msg ?? record.message ?? line;
          logger[levelOf(record.level)](typeof message === 'string' ? message : JSON.stringify(message));
        } catch {
          logger.info(line);
        }
      }
      return true;
    },
  };
}
