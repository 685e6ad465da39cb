/**
 * Archives built entry by entry, so that tests can make the ones no honest tool makes: entries
 * named `../x` or `/etc/x`, links, thousands of entries.
 */
import { crc32, deflateRawSync, gzipSync } from 'node:zlib';
import { Header } from 'tar';

export interface ArchiveEntry {
  path: string;
  content?: string | Buffer;
  /** A symbolic link to this target, instead of a file. */
  link?: string;
  /** A directory, instead of a file. */
  directory?: boolean;
}

/** A tar archive of the entries (gzipped unless told). */
export function tarArchive(entries: ArchiveEntry[], gzip = true): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.link || entry.directory ? Buffer.alloc(0) : Buffer.from(entry.content ?? '');
    const header = new Header({
      path: entry.path,
      type: entry.link ? 'SymbolicLink' : entry.directory ? 'Directory' : 'File',
      linkpath: entry.link ?? '',
      size: content.length,
      mode: entry.directory ? 0o755 : 0o644,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, content, Buffer.alloc((512 - (content.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  return gzip ? gzipSync(tar) : tar;
}

/** A zip archive of the entries (deflated). */
export function zipArchive(entries: ArchiveEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.directory && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path);
    const content = Buffer.from(entry.link ?? entry.content ?? '');
    const packed = deflateRawSync(content);
    const crc = crc32(content);
    const mode = entry.link ? 0o120777 : entry.directory ? 0o040755 : 0o100644;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode is read
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * A plugin whose create operation records who it greets (and which upload did), and which weft
 * worker ran it (WEFT_TEST_WORKER), or 'server'.
 */
export function greeter(word = 'hello', dir = 'package'): ArchiveEntry[] {
  return [
    {
      path: `${dir}/plugin.yaml`,
      content:
        "plugins:\n  greet:\n    executor: central_deployment_agent\n    package_version: '1.0'\nnode_types:\n  greet.Thing:\n    derived_from: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle:\n        create: greet.create\n",
    },
    {
      path: `${dir}/package.json`,
      content: JSON.stringify({
        name: 'weft-plugin-greet',
        version: '1.0.0',
        type: 'module',
        main: 'index.js',
      }),
    },
    {
      path: `${dir}/index.js`,
      content: `export async function create(ctx) { ctx.instance.runtimeProperties.said = '${word} ' + ctx.node.name; ctx.instance.runtimeProperties.ran_by = process.env.WEFT_TEST_WORKER ?? 'server'; }\n`,
    },
  ];
}

/** A blueprint with one node of the greeter's type. */
export const BLUEPRINT = [
  'tosca_definitions_version: cloudify_dsl_1_4',
  'imports: [http://cloudify.co/spec/cloudify/6.4.0/types.yaml, plugin:greet]',
  'node_templates:',
  '  world: {type: greet.Thing}',
  '',
].join('\n');
