import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * All I/O the blueprint language needs, passed in so the parser stays pure and testable.
 * Paths are absolute.
 */
export interface BlueprintReader {
  read(path: string): Uint8Array;
  isFile(path: string): boolean;
  /**
   * The path with its symbolic links resolved (undefined when it does not exist), so that a link
   * cannot lead an import out of the blueprint's directory. A reader without links leaves it out.
   */
  realPath?(path: string): string | undefined;
  /**
   * The plugin.yaml of an installed plugin, or undefined when none is installed under that name.
   * Throws, with a message saying why, for a plugin that is installed but cannot be used.
   */
  resolvePlugin?(name: string, version: string | undefined): string | undefined;
  /** The names of the installed plugins (a HOT template's types are looked up among theirs). */
  pluginNames?(): string[];
  /** The main file of a stored blueprint (for `ns--blueprint:ID` imports). */
  resolveBlueprint?(id: string): string | undefined;
}

/** Directory of the bundled standard library (packages/engine/stdlib). */
export const STDLIB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'stdlib');
