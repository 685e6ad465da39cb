import { readFileSync } from 'node:fs';

/**
 * Whether a process runs, for tests of plugins that start processes: it exists and has not
 * exited. A zombie (exited, not yet reaped by its parent) does not count.
 */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .startsWith('Z');
  } catch {
    // No /proc (not Linux): kill(pid, 0) said it exists.
    return true;
  }
}
