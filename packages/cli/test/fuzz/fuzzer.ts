/**
 * A blueprint fuzzer: the examples and the conformance cases, mutated from a fixed seed (values
 * swapped for hostile ones, keys dropped or duplicated, function calls broken, text cut and
 * shuffled), each validated and planned as `weft validate`/`weft plan` would. A blueprint may be
 * invalid in any way; what must never happen is an exception, a hang, or a problem that does not
 * say where it is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSystemReader, formatProblem, loadBlueprint, type Problem, seededRandom } from '@weft/engine';
import { dump, load } from 'js-yaml';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');

/** A blueprint to mutate: its main file's text and the files beside it, by path. */
export interface Seed {
  name: string;
  dir: string;
  main: string;
  files: Map<string, string>;
}

/** The examples' blueprints (with their other files) and every conformance case. */
export function seeds(): Seed[] {
  const found: Seed[] = [];
  const examples = join(repoRoot, 'examples');
  for (const name of readdirSync(examples).sort()) {
    const dir = join(examples, name);
    const main = join(dir, 'blueprint.yaml');
    try {
      found.push({ name: `examples/${name}`, dir, main: readFileSync(main, 'utf8'), files: new Map() });
    } catch {
      // Not an example directory.
    }
  }
  const cases = join(repoRoot, 'packages', 'engine', 'test', 'conformance');
  for (const file of readdirSync(cases).filter((f) => f.endsWith('.yaml'))) {
    const list = load(readFileSync(join(cases, file), 'utf8')) as {
      name: string;
      blueprint: string;
      files?: Record<string, string>;
    }[];
    for (const c of list) {
      const dir = join('/fuzz', file.replace(/\.yaml$/, ''), String(found.length));
      found.push({
        name: `${file}: ${c.name}`,
        dir,
        main: c.blueprint,
        files: new Map(Object.entries(c.files ?? {}).map(([path, text]) => [join(dir, path), text])),
      });
    }
  }
  return found;
}

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

/** Values a user (or an attacker) could put anywhere. */
const HOSTILE: readonly unknown[] = [
  null,
  '',
  0,
  -1,
  1.5,
  1000,
  '1e400',
  true,
  'yes',
  [],
  {},
  [[[[[]]]]],
  { a: { b: { c: { d: {} } } } },
  '__proto__',
  'constructor',
  JSON.parse('{"__proto__": {"polluted": true}}'),
  { constructor: { prototype: { polluted: true } } },
  '../../../../etc/passwd',
  '{{ 7 * 7 }}',
  '{% for x in range(10) %}x{% endfor %}',
  'ünïcödé ✓ \u202e',
  'a'.repeat(4096),
  { get_input: 'nope' },
  { get_input: ['nope', 0, 'x'] },
  { get_property: ['SELF'] },
  { get_property: ['nowhere', 'x'] },
  { get_attribute: [] },
  { get_secret: { get_secret: 'x' } },
  { concat: 'not a list' },
  { concat: [{ concat: [{ concat: [1, { get_input: 'x' }] }] }] },
  { merge: [1, 2] },
  { get_sys: ['deployment', 'nope'] },
  { string_find: [] },
  { not_a_function: 1 },
];

/** Keys that carry meaning in the DSL, to insert where they do not belong. */
const KEYS: readonly string[] = [
  'type',
  'derived_from',
  'properties',
  'interfaces',
  'relationships',
  'target',
  'implementation',
  'inputs',
  'default',
  'constraints',
  'capabilities',
  'scalable',
  'default_instances',
  'executor',
  'max_retries',
  'imports',
  'node_templates',
  'tosca_definitions_version',
  'workflows',
  'mapping',
  'parameters',
  'groups',
  'policies',
  'members',
  'data_types',
  'plugins',
  'source',
  'description',
  '__proto__',
  'constructor',
];

type Tree = unknown;

/** Sets an own entry, also one named `__proto__` (which plain assignment would not create). */
function put(record: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Every container (mapping or list) in the tree, with a way to replace one of its entries. */
function containers(tree: Tree, into: (Record<string, unknown> | unknown[])[] = []) {
  if (tree !== null && typeof tree === 'object') {
    into.push(tree as Record<string, unknown> | unknown[]);
    for (const child of Object.values(tree)) containers(child, into);
  }
  return into;
}

function mutateTree(tree: Tree, rng: Rng): Tree {
  const all = containers(tree);
  if (all.length === 0) return pick(rng, HOSTILE);
  const target = pick(rng, all);
  const keys = Object.keys(target);
  const key = keys.length > 0 ? pick(rng, keys) : undefined;
  const record = target as Record<string, unknown>;
  switch (Math.floor(rng() * 7)) {
    case 0: // a hostile value
      if (key !== undefined) put(record, key, structuredClone(pick(rng, HOSTILE)));
      break;
    case 1: // a key dropped
      if (key !== undefined) {
        if (Array.isArray(target)) target.splice(Number(key), 1);
        else delete record[key];
      }
      break;
    case 2: // a meaningful key where it does not belong
      if (!Array.isArray(target)) put(record, pick(rng, KEYS), structuredClone(pick(rng, HOSTILE)));
      break;
    case 3: // a value moved elsewhere
      if (key !== undefined) {
        const other = pick(rng, all) as Record<string, unknown>;
        const otherKeys = Object.keys(other);
        if (otherKeys.length > 0) put(record, key, structuredClone(other[pick(rng, otherKeys)!]));
      }
      break;
    case 4: // a value's type changed (a mapping to a list, a scalar to a mapping)
      if (key !== undefined) {
        const value = record[key];
        const changed: Record<string, unknown> = {};
        if (value === null || typeof value !== 'object') put(changed, String(value), value);
        put(record, key, value !== null && typeof value === 'object' ? Object.values(value) : changed);
      }
      break;
    case 5: // a key renamed, as a typo would
      if (key !== undefined && !Array.isArray(target)) {
        const value = record[key];
        delete record[key];
        put(record, `${key.slice(0, -1)}${pick(rng, ['s', '_', '', 'x'])}`, value);
      }
      break;
    default: // a number made extreme (instance counts, retries, ports)
      if (key !== undefined)
        put(record, key, pick(rng, [0, -5, 2 ** 31, 1e21, 3.5, Number.MAX_SAFE_INTEGER]));
  }
  return tree;
}

/** Text-level damage: what YAML tree edits cannot make (bad indentation, cut documents, tabs). */
function mutateText(text: string, rng: Rng): string {
  const lines = text.split('\n');
  const at = Math.floor(rng() * lines.length);
  switch (Math.floor(rng() * 7)) {
    case 0:
      lines.splice(at, 1);
      break;
    case 1:
      lines.splice(at, 0, lines[Math.floor(rng() * lines.length)]!);
      break;
    case 2:
      lines[at] = ` ${lines[at]}`;
      break;
    case 3:
      lines[at] = lines[at]!.replace(/^ {2}/, '\t');
      break;
    case 4:
      return text.slice(0, Math.floor(rng() * text.length));
    case 5:
      lines[at] =
        `${lines[at]} ${pick(rng, ['&a', '*a', '!!python/object:os.system', '{', ']', '"', ': :', '<<: *x', '%YAML 1.1'])}`;
      break;
    default: {
      const bytes = Buffer.from(text);
      if (bytes.length > 0) bytes[Math.floor(rng() * bytes.length)] = Math.floor(rng() * 256);
      return bytes.toString('latin1');
    }
  }
  return lines.join('\n');
}

/** One mutation of a seed: its tree edited one to three times, or its text damaged. */
export function mutate(seed: Seed, rng: Rng): string {
  if (rng() < 0.3) return mutateText(seed.main, rng);
  let tree: Tree;
  try {
    tree = load(seed.main);
  } catch {
    return mutateText(seed.main, rng);
  }
  const edits = 1 + Math.floor(rng() * 3);
  for (let i = 0; i < edits; i++) tree = mutateTree(tree, rng);
  return dump(tree, { noRefs: true, lineWidth: -1 });
}

/** What went wrong with one mutated blueprint, if anything. */
export interface Finding {
  seed: string;
  case: number;
  what: string;
  blueprint: string;
}

/** The longest a single validate-and-plan may take before it counts as a hang. */
export const CASE_LIMIT_MS = 5_000;

/** Validates and plans one mutated blueprint as the CLI would; returns what is wrong, if anything. */
export function check(seed: Seed, text: string): string | undefined {
  const mainPath = join(seed.dir, 'blueprint.yaml');
  const files = new Map(seed.files);
  files.set(mainPath, text);
  const disk = fileSystemReader();
  const reader = {
    read: (path: string) => {
      const own = files.get(path);
      return own === undefined ? disk.read(path) : Buffer.from(own, 'latin1');
    },
    isFile: (path: string) => files.has(path) || disk.isFile(path),
  };
  const started = performance.now();
  let problems: Problem[];
  try {
    const result = loadBlueprint(mainPath, { reader, deploymentId: 'fuzz', validateOnly: false });
    problems = [...result.problems.sorted(), ...result.problems.warnings];
  } catch (error) {
    return `threw ${(error as Error)?.stack ?? String(error)}`;
  }
  const took = performance.now() - started;
  if (took > CASE_LIMIT_MS) return `took ${Math.round(took)} ms`;
  if (({} as Record<string, unknown>).polluted !== undefined) return 'Object.prototype was polluted';
  for (const problem of problems) {
    const shown = formatProblem(problem, seed.dir);
    if (!problem.message || /\bundefined\b|\[object Object\]/.test(problem.message))
      return `unclear problem: ${shown}`;
    if (problem.file === undefined || problem.line === undefined) return `problem without a place: ${shown}`;
  }
  return undefined;
}

/** Runs `count` mutations from `seed`, spread over every seed blueprint; returns the findings. */
export function fuzz(count: number, seedNumber: number, onCase?: (index: number) => void): Finding[] {
  const rng = seededRandom(seedNumber);
  const all = seeds();
  const findings: Finding[] = [];
  for (let i = 0; i < count; i++) {
    const seed = all[i % all.length]!;
    const text = mutate(seed, rng);
    const what = check(seed, text);
    if (what) findings.push({ seed: seed.name, case: i, what, blueprint: text });
    onCase?.(i);
  }
  return findings;
}

/** A finding as a report line: the seed, the case number and what went wrong. */
export function describeFinding(finding: Finding): string {
  return `#${finding.case} ${finding.seed}: ${finding.what.split('\n').slice(0, 6).join('\n  ')}`;
}
