import { readFileSync, realpathSync, statSync } from 'node:fs';
import type { BlueprintReader } from '../dsl/reader.js';
import { generatedFile } from './generated-files.js';

/** Reads blueprints from the local file system; plugins are looked up with the given function. */
export function fileSystemReader(
  options: Pick<BlueprintReader, 'resolvePlugin' | 'resolveBlueprint' | 'pluginNames'> = {},
): BlueprintReader {
  return {
    read: (path) => generatedFile(path) ?? readFileSync(path),
    isFile: (path) => {
      if (generatedFile(path)) return true;
      try {
        return statSync(path).isFile();
      } catch {
        return false;
      }
    },
    realPath: (path) => {
      try {
        return realpathSync(path);
      } catch {
        return undefined;
      }
    },
    ...options,
  };
}
