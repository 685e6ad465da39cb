/** Helpers both store backends share: JSON and byte encoding, batch normalisation. */
import type { Batch, Json } from './types.js';

/**
 * JSON text for a JSON column. U+0000 is replaced by U+FFFD: PostgreSQL cannot store it in jsonb
 * (nor in text), and a log line with a NUL byte must not fail the batch that carries it. Both
 * backends do the same, so what is read back does not depend on the backend.
 */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value ?? null);
  if (!text.includes('u0000')) return text;
  // An escaped NUL is "\u0000" preceded by an even number of other backslashes.
  return text.replace(/\\+u0000/g, (match) =>
    (match.length - 5) % 2 === 1 ? `${match.slice(0, -6)}\\ufffd` : match,
  );
}

/** A text column value with U+0000 replaced (see jsonText). */
export function cleanText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\ufffd') : text;
}

/** Parses a JSON column read as text (SQLite); SQL NULL reads as JSON null. */
export function parseJson<T = Json>(text: string | null): T {
  return (text === null ? null : JSON.parse(text)) as T;
}

/** A Buffer view of bytes, without copying, for the database drivers. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A plain Uint8Array view of bytes read from a driver (which returns Buffers). */
export function toBytes(buffer: Uint8Array): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Keeps the last entry for each key, in the order of the last occurrences. */
export function lastByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  const map = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    map.delete(k);
    map.set(k, item);
  }
  return [...map.values()];
}

export type BatchTask = NonNullable<Batch['tasks']>[number];
export type BatchExecution = NonNullable<Batch['execution']>;

/** Key of a task in a batch (execution id and task id). */
export function taskKey(t: { executionId: string; id: number }): string {
  return `${t.executionId}\u0000${t.id}`;
}

/** Display id of a task in errors. */
export function taskName(t: { executionId: string; id: number }): string {
  return `${t.executionId}#${t.id}`;
}

/** The columns a batch's execution entry sets, in a fixed order, skipping absent fields. */
export function executionChanges(e: BatchExecution): [column: string, value: string | null][] {
  const out: [string, string | null][] = [];
  if (e.status !== undefined) out.push(['status', e.status]);
  if (e.error !== undefined) out.push(['error', jsonText(e.error)]);
  if (e.startedAt !== undefined) out.push(['started_at', e.startedAt]);
  if (e.endedAt !== undefined) out.push(['ended_at', e.endedAt]);
  return out;
}

export function nowIso(): string {
  return new Date().toISOString();
}
