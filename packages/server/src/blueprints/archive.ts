/**
 * An uploaded blueprint as files: a single YAML file, or a directory sent as tar.gz (or tar) or
 * zip. Archives are read in memory, never extracted by a library onto the disk: every entry's path
 * is checked first (no absolute paths, no `..`, no links, nothing but files and directories), and
 * the number of entries and the bytes they unpack to are bounded, so that a small archive cannot
 * fill the disk or the memory (a "bomb").
 */
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { ApiError, tooLarge, unprocessable } from '../errors.js';

/** The most bytes an upload may have on the wire (the route's body limit). */
export const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
/** The most bytes the files of one blueprint may unpack to. */
export const MAX_UNPACKED_BYTES = 100 * 1024 * 1024;
/** The most entries (files and directories) an archive may have. */
export const MAX_ENTRIES = 5000;

export type UploadKind = 'yaml' | 'tar.gz' | 'tar' | 'zip';

/**
 * Makes the routes of `app` (a context of their own) take YAML and archives as raw bytes, up to
 * MAX_UPLOAD_BYTES: everywhere else a body is JSON.
 */
export function acceptUploads(app: FastifyInstance): void {
  app.addContentTypeParser(
    Object.keys(UPLOAD_TYPES),
    { parseAs: 'buffer', bodyLimit: MAX_UPLOAD_BYTES },
    (_request, body, done) => done(null, body),
  );
}

/** An upload's bytes and what its Content-Type says they are; 415 when it is none of UPLOAD_TYPES. */
export function upload(
  contentType: string | undefined,
  body: unknown,
  what: string,
): { kind: UploadKind; bytes: Buffer } {
  const kind = UPLOAD_TYPES[(contentType ?? '').split(';')[0]!.trim().toLowerCase()];
  if (!kind || !Buffer.isBuffer(body))
    throw new ApiError(
      415,
      'unsupported_media_type',
      `send the ${what} as ${Object.keys(UPLOAD_TYPES).join(', ')}`,
    );
  return { kind, bytes: body };
}

/** Content types an upload may have, and what each is. */
export const UPLOAD_TYPES: Record<string, UploadKind> = {
  'application/yaml': 'yaml',
  'application/x-yaml': 'yaml',
  'text/yaml': 'yaml',
  'text/x-yaml': 'yaml',
  'application/gzip': 'tar.gz',
  'application/x-gzip': 'tar.gz',
  'application/x-tar+gzip': 'tar.gz',
  'application/x-tar': 'tar',
  'application/zip': 'zip',
  'application/x-zip-compressed': 'zip',
};

/**
 * A path inside a blueprint as it is stored: relative, `/`-separated, without `.` segments.
 * Refused (422): absolute paths, drive letters, backslashes, `..`, NUL, empty names.
 */
export function safeRelativePath(name: string, what = 'entry'): string {
  const refuse = (why: string) => unprocessable(`${what} '${name}' ${why}`);
  if (name.includes('\0')) throw refuse('has a NUL character');
  if (name.includes('\\')) throw refuse('has a backslash (paths are written with /)');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw refuse('is an absolute path');
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw refuse("leads out of the blueprint's directory (..)");
  if (segments.length === 0) throw refuse('is empty');
  return segments.join('/');
}

/** Counts entries and bytes against the limits as an archive is read. */
class Budget {
  private entries = 0;
  private bytes = 0;

  entry(): void {
    if (++this.entries > MAX_ENTRIES) throw tooLarge(`the archive has more than ${MAX_ENTRIES} entries`);
  }

  take(size: number): void {
    this.bytes += size;
    if (this.bytes > MAX_UNPACKED_BYTES)
      throw tooLarge(`the archive unpacks to more than ${MAX_UNPACKED_BYTES / 1024 / 1024} MiB`);
  }
}

const linkRefused = (name: string) =>
  unprocessable(`entry '${name}' is a link: blueprint archives may hold only files and directories`);

/** The files of a tar archive (already decompressed). */
async function tarFiles(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const budget = new Budget();
  let failure: unknown;
  const parser = new Parser({ strict: true });
  parser.on('entry', (entry: ReadEntry) => {
    try {
      if (failure) throw failure;
      budget.entry();
      if (entry.type === 'SymbolicLink' || entry.type === 'Link') throw linkRefused(entry.path);
      const path = safeRelativePath(entry.path);
      if (entry.type === 'Directory') {
        entry.resume();
        return;
      }
      if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile')
        throw unprocessable(`entry '${entry.path}' is a ${entry.type}: only files and directories are taken`);
      budget.take(entry.size);
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => files.set(path, Buffer.concat(chunks)));
    } catch (error) {
      failure ??= error;
      entry.resume();
    }
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('error', (error: Error) => reject(unprocessable(`not a valid tar archive: ${error.message}`)));
    parser.on('end', resolve);
    parser.end(archive);
  });
  if (failure) throw failure;
  return files;
}

/** The files of a zip archive. */
async function zipFiles(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const budget = new Budget();
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(archive, {
      lazyEntries: true,
      validateEntrySizes: true,
      strictFileNames: true,
    });
  } catch (error) {
    throw unprocessable(`not a valid zip archive: ${(error as Error).message}`);
  }
  if (zip.entryCount > MAX_ENTRIES) throw tooLarge(`the archive has more than ${MAX_ENTRIES} entries`);
  try {
    for await (const entry of zip.eachEntry()) {
      budget.entry();
      const mode = (entry.externalFileAttributes >>> 16) & 0o170000;
      if (mode === 0o120000) throw linkRefused(entry.fileName);
      const path = safeRelativePath(entry.fileName);
      if (entry.fileName.endsWith('/')) continue;
      if (entry.isEncrypted()) throw unprocessable(`entry '${entry.fileName}' is encrypted`);
      // Checked before a byte is inflated; validateEntrySizes stops a stream that lies about it.
      budget.take(entry.uncompressedSize);
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
      files.set(path, Buffer.concat(chunks));
    }
  } catch (error) {
    if ((error as { status?: number }).status !== undefined) throw error;
    throw unprocessable(`not a valid zip archive: ${(error as Error).message}`);
  } finally {
    zip.close();
  }
  return files;
}

/** The files of an archive upload, by their relative paths. */
export async function archiveFiles(
  kind: Exclude<UploadKind, 'yaml'>,
  body: Buffer,
): Promise<Map<string, Buffer>> {
  if (kind === 'zip') return zipFiles(body);
  if (kind === 'tar') return tarFiles(body);
  let tar: Buffer;
  try {
    tar = gunzipSync(body, { maxOutputLength: MAX_UNPACKED_BYTES + MAX_ENTRIES * 1024 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw tooLarge(`the archive unpacks to more than ${MAX_UNPACKED_BYTES / 1024 / 1024} MiB`);
    throw unprocessable(`not a valid gzip file: ${(error as Error).message}`);
  }
  return tarFiles(tar);
}

/**
 * The blueprint's files with its main file found: an archive whose entries all sit in one
 * top-level directory (as `tar czf bp.tar.gz mybp/` makes) is read from inside it.
 */
export function withMainFile(files: Map<string, Buffer>, mainFile: string): Map<string, Buffer> {
  if (files.has(mainFile)) return files;
  const tops = new Set([...files.keys()].map((path) => path.split('/')[0]));
  const [top] = tops;
  if (tops.size === 1 && files.has(`${top}/${mainFile}`))
    return new Map([...files].map(([path, content]) => [path.slice(top!.length + 1), content]));
  const yaml = [...files.keys()].filter((path) => /\.ya?ml$/i.test(path)).sort();
  throw unprocessable(
    `the archive has no ${mainFile}${yaml.length > 0 ? ` (it has ${yaml.slice(0, 10).join(', ')}${yaml.length > 10 ? '...' : ''}); name the main file with ?main_file=` : ''}`,
  );
}
