/**
 * What a plugin prints in a worker process (console.log, process.stdout/stderr.write) becomes log
 * lines of the operation that printed it. They go over the IPC channel, in order with the
 * operation's result, so none arrives after its operation ended. The operation is the one whose
 * asynchronous context the write happens in; a write outside any (a plugin's own timer set up at
 * load time) belongs to the only running operation, if there is one, else it is left on the
 * process's stream, which the engine shows in the logs of whatever is running.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { LogLevel } from '../executor/dispatcher.js';

type Sink = (id: number, level: LogLevel, line: string) => void;

const current = new AsyncLocalStorage<number>();
const partial = new Map<string, string>();
const active = new Set<number>();

/** Runs `fn` as operation `id`: what it prints is that operation's. */
export function runAs<T>(id: number, fn: () => Promise<T>): Promise<T> {
  active.add(id);
  return current.run(id, fn);
}

/** Ends operation `id`: a last line without a line end is sent now. */
export function finish(id: number, sink: Sink): void {
  active.delete(id);
  for (const [level, stream] of [
    ['info', 'stdout'],
    ['warning', 'stderr'],
  ] as const) {
    const key = `${id}:${stream}`;
    const rest = partial.get(key);
    partial.delete(key);
    if (rest) sink(id, level, rest);
  }
}

/** Sends what the plugin writes to `stdout` and `stderr` to the operations' logs through `sink`. */
export function captureOutput(sink: Sink): void {
  const capture = (stream: NodeJS.WriteStream, name: 'stdout' | 'stderr', level: LogLevel) => {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const id = current.getStore() ?? (active.size === 1 ? [...active][0] : undefined);
      if (id === undefined || !active.has(id)) return write(chunk, ...rest);
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      const key = `${id}:${name}`;
      const lines = ((partial.get(key) ?? '') + text).split('\n');
      partial.set(key, lines.pop()!);
      for (const line of lines) sink(id, level, line);
      const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as typeof stream.write;
  };
  capture(process.stdout, 'stdout', 'info');
  capture(process.stderr, 'stderr', 'warning');
}
