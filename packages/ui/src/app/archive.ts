/**
 * A blueprint's files read in the browser from the tar.gz the API gives (or one being uploaded):
 * gunzipped by the browser's DecompressionStream, the tar's ustar headers read here (with pax
 * `path` records for long names). Regular files only; their text as UTF-8. And the other way: a
 * directory chosen in the browser, written as a tar.gz to upload.
 */

const BLOCK = 512;

const text = (bytes: Uint8Array, start: number, length: number) => {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
};

/** The files of an uncompressed tar, by path. */
export function readTar(bytes: Uint8Array): Map<string, string> {
  const files = new Map<string, string>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(text(header, 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = text(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    const body = bytes.subarray(offset + BLOCK, offset + BLOCK + size);
    longName = undefined;
    if (type === 'x') {
      // pax: "LEN path=NAME\n" records; the path applies to the next entry.
      longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body))?.[1];
    } else if (type === '0' || type === '\0')
      files.set(name.replace(/^\.\//, ''), new TextDecoder().decode(body));
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

export async function gunzip(bytes: ArrayBuffer): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export const readTarGz = async (bytes: ArrayBuffer) => readTar(await gunzip(bytes));

const encoder = new TextEncoder();

/** A ustar header for a regular file (or a pax record, type 'x'). */
function header(name: string, size: number, type: '0' | 'x'): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const put = (value: string, start: number, length: number) =>
    block.set(encoder.encode(value).subarray(0, length), start);
  const octal = (value: number, digits: number) => `${value.toString(8).padStart(digits, '0')}\0`;
  put(name, 0, 100);
  put(octal(0o644, 7), 100, 8);
  put(octal(0, 7), 108, 8);
  put(octal(0, 7), 116, 8);
  put(octal(size, 11), 124, 12);
  put(octal(0, 11), 136, 12);
  put(type, 156, 1);
  put('ustar\u000000', 257, 8);
  // The checksum is summed with its own field as spaces.
  put('        ', 148, 8);
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(`${octal(sum, 6)} `, 148, 8);
  return block;
}

const padding = (size: number) => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);

/**
 * An uncompressed tar of the files, in the order given: ustar headers, with a pax `path` record
 * before a file whose path does not fit the header's 100 bytes.
 */
export function writeTar(files: { path: string; content: Uint8Array }[]): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const { path, content } of files) {
    const name = encoder.encode(path);
    if (name.length > 100) {
      // "LEN path=NAME\n", where LEN counts its own digits too.
      const body = ` path=${path}\n`;
      let length = encoder.encode(body).length;
      length += String(length + String(length).length).length;
      const record = encoder.encode(`${length}${body}`);
      parts.push(header('PaxHeader', record.length, 'x'), record, padding(record.length));
    }
    parts.push(header(path.slice(0, 100), content.length, '0'), content, padding(content.length));
  }
  parts.push(new Uint8Array(BLOCK * 2));
  const tar = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    tar.set(part, offset);
    offset += part.length;
  }
  return tar;
}

export async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Blob> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Response(stream).blob();
}
