/**
 * Files Weft generates and never writes (the node types of a Loom manifest), by the path that
 * blueprints import them at: readers look here before the file system. Kept in the memory of the
 * process that generated them, they cannot be removed by a temporary-file cleaner, nor shared with
 * (or planted by) another user, as a file under the temporary directory could.
 */
const files = new Map<string, Buffer>();

export function setGeneratedFile(path: string, text: string): void {
  // A Buffer, as a file read is: the stores take a blueprint's files as Buffers.
  files.set(path, Buffer.from(text, 'utf8'));
}

/** The generated file at `path`, if there is one. */
export function generatedFile(path: string): Buffer | undefined {
  return files.get(path);
}
