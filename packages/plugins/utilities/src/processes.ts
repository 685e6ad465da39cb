// Detached processes: started in a session and process group of their own, so they outlive the
// worker process that started them, and identified by pid plus start time, so a pid reused by
// an unrelated process is never signalled.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';

export interface Started {
  pid: number;
  /** The start time from /proc (clock ticks since boot); null where there is no /proc. */
  startTime: number | null;
}

/** How processes this worker started ended, by pid (known only to the worker that started them). */
const exits = new Map<number, string>();

interface Stat {
  state: string;
  /** The process group. */
  pgrp: number;
  /** Clock ticks since boot. */
  startTime: number;
}

/** The process's state and start time from /proc; null when it is gone or there is no /proc. */
function stat(pid: number): Stat | null {
  try {
    // Fields after the command name, which is in parentheses and may hold anything: the state
    // (field 3 of stat) comes first, then the parent and the group; the start time is field 22.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return { state: fields[0]!, pgrp: Number(fields[2]), startTime: Number(fields[19]) };
  } catch {
    return null;
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the pid now belongs to another process than the one started. */
function reused(started: Started): boolean {
  const now = stat(started.pid);
  return now !== null && started.startTime !== null && now.startTime !== started.startTime;
}

/** Whether the process that was started is still running (not exited, not a zombie, pid not reused). */
export function isRunning(started: Started): boolean {
  if (!exists(started.pid)) return false;
  const now = stat(started.pid);
  // Without /proc, kill(pid, 0) is all there is to know.
  return now === null || (now.state !== 'Z' && !reused(started));
}

/**
 * Whether any process of the group the process led is left (a shell's children, say), zombies
 * aside: an exited process whose parent is gone may wait a while to be reaped, and still counts
 * for kill(-pgid, 0).
 */
export function groupRunning(started: Started): boolean {
  if (reused(started)) return false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    try {
      process.kill(-started.pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  return pids.some((pid) => {
    const member = stat(Number(pid));
    return member !== null && member.state !== 'Z' && member.pgrp === started.pid;
  });
}

/** Signals the process's whole group; false when there was nothing (of ours) to signal. */
export function signalGroup(started: Started, signal: NodeJS.Signals): boolean {
  if (reused(started)) return false;
  try {
    process.kill(-started.pid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** How the process ended, when this worker started it and saw it end. */
export function exitOf(pid: number): string | undefined {
  return exits.get(pid);
}

export interface SpawnOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** stdout and stderr go here (the file is emptied first). */
  logFile: string;
}

/** Starts `argv` detached, output to the log file; rejects when it cannot be started at all. */
export function spawnDetached(options: SpawnOptions): Promise<Started> {
  const [file, ...args] = options.argv;
  const log = openSync(options.logFile, 'w');
  try {
    const child = spawn(file!, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      detached: true,
      stdio: ['ignore', log, log],
    });
    return new Promise<Started>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        const pid = child.pid!;
        child.once('exit', (code, signal) => {
          exits.set(pid, signal ? `killed by ${signal}` : `exit status ${code}`);
        });
        // The worker must not wait for it, nor keep it as a child it has to answer for.
        child.unref();
        resolve({ pid, startTime: stat(pid)?.startTime ?? null });
      });
    });
  } finally {
    closeSync(log);
  }
}

/** The last lines of a log file (at most `bytes` of it); empty when it cannot be read. */
export async function logTail(path: string, lines = 20, bytes = 8192): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}
