import { setOwn } from '@weft/sdk/keys';
import {
  type AliasEvent,
  boolYaml11Tag,
  EVENT_ID,
  type Event,
  floatYaml11Tag,
  getScalarValue,
  intYaml11Tag,
  type MappingEvent,
  NOT_RESOLVED,
  nullYaml11Tag,
  parseEvents,
  SCALAR_STYLE,
  type ScalarEvent,
  type SequenceEvent,
  YAMLException,
} from 'js-yaml';
import { Diagnostics, type Loc, SourceFile } from './diagnostics.js';

/**
 * Blueprint YAML is turned into plain JS values; the position of every mapping, sequence and
 * entry is kept on the side, keyed by the containing object, so validators can work on plain
 * data and still point at `file:line:col`.
 */
export type Value = null | string | number | boolean | Value[] | { [key: string]: Value };
export type ValueMap = { [key: string]: Value };

/**
 * Offsets of a container, its keys and its entries, stored compactly (parallel arrays):
 * blueprints have hundreds of thousands of entries and only a few are ever looked up.
 */
interface Positions {
  file: SourceFile;
  self: number;
  /** Mapping keys in order; absent for sequences. */
  names?: string[];
  keyAt?: number[];
  valueAt: number[];
  /** Built on the first look-up in a large mapping. */
  index?: Map<string, number>;
}

const positions = new WeakMap<object, Positions>();

function slot(info: Positions, key: string | number): number {
  if (typeof key === 'number' && !info.names) return key;
  const names = info.names;
  if (!names) return -1;
  if (names.length <= 16) return names.indexOf(String(key));
  if (!info.index) info.index = new Map(names.map((name, i) => [name, i]));
  return info.index.get(String(key)) ?? -1;
}

/** Location of `container[key]` (or of the container itself when no key is given). */
export function locOf(container: unknown, key?: string | number): Loc | undefined {
  if (container === null || typeof container !== 'object') return undefined;
  const info = positions.get(container);
  if (!info) return undefined;
  if (key === undefined) return { file: info.file, offset: info.self };
  const i = slot(info, key);
  return { file: info.file, offset: i >= 0 ? (info.valueAt[i] ?? info.self) : info.self };
}

/** Location of the key `key` in a mapping (for "unknown key" problems). */
export function keyLocOf(container: unknown, key: string): Loc | undefined {
  if (container === null || typeof container !== 'object') return undefined;
  const info = positions.get(container);
  if (!info) return undefined;
  const i = slot(info, key);
  return { file: info.file, offset: i >= 0 && info.keyAt ? (info.keyAt[i] ?? info.self) : info.self };
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
  const copy: Positions = { file: info.file, self: info.self, names: [], keyAt: [], valueAt: [] };
  for (const [now, before] of renames) {
    const i = slot(info, before);
    copy.names!.push(now);
    copy.keyAt!.push(i >= 0 && info.keyAt ? info.keyAt[i]! : info.self);
    copy.valueAt.push(i >= 0 ? info.valueAt[i]! : info.self);
  }
  positions.set(target, copy);
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

const IMPLICIT_TAGS = [nullYaml11Tag, boolYaml11Tag, intYaml11Tag, floatYaml11Tag];
/** PyYAML (what Cloudify blueprints are written for) reads y/n as text, unlike the YAML 1.1 spec. */
const PYYAML_STRINGS = new Set(['y', 'Y', 'n', 'N']);

/** A plain scalar resolved with YAML 1.1 rules: yes/no/on/off are booleans; timestamps stay text. */
/** First characters a YAML 1.1 null, boolean or number can start with; any other plain scalar is text. */
const NON_TEXT_START = new Set('~nNtTfFyYoO0123456789+-.'.split(''));

function resolvePlain(text: string): Value {
  if (text !== '' && !NON_TEXT_START.has(text[0]!)) return text;
  if (PYYAML_STRINGS.has(text)) return text;
  for (const tag of IMPLICIT_TAGS) {
    const first = tag.implicitFirstChars;
    if (first && !first.includes(text.charAt(0))) continue;
    const value = tag.resolve(text, false, tag.tagName);
    if (value !== NOT_RESOLVED) return value as Value;
  }
  return text;
}

const EXPLICIT_TAGS: Record<string, (text: string) => Value | typeof NOT_RESOLVED> = {
  '!!str': (text) => text,
  '!!int': (text) => intYaml11Tag.resolve(text, true, intYaml11Tag.tagName) as Value | typeof NOT_RESOLVED,
  '!!float': (text) =>
    floatYaml11Tag.resolve(text, true, floatYaml11Tag.tagName) as Value | typeof NOT_RESOLVED,
  '!!bool': (text) => boolYaml11Tag.resolve(text, true, boolYaml11Tag.tagName) as Value | typeof NOT_RESOLVED,
  '!!null': (text) => nullYaml11Tag.resolve(text, true, nullYaml11Tag.tagName) as Value | typeof NOT_RESOLVED,
};

class SourceLimitError extends Error {
  constructor(
    readonly at: Loc,
    message: string,
  ) {
    super(message);
  }
}

interface Frame {
  value: Value[] | ValueMap;
  positions: Positions;
  size: number;
  /** For mappings: the key waiting for its value. */
  pendingKey?: { key: string; at: Loc; merge: boolean };
  merges: { value: Value; at: Loc }[];
  anchor?: string;
}

/**
 * Builds plain values from the parser's event stream, recording where every mapping,
 * sequence, key and value starts. Anchored values are shared by their aliases (no copies),
 * and the size they stand for is bounded so an alias bomb is refused, not expanded.
 */
class ValueBuilder {
  private readonly anchors = new Map<string, { value: Value; size: number }>();
  private readonly stack: Frame[] = [];
  private root: Value | undefined;
  private documents = 0;
  private expanded = 0;

  constructor(
    private readonly text: string,
    private readonly file: SourceFile,
    private readonly diagnostics: Diagnostics,
  ) {}

  build(events: Event[]): Value | undefined {
    for (const event of events) {
      switch (event.type) {
        case EVENT_ID.DOCUMENT:
          this.documents++;
          if (this.documents > 1) {
            this.diagnostics.add(
              'yaml',
              this.loc(0),
              '',
              'a blueprint file must hold a single YAML document',
            );
            return undefined;
          }
          break;
        case EVENT_ID.MAPPING:
        case EVENT_ID.SEQUENCE:
          this.open(event);
          break;
        case EVENT_ID.SCALAR:
          this.scalar(event);
          break;
        case EVENT_ID.ALIAS:
          this.alias(event);
          break;
        case EVENT_ID.POP:
          this.close();
          break;
      }
    }
    return this.root === undefined ? null : this.root;
  }

  private loc(offset: number): Loc {
    return { file: this.file, offset: Math.max(0, offset) };
  }

  private anchorName(start: number, end: number): string | undefined {
    return start >= 0 ? this.text.slice(start, end) : undefined;
  }

  /** Adds a finished value to the collection being built (as a key or a value of a mapping). */
  private place(value: Value, size: number, at: Loc): void {
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      this.root = value;
      return;
    }
    parent.size += size;
    if (Array.isArray(parent.value)) {
      parent.positions.valueAt.push(at.offset);
      parent.value.push(value);
      return;
    }
    const pending = parent.pendingKey;
    if (!pending) {
      // This value is a key.
      if (value !== null && typeof value === 'object') {
        this.diagnostics.add('yaml', at, '', 'mapping keys must be plain values');
        parent.pendingKey = { key: '\u0000invalid', at, merge: false };
        return;
      }
      parent.pendingKey = { key: value === null ? 'null' : String(value), at, merge: false };
      return;
    }
    parent.pendingKey = undefined;
    if (pending.merge) {
      parent.merges.push({ value, at });
      return;
    }
    if (pending.key === '\u0000invalid') return;
    const map = parent.value;
    if (Object.hasOwn(map, pending.key)) {
      this.diagnostics.add('yaml', pending.at, '', `duplicate key '${pending.key}'`);
      return;
    }
    setOwn(map, pending.key, value);
    parent.positions.names!.push(pending.key);
    parent.positions.keyAt!.push(pending.at.offset);
    parent.positions.valueAt.push(at.offset);
  }

  /** Merge keys (`<<`) add the entries the mapping does not have itself. */
  private finishMerges(frame: Frame): void {
    const map = frame.value as ValueMap;
    for (const merge of frame.merges) {
      const sources = Array.isArray(merge.value) ? merge.value : [merge.value];
      for (const source of sources) {
        if (!isMapping(source)) {
          this.diagnostics.add(
            'yaml',
            merge.at,
            '',
            'a merge key (<<) must refer to a mapping or a list of mappings',
          );
          continue;
        }
        const from = positions.get(source);
        for (const [key, value] of Object.entries(source)) {
          if (Object.hasOwn(map, key)) continue;
          setOwn(map, key, value);
          const i = from ? slot(from, key) : -1;
          frame.positions.names!.push(key);
          frame.positions.keyAt!.push(i >= 0 ? from!.keyAt![i]! : merge.at.offset);
          frame.positions.valueAt.push(i >= 0 ? from!.valueAt[i]! : merge.at.offset);
          frame.size += 1;
        }
      }
    }
  }

  private open(event: MappingEvent | SequenceEvent): void {
    const isMap = event.type === EVENT_ID.MAPPING;
    const value: Value[] | ValueMap = isMap ? {} : [];
    const framePositions: Positions = isMap
      ? { file: this.file, self: event.start, names: [], keyAt: [], valueAt: [] }
      : { file: this.file, self: event.start, valueAt: [] };
    positions.set(value, framePositions);
    const frame: Frame = { value, positions: framePositions, size: 1, merges: [] };
    const anchor = this.anchorName(event.anchorStart, event.anchorEnd);
    if (anchor) frame.anchor = anchor;
    this.stack.push(frame);
  }

  private scalar(event: ScalarEvent): void {
    const raw = getScalarValue(this.text, event);
    // A quoted scalar starts at its opening quote.
    const quoted = event.style === SCALAR_STYLE.SINGLE_QUOTED || event.style === SCALAR_STYLE.DOUBLE_QUOTED;
    const at = this.loc(quoted ? event.valueStart - 1 : event.valueStart);
    const parent = this.stack[this.stack.length - 1];
    const isKey = parent !== undefined && !Array.isArray(parent.value) && !parent.pendingKey;
    let value: Value;
    if (event.tagStart >= 0) value = this.tagged(event, raw);
    else if (event.style === SCALAR_STYLE.PLAIN) {
      if (isKey && raw === '<<') {
        parent.pendingKey = { key: '<<', at, merge: true };
        return;
      }
      value = resolvePlain(raw);
    } else value = raw;
    const anchor = this.anchorName(event.anchorStart, event.anchorEnd);
    if (anchor) this.anchors.set(anchor, { value, size: 1 });
    this.place(value, 1, at);
  }

  /** A scalar with an explicit tag (`!!str 08`); an unknown tag or a value it refuses is a problem. */
  private tagged(event: ScalarEvent, raw: string): Value {
    const tag = this.text.slice(event.tagStart, event.tagEnd);
    const resolve = EXPLICIT_TAGS[tag];
    const resolved = resolve ? resolve(raw) : NOT_RESOLVED;
    if (resolved !== NOT_RESOLVED) return resolved;
    this.diagnostics.add(
      'yaml',
      this.loc(event.tagStart),
      '',
      resolve ? `'${raw}' is not a valid ${tag}` : `unsupported YAML tag ${tag}`,
    );
    return raw;
  }

  private alias(event: AliasEvent): void {
    const name = this.text.slice(event.anchorStart, event.anchorEnd);
    const at = this.loc(event.anchorStart - 1);
    const target = this.anchors.get(name);
    if (!target) {
      this.diagnostics.add('yaml', at, '', `unknown alias *${name}`);
      this.place(null, 1, at);
      return;
    }
    this.expanded += target.size;
    if (this.expanded > limits.maxExpandedNodes) {
      throw new SourceLimitError(
        at,
        `aliases expand to more than ${limits.maxExpandedNodes} values (an alias bomb?)`,
      );
    }
    this.place(target.value, target.size, at);
  }

  private close(): void {
    const frame = this.stack.pop();
    if (!frame) return;
    if (frame.merges.length > 0) this.finishMerges(frame);
    if (frame.anchor) this.anchors.set(frame.anchor, { value: frame.value, size: frame.size });
    if (this.stack.length === 0 && this.root === undefined && frame.value !== undefined) {
      this.root = frame.value;
      return;
    }
    const at = this.loc(frame.positions.self);
    this.place(frame.value, frame.size, at);
    if (frame.size + this.expanded > limits.maxExpandedNodes) {
      throw new SourceLimitError(
        at,
        `aliases expand to more than ${limits.maxExpandedNodes} values (an alias bomb?)`,
      );
    }
  }
}

/** js-yaml's refusal of a flow collection continued on a line indented less than its key. */
function deficientLineBreak(source: string, error: unknown): number | undefined {
  if (!(error instanceof YAMLException)) return undefined;
  if ((error as YAMLException & { reason?: string }).reason !== 'deficient indentation') return undefined;
  const position = (error as YAMLException & { mark?: { position?: number } }).mark?.position ?? 0;
  const lineBreak = source.lastIndexOf('\n', position - 1);
  if (lineBreak < 0) return undefined;
  // Joining the line to one that ends in a comment would comment it out.
  if (source.slice(source.lastIndexOf('\n', lineBreak - 1) + 1, lineBreak).includes('#')) return undefined;
  return lineBreak;
}

/**
 * Parses YAML events as PyYAML reads the text: inside a flow collection it does not mind a line
 * indented less than the collection's key, which YAML (and js-yaml) refuses. Each such line
 * break becomes a space (the same in a flow collection), which keeps every offset in place.
 */
function parseTolerantly(text: string): { events: Event[]; source: string } {
  let source = text;
  for (;;) {
    try {
      return { events: parseEvents(source, { maxDepth: limits.maxDepth }), source };
    } catch (error) {
      const at = deficientLineBreak(source, error);
      if (at === undefined) throw error;
      const from = source[at - 1] === '\r' ? at - 1 : at;
      source = `${source.slice(0, from)}${' '.repeat(at + 1 - from)}${source.slice(at + 1)}`;
    }
  }
}

/**
 * Parses blueprint text with YAML 1.1 rules, as PyYAML (which Cloudify blueprints are written
 * for): `yes`/`no` are booleans, merge keys work. Problems go to `diagnostics`; the result is
 * undefined when the text cannot be used at all.
 */
export function parseYaml(text: string, path: string, diagnostics: Diagnostics): Value | undefined {
  const file = new SourceFile(path, text);
  const start: Loc = { file, offset: 0 };
  if (text.includes('\u0000')) {
    diagnostics.add('not-text', start, '', 'not a text file (contains NUL bytes)');
    return undefined;
  }
  try {
    const { events, source } = parseTolerantly(text);
    return new ValueBuilder(source, file, diagnostics).build(events);
  } catch (error) {
    if (error instanceof SourceLimitError) {
      diagnostics.add('yaml-limit', error.at, '', error.message);
      return undefined;
    }
    if (error instanceof YAMLException) {
      const reason = (error as YAMLException & { reason?: string }).reason ?? error.message.split('\n')[0]!;
      const position = (error as YAMLException & { mark?: { position?: number } }).mark?.position ?? 0;
      const message = /maxDepth/.test(reason)
        ? `nesting deeper than ${limits.maxDepth} levels`
        : `invalid YAML: ${reason}`;
      diagnostics.add(
        /maxDepth/.test(reason) ? 'yaml-limit' : 'yaml',
        { file, offset: position },
        '',
        message,
      );
      return undefined;
    }
    if (error instanceof RangeError) {
      diagnostics.add('yaml-limit', start, '', 'nesting too deep to parse');
      return undefined;
    }
    throw error;
  }
}

/**
 * A value given on the command line (`-i port=8080`): a plain YAML 1.1 scalar, a quoted one
 * (`op="a.b"` is the text a.b), or a flow list or mapping (`[80, 443]`, `{a: 1}`); anything
 * unparsable stays text.
 */
export function parseScalarText(text: string): Value {
  const trimmed = text.trim();
  if (/^["'[{]/.test(trimmed)) {
    const value = parseYaml(trimmed, '<argument>', new Diagnostics());
    if (value !== undefined) return value;
  }
  return resolvePlain(text);
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

/**
 * A parsed file as JSON, with every container's positions (in the order `parsedFromJson` walks
 * them): the standard library's files are kept so beside their YAML, and read by JSON.parse in
 * well under a millisecond instead of about 55 ms of a cold YAML parser at every start. `source`
 * identifies the text it was made from: a cache that does not match is not used.
 */
export interface ParsedJson {
  source: { length: number; checksum: string };
  value: Value;
  /** Per container: its offset, then for a mapping its keys in order and their offsets, then its values' offsets. */
  positions: [number, string[] | null, number[] | null, number[]][];
}

/** FNV-1a (32 bits) of the text's UTF-16 code units: tells a changed file from the one cached. */
function checksum(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, '0');
}

/** Children of a container in the order its positions list them. */
function children(value: Value[] | ValueMap, info: Positions): Value[] {
  return Array.isArray(value) ? value : info.names!.map((name) => value[name]!);
}

/** `value` (parsed by parseYaml from `text`) as ParsedJson. Aliased values are written out in full. */
export function parsedToJson(value: Value, text: string): ParsedJson {
  const list: ParsedJson['positions'] = [];
  const walk = (v: Value) => {
    if (v === null || typeof v !== 'object') return;
    const info = positions.get(v);
    if (!info) throw new Error('a value without positions: not parsed by parseYaml');
    list.push([info.self, info.names ?? null, info.keyAt ?? null, info.valueAt]);
    for (const child of children(v, info)) walk(child);
  };
  walk(value);
  return { source: { length: text.length, checksum: checksum(text) }, value, positions: list };
}

/**
 * The value parseYaml gives for `text` (the file at `path`), from its ParsedJson; undefined when
 * the cache was made from another text (the file changed since).
 */
export function parsedFromJson(cache: ParsedJson, text: string, path: string): Value | undefined {
  if (cache.source.length !== text.length || cache.source.checksum !== checksum(text)) return undefined;
  const file = new SourceFile(path, text);
  let next = 0;
  const walk = (v: Value) => {
    if (v === null || typeof v !== 'object') return;
    const [self, names, keyAt, valueAt] = cache.positions[next++]!;
    const info: Positions = names ? { file, self, names, keyAt: keyAt!, valueAt } : { file, self, valueAt };
    positions.set(v, info);
    for (const child of children(v, info)) walk(child);
  };
  walk(cache.value);
  return cache.value;
}
