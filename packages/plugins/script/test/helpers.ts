// What the script plugin's tests share besides the weft command and temporary directories.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processRunning } from '@weft/testing';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/** Waits (without sleeping) until the process is gone, for at most `ms`. */
export async function gone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processRunning(pid) && Date.now() < deadline) await new Promise((done) => setImmediate(done));
  return !processRunning(pid);
}
