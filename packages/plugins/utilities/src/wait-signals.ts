// The signals of a wait condition handle, kept as files in the handle's directory (its
// `endpoint`): `weft signal` writes one file per signal, the wait condition reads them all. A
// file per signal, published with link() (which fails when the name exists), lets signals
// arrive concurrently from any process without a lock and without the engine's help, and a
// reader never sees half a signal. Signals are taken in the order they were published, which
// gives Heat's rules their meaning: an id left out is the number of distinct ids so far plus one,
// and a signal with an id already seen replaces that one's entry.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** The file that marks a directory as a handle's, with the handle's token. */
const HANDLE_FILE = 'handle.json';

const SIGNAL_STATUSES = ['SUCCESS', 'FAILURE'] as const;
type Status = (typeof SIGNAL_STATUSES)[number];

/** The keys a signal may have (Heat's METADATA_KEYS). */
const SIGNAL_KEYS = ['data', 'reason', 'status', 'id'];

/** One signal as the handle keeps it, under its id. */
export interface SignalEntry {
  status: Status;
  reason: string;
  data: unknown;
}

/** A signal that cannot be accepted, or a handle that cannot take one. */
export class SignalError extends Error {}

/** Why a signal's details are not of Heat's format, or undefined when they are. */
export function signalProblem(details: unknown): string | undefined {
  if (details === null || typeof details !== 'object' || Array.isArray(details))
    return 'a signal is a JSON object: {"status": "SUCCESS" or "FAILURE", "reason": ..., "data": ..., "id": ...}';
  const extra = Object.keys(details).filter((key) => !SIGNAL_KEYS.includes(key));
  if (extra.length > 0)
    return `a signal has only the keys ${SIGNAL_KEYS.join(', ')} (not ${extra.join(', ')})`;
  const { status, id } = details as Record<string, unknown>;
  if (status !== undefined && !SIGNAL_STATUSES.includes(status as Status))
    return `a signal's status is SUCCESS or FAILURE, not ${JSON.stringify(status)}`;
  if (id !== undefined && (id === null || typeof id === 'object'))
    return `a signal's id is a string or a number, not ${JSON.stringify(id)}`;
  return undefined;
}

/** Creates a handle's directory, with its token (readable by its owner only). */
export function createHandleDir(dir: string, token: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, HANDLE_FILE), JSON.stringify({ token }), { mode: 0o600 });
}

/** The token of the handle whose directory this is; throws SignalError when it is none. */
export function handleToken(dir: string): string {
  let text: string;
  try {
    text = readFileSync(join(dir, HANDLE_FILE), 'utf8');
  } catch {
    throw new SignalError(`no wait condition handle at ${dir} (it was deleted, or is not created yet)`);
  }
  return (JSON.parse(text) as { token: string }).token;
}

const SIGNAL_FILE = /^(\d+)\.json$/;

/** Publishes a signal in a handle's directory; its details must be of Heat's format. */
export function writeSignal(dir: string, details: Record<string, unknown>): void {
  handleToken(dir);
  const problem = signalProblem(details);
  if (problem) throw new SignalError(problem);
  const draft = join(dir, `.signal-${randomBytes(8).toString('hex')}`);
  writeFileSync(draft, JSON.stringify(details));
  try {
    let next = signalFiles(dir).length;
    for (;;) {
      try {
        linkSync(draft, join(dir, `${next}.json`));
        return;
      } catch (error) {
        // Another signal took this number meanwhile: take the next one.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        next++;
      }
    }
  } finally {
    unlinkSync(draft);
  }
}

function signalFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => SIGNAL_FILE.test(name))
    .sort((a, b) => Number(SIGNAL_FILE.exec(a)![1]) - Number(SIGNAL_FILE.exec(b)![1]));
}

/**
 * The handle's signals by id, in the order their ids were first seen, with Heat's defaults
 * (normalise_signal_data): reason `Signal N received`, data null, id N and status SUCCESS, N
 * being the number of ids seen before plus one. None when the directory is gone.
 */
export function readSignals(dir: string): Map<string, SignalEntry> {
  const signals = new Map<string, SignalEntry>();
  if (!existsSync(dir)) return signals;
  for (const name of signalFiles(dir)) {
    const details = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
    const number = signals.size + 1;
    const id = String(details.id ?? number);
    signals.set(id, {
      status: (details.status as Status | undefined) ?? 'SUCCESS',
      reason:
        details.reason === undefined || details.reason === null
          ? `Signal ${number} received`
          : String(details.reason),
      data: details.data ?? null,
    });
  }
  return signals;
}

/** Forgets every signal a handle received (Heat clears them when its wait condition is deleted). */
export function clearSignals(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of signalFiles(dir)) rmSync(join(dir, name), { force: true });
}
