import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const fixtures = join(repoRoot, 'packages', 'cli', 'test', 'fixtures');

export {
  type Background,
  tempDir,
  type WeftRun as RunResult,
  weft,
  weftBin,
  weftInBackground,
} from '@weft/testing/cli';
