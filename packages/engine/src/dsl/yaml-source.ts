import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseDocument,
  type Scalar,
  type YAMLMap,
} from 'yaml';
import { Diagnostics, type Loc, SourceFile } from './diagnostics.js';

/**
 * Blueprint YAML is turned into plain JS values; the position of every mapping, sequence and
 * entry is kept on the side, keyed by the containing object, so validators can work on plain
 * data and still point at `file:line:col`.
 */
export type Value = null | string | number | boolean | Value[] | { [key: string]: Value };
export type ValueMap = { [key: string]: Value };

interface Positions {
  self: Loc;
  keys?: Map<string, Loc>;
  values?: Map<string | number, Loc>;
}

const positions = new WeakMap<object, Positions>();

/** Location of `container[key]` (or of the container itself when no key is given). */
export function locOf(container: unknown, key?: string | number): Loc | undefined {
  if (container === null || typeof container !== 'object') return undefined;
  const info = positions.get(container);
  if (!info) return undefined;
  if (key === undefined) return info.self;
  return info.values?.get(key) ?? info.self;
}

/** Location of the key `key` in a mapping (for "unknown key" problems). */
export function keyLocOf(container: unknown, key: string): Loc | undefined {
  if (container === null || typeof container !== 'object') return undefined;
  const info = positions.get(container);
  return info?.keys?.get(key) ?? locOf(container, key);
}

/** Record a position for a value built by Weft itself (e.g. defaults, namespaced copies). */
export function setLoc(target: object, from: object | undefined): void {
  const info = from ? positions.get(from) : undefined;
  if (info) positions.set(target, info);
}

/** Copy positions to a mapping whose keys were renamed (`renames` maps new key to old key). */
export function setLocRenamed(target: object, from: object, renames: Map<string, string>): void {
  const info = positions.get(from);
  if (!info) return;
  const keys = new Map<string, Loc>();
  const values = new Map<string | number, Loc>();
  for (const [now, before] of renames) {
    const k = info.keys?.get(before);
    if (k) keys.set(now, k);
    const v = info.values?.get(before);
    if (v) values.set(now, v);
  }
  positions.set(target, { self: info.self, keys, values });
}

export function isMapping(value: unknown): value is ValueMap {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export const limits = {
  /** A blueprint file larger than this is refused before parsing. */
  maxFileBytes: 8 * 1024 * 1024,
  /** Nesting deeper than this is refused (real blueprints stay well under 30). */
  maxDepth: 200,
  /** Alias expansion is shared, but the expanded size is bounded to stop "billion laughs". */
  maxExpandedNodes: 2_000_000,
};

class Converter {
  private readonly memo = new Map<YamlNode, { value: Value; size: number }>();
  expanded = 0;

  constructor(
    private readonly file: SourceFile,
    private readonly diagnostics: Diagnostics,
    private readonly doc: Document,
  ) {}

  private loc(node: { range?: [number, number, number] | null } | null | undefined): Loc {
    return { file: this.file, offset: node?.range?.[0] ?? 0 };
  }

  /** Returns the value and its expanded size (the number of nodes it stands for). */
  convert(node: YamlNode | null | undefined, depth: number, path: string): { value: Value; size: number } {
    if (depth > limits.maxDepth) {
      throw new SourceLimitError(this.loc(node), `nesting deeper than ${limits.maxDepth} levels`);
    }
    if (node == null) return { value: null, size: 1 };
    if (isAlias(node)) {
      const target = node.resolve(this.doc) as YamlNode | undefined;
      if (!target) {
        this.diagnostics.add('yaml', this.loc(node), path, `unknown alias *${node.source}`);
        return { value: null, size: 1 };
      }
      const result = this.convertShared(target, depth, path);
      this.expanded += result.size;
      if (this.expanded > limits.maxExpandedNodes) {
        throw new SourceLimitError(
          this.loc(node),
          `aliases expand to more than ${limits.maxExpandedNodes} values (an alias bomb?)`,
        );
      }
      return result;
    }
    return this.convertShared(node, depth, path);
  }

  /** An anchored node is converted once and shared by every alias that names it. */
  private convertShared(node: YamlNode, depth: number, path: string): { value: Value; size: number } {
    const known = this.memo.get(node);
    if (known) return known;
    const result = this.convertNode(node, depth, path);
    if ((node as { anchor?: string }).anchor) this.memo.set(node, result);
    return result;
  }

  private convertNode(node: YamlNode, depth: number, path: string): { value: Value; size: number } {
    if (isScalar(node)) return { value: this.scalar(node), size: 1 };
    if (isSeq(node)) {
      const out: Value[] = [];
      const values = new Map<number, Loc>();
      let size = 1;
      node.items.forEach((item, index) => {
        const child = this.convert(item as YamlNode, depth + 1, `${path}[${index}]`);
        out.push(child.value);
        values.set(index, this.loc(item as YamlNode));
        size += child.size;
      });
      positions.set(out, { self: this.loc(node), values });
      return { value: out, size };
    }
    if (isMap(node)) return this.mapping(node as YAMLMap<unknown, unknown>, depth, path);
    this.diagnostics.add('yaml', this.loc(node), path, 'unsupported YAML node');
    return { value: null, size: 1 };
  }

  private mapping(node: YAMLMap<unknown, unknown>, depth: number, path: string): { value: Value; size: number } {
    const out: ValueMap = {};
    const keys = new Map<string, Loc>();
    const values = new Map<string | number, Loc>();
    const merges: YamlNode[] = [];
    let size = 1;
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
        merges.push(pair.value as YamlNode);
        continue;
      }
      let key: string;
      if (isScalar(keyNode)) key = keyNode.value === null ? 'null' : String(this.scalar(keyNode));
      else {
        this.diagnostics.add('yaml', this.loc(keyNode), path, 'mapping keys must be plain values');
        continue;
      }
      const childPath = path ? `${path}.${key}` : key;
      const child = this.convert(pair.value as YamlNode, depth + 1, childPath);
      // A key such as "__proto__" must become data, not change the object's prototype.
      Object.defineProperty(out, key, { value: child.value, enumerable: true, writable: true, configurable: true });
      keys.set(key, this.loc(keyNode));
      values.set(key, pair.value ? this.loc(pair.value as YamlNode) : this.loc(keyNode));
      size += child.size;
    }
    // Merge keys (`<<: *base` or `<<: [*a, *b]`): explicit keys win, earlier sources win over later.
    for (const merge of merges) {
      const sources = isSeq(merge) ? (merge.items as YamlNode[]) : [merge];
      for (const source of sources) {
        const merged = this.convert(source, depth + 1, path);
        if (!isMapping(merged.value)) {
          this.diagnostics.add('yaml', this.loc(source), path, 'a merge key (<<) must refer to a mapping');
          continue;
        }
        const from = positions.get(merged.value);
        for (const [key, value] of Object.entries(merged.value)) {
          if (Object.hasOwn(out, key)) continue;
          Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
          const at = from?.values?.get(key);
          if (at) values.set(key, at);
          const keyAt = from?.keys?.get(key);
          if (keyAt) keys.set(key, keyAt);
        }
        size += merged.size;
      }
    }
    positions.set(out, { self: this.loc(node), keys, values });
    return { value: out, size };
  }

  private scalar(node: Scalar): Value {
    const value = node.value;
    // YAML 1.1 timestamps and binaries stay as the text the author wrote.
    if (value instanceof Date || value instanceof Uint8Array) return node.source ?? String(value);
    if (typeof value === 'bigint') return Number(value);
    if (value === undefined) return null;
    return value as Value;
  }
}

class SourceLimitError extends Error {
  constructor(
    readonly at: Loc,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses blueprint text with YAML 1.1 rules (as PyYAML, which Cloudify blueprints are written
 * for: `yes`/`no` are booleans, merge keys work). Problems go to `diagnostics`; the result is
 * undefined when the text cannot be used at all.
 */
export function parseYaml(text: string, path: string, diagnostics: Diagnostics): Value | undefined {
  const lines = new LineCounter();
  const file = new SourceFile(path, lines);
  const start: Loc = { file, offset: 0 };
  if (text.includes('\u0000')) {
    diagnostics.add('not-text', start, '', 'not a text file (contains NUL bytes)');
    return undefined;
  }
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, {
      version: '1.1',
      merge: true,
      lineCounter: lines,
      uniqueKeys: true,
      prettyErrors: false,
      strict: true,
    });
  } catch (error) {
    if (error instanceof RangeError) {
      diagnostics.add('yaml-limit', start, '', 'nesting too deep to parse');
      return undefined;
    }
    throw error;
  }
  if (doc.errors.length > 0) {
    for (const error of doc.errors.slice(0, 20)) {
      const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      diagnostics.add('yaml', { file, offset: error.pos[0] }, '', `invalid YAML: ${message}`);
    }
    return undefined;
  }
  const converter = new Converter(file, diagnostics, doc);
  try {
    return converter.convert(doc.contents as YamlNode, 0, '').value;
  } catch (error) {
    if (error instanceof SourceLimitError) {
      diagnostics.add('yaml-limit', error.at, '', error.message);
      return undefined;
    }
    if (error instanceof RangeError) {
      diagnostics.add('yaml-limit', start, '', 'nesting too deep to parse');
      return undefined;
    }
    throw error;
  }
}

/** Decodes file bytes as UTF-8 text, refusing binary data and oversized files. */
export function decodeSource(bytes: Uint8Array, path: string, diagnostics: Diagnostics): string | undefined {
  const at: Loc = { file: new SourceFile(path), offset: 0 };
  if (bytes.byteLength > limits.maxFileBytes) {
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
    diagnostics.add(
      'too-large',
      at,
      '',
      `file is ${mib(bytes.byteLength)} MiB, over the ${mib(limits.maxFileBytes)} MiB limit for a blueprint file`,
    );
    return undefined;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    diagnostics.add('not-text', at, '', 'not a text file (invalid UTF-8)');
    return undefined;
  }
}

export { Diagnostics };
