import { dirname, join, resolve } from 'node:path';
import { type Diagnostics, didYouMean, type Loc, SourceFile, shown } from './diagnostics.js';
import { namespaceDocument } from './namespaces.js';
import { within } from './paths.js';
import { type BlueprintReader, STDLIB_DIR } from './reader.js';
import {
  DSL_VERSIONS,
  type DslVersion,
  FEATURE_SINCE,
  isDslVersion,
  supports,
  versionRank,
} from './versions.js';
import {
  decodeSource,
  isMapping,
  keyLocOf,
  locOf,
  type ParsedJson,
  parsedFromJson,
  parseYaml,
  setLoc,
  type Value,
  type ValueMap,
} from './yaml-source.js';

/** Top-level keys of a blueprint file, as Cloudify's parser accepts them. */
export const TOP_LEVEL_KEYS = [
  'tosca_definitions_version',
  'description',
  'imports',
  'dsl_definitions',
  'metadata',
  'inputs',
  'plugins',
  'node_types',
  'relationships',
  'node_templates',
  'policy_types',
  'policy_triggers',
  'groups',
  'policies',
  'workflows',
  'outputs',
  'data_types',
  'capabilities',
  'labels',
  'blueprint_labels',
  'deployment_settings',
  'resource_tags',
] as const;

/** Sections whose entries are merged across imports; a repeated name must be the same definition. */
const ALWAYS_MERGED = [
  'node_types',
  'plugins',
  'workflows',
  'relationships',
  'policy_types',
  'groups',
  'policy_triggers',
  'data_types',
] as const;

/** Sections an imported file may contribute from DSL 1_3 on. */
const MERGED_SINCE_1_3 = [
  'inputs',
  'outputs',
  'node_templates',
  'capabilities',
  'labels',
  'blueprint_labels',
  'resource_tags',
  'policies',
] as const;

export type SectionName = (typeof ALWAYS_MERGED)[number] | (typeof MERGED_SINCE_1_3)[number];

/** One named definition from some file, with where it was written. */
export interface Entry {
  name: string;
  value: Value;
  file: string;
  keyAt: Loc | undefined;
  at: Loc | undefined;
  /** From Weft's standard library or an installed plugin, not the blueprint's own files. */
  trusted: boolean;
}

export interface LoadedBlueprint {
  mainFile: string;
  baseDir: string;
  version: DslVersion;
  description?: string;
  metadata?: Value;
  deploymentSettings?: Value;
  sections: Map<SectionName, Map<string, Entry>>;
  /** The main file's document, where a problem's path leads when no section holds it. */
  mainDocument: ValueMap;
  /** Plugin imports that could not be resolved: later "unknown" problems may stem from them. */
  unresolvedPlugins: string[];
  files: string[];
}

const STDLIB_URL = /^https?:\/\/(www\.)?(cloudify\.co|getcloudify\.org)\/spec\/cloudify\/[^/]+\/types\.yaml$/;
const STDLIB_NAMES = new Set(['cloudify/types/types.yaml']);

/** The bundled standard library file for a DSL version (each declares a version the blueprint may import). */
export function stdlibFileFor(version: DslVersion): string {
  const rank = versionRank(version);
  const file =
    rank >= 5
      ? 'types.yaml'
      : rank === 4
        ? 'types_1_4.yaml'
        : rank === 3
          ? 'types_1_3.yaml'
          : 'types_1_0.yaml';
  return join(STDLIB_DIR, file);
}

interface Pending {
  path: string;
  prefix: string;
  importedAt?: Loc;
  importPath: string;
  trusted: boolean;
}

function splitNamespace(spec: string): { namespace?: string; target: string } {
  const at = spec.indexOf('--');
  if (at > 0) {
    const head = spec.slice(0, at);
    if (!/[/:\\.]/.test(head)) return { namespace: head, target: spec.slice(at + 2) };
  }
  return { target: spec };
}

/** Whether `file`, inside `root` by its name, lies outside it once symbolic links are followed. */
function linksOutside(reader: BlueprintReader, root: string, file: string): boolean {
  const real = reader.realPath?.(file);
  const realRoot = reader.realPath?.(root);
  return real !== undefined && realRoot !== undefined && !within(realRoot, real);
}

/**
 * A standard library file as its cache beside it (`types.yaml.json`, made by
 * scripts/stdlib-cache.mjs) holds it, when the cache was made from this text.
 */
function stdlibCached(path: string, text: string, reader: BlueprintReader): Value | undefined {
  if (dirname(path) !== STDLIB_DIR || !reader.isFile(`${path}.json`)) return undefined;
  const cache = JSON.parse(new TextDecoder().decode(reader.read(`${path}.json`))) as ParsedJson;
  return parsedFromJson(cache, text, path);
}

function readDocument(
  path: string,
  reader: BlueprintReader,
  diagnostics: Diagnostics,
  importedAt: Loc | undefined,
  importPath: string,
): ValueMap | undefined {
  let bytes: Uint8Array;
  try {
    bytes = reader.read(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    diagnostics.add('import-not-found', importedAt, importPath, `cannot read '${path}': ${reason}`);
    return undefined;
  }
  const text = decodeSource(bytes, path, diagnostics);
  if (text === undefined) return undefined;
  const doc = stdlibCached(path, text, reader) ?? parseYaml(text, path, diagnostics);
  if (doc === undefined) return undefined;
  // An empty imported file adds nothing (as in Cloudify); an empty main file is no blueprint.
  if (doc === null && importedAt) return {};
  if (!isMapping(doc)) {
    diagnostics.add(
      'not-a-mapping',
      locOf(doc) ?? { file: new SourceFile(path), offset: 0 },
      '',
      'a blueprint must be a YAML mapping',
    );
    return undefined;
  }
  return doc;
}

/**
 * Loads the main file and everything it imports (breadth first, each file once per namespace),
 * checks versions, applies namespaces and merges the mergeable sections.
 */
export function loadImports(
  mainFile: string,
  reader: BlueprintReader,
  diagnostics: Diagnostics,
  mainDocument?: ValueMap,
): LoadedBlueprint | undefined {
  const main = resolve(mainFile);
  const baseDir = dirname(main);
  // Another front end (HOT) may have made the main document from the file already.
  const mainDoc = mainDocument ?? readDocument(main, reader, diagnostics, undefined, '');
  if (!mainDoc) return undefined;

  const versionValue = mainDoc.tosca_definitions_version;
  if (versionValue === undefined) {
    diagnostics.add(
      'missing-version',
      locOf(mainDoc),
      'tosca_definitions_version',
      `missing; use one of ${DSL_VERSIONS.join(', ')}`,
    );
    return undefined;
  }
  if (!isDslVersion(versionValue)) {
    diagnostics.add(
      'unknown-version',
      locOf(mainDoc, 'tosca_definitions_version'),
      'tosca_definitions_version',
      `unknown version '${shown(versionValue)}'; known versions are ${DSL_VERSIONS.join(', ')}`,
    );
    return undefined;
  }
  const version: DslVersion = versionValue;

  const loaded: LoadedBlueprint = {
    mainFile: main,
    baseDir,
    version,
    sections: new Map(),
    mainDocument: mainDoc,
    unresolvedPlugins: [],
    files: [],
  };
  if (typeof mainDoc.description === 'string') loaded.description = mainDoc.description;
  else if (mainDoc.description !== undefined && mainDoc.description !== null) {
    diagnostics.add('type-mismatch', locOf(mainDoc, 'description'), 'description', 'expected a string');
  }
  if (mainDoc.metadata !== undefined) {
    if (!isMapping(mainDoc.metadata))
      diagnostics.add('type-mismatch', locOf(mainDoc, 'metadata'), 'metadata', 'expected a mapping');
    loaded.metadata = mainDoc.metadata;
  }
  if (mainDoc.deployment_settings !== undefined) loaded.deploymentSettings = mainDoc.deployment_settings;

  const seen = new Set<string>();
  const queue: { doc: ValueMap; pending: Pending }[] = [
    { doc: mainDoc, pending: { path: main, prefix: '', importPath: '', trusted: false } },
  ];
  seen.add(`${main}|`);
  for (let index = 0; index < queue.length; index++) {
    const { doc: rawDoc, pending } = queue[index]!;
    const isMain = index === 0;
    loaded.files.push(pending.path);

    if (!isMain) {
      const fileVersion = rawDoc.tosca_definitions_version;
      if (fileVersion !== undefined) {
        if (!isDslVersion(fileVersion)) {
          diagnostics.add(
            'unknown-version',
            locOf(rawDoc, 'tosca_definitions_version'),
            'tosca_definitions_version',
            `unknown version '${shown(fileVersion)}'; known versions are ${DSL_VERSIONS.join(', ')}`,
          );
        } else if (versionRank(fileVersion) > versionRank(version)) {
          diagnostics.add(
            'import-version',
            locOf(rawDoc, 'tosca_definitions_version'),
            'tosca_definitions_version',
            `imported file declares ${fileVersion}, newer than the main blueprint's ${version}`,
          );
        }
      }
    }

    for (const key of Object.keys(rawDoc)) {
      if (!(TOP_LEVEL_KEYS as readonly string[]).includes(key)) {
        diagnostics.add(
          'unknown-key',
          keyLocOf(rawDoc, key),
          key,
          `unknown top-level key${didYouMean(key, TOP_LEVEL_KEYS)}`,
        );
      }
    }
    // Cloudify gates these top-level keys (not labels, blueprint_labels, deployment_settings or capabilities).
    for (const key of ['description', 'dsl_definitions', 'policies', 'resource_tags'] as const) {
      if (rawDoc[key] !== undefined && !supports(version, key)) {
        diagnostics.add(
          'version-gated',
          keyLocOf(rawDoc, key),
          key,
          `${key} needs ${FEATURE_SINCE[key]} or later (this blueprint is ${version})`,
        );
      }
    }

    const doc = pending.prefix ? namespaceDocument(rawDoc, pending.prefix) : rawDoc;
    mergeSections(loaded, doc, pending, isMain, version, diagnostics);
    queueImports(loaded, rawDoc, pending, reader, diagnostics, seen, queue, baseDir, version);
  }
  return loaded;
}

function queueImports(
  loaded: LoadedBlueprint,
  doc: ValueMap,
  from: Pending,
  reader: BlueprintReader,
  diagnostics: Diagnostics,
  seen: Set<string>,
  queue: { doc: ValueMap; pending: Pending }[],
  baseDir: string,
  version: DslVersion,
): void {
  const imports = doc.imports;
  if (imports === undefined || imports === null) return;
  if (!Array.isArray(imports)) {
    diagnostics.add('type-mismatch', locOf(doc, 'imports'), 'imports', 'expected a list of imports');
    return;
  }
  imports.forEach((item, index) => {
    const path = `imports[${index}]`;
    const at = locOf(imports, index);
    let spec: string;
    if (typeof item === 'string') spec = item;
    else if (isMapping(item) && Object.keys(item).length === 1) {
      if (!supports(version, 'import_properties')) {
        diagnostics.add(
          'version-gated',
          at,
          path,
          `import properties need cloudify_dsl_1_5 or later (this blueprint is ${version})`,
        );
        return;
      }
      spec = Object.keys(item)[0]!;
    } else {
      diagnostics.add('type-mismatch', at, path, 'expected an import path or URL');
      return;
    }
    const { namespace, target } = splitNamespace(spec);
    const prefix = namespace ? `${from.prefix}${namespace}--` : from.prefix;
    let file: string | undefined;
    let trusted = false;
    if (STDLIB_URL.test(target) || STDLIB_NAMES.has(target)) {
      if (namespace) {
        diagnostics.add(
          'namespaced-stdlib',
          at,
          path,
          `the standard library cannot be imported into a namespace ('${spec}')`,
        );
        return;
      }
      file = stdlibFileFor(version);
      trusted = true;
      // Its names all start with "cloudify.", so it needs no prefix even inside a namespace.
      const key = `${file}|`;
      if (seen.has(key)) return;
      seen.add(key);
      const stdDoc = readDocument(file, reader, diagnostics, at, path);
      if (stdDoc)
        queue.push({
          doc: stdDoc,
          pending: { path: file, prefix: '', importedAt: at, importPath: path, trusted },
        });
      return;
    }
    if (target.startsWith('plugin:')) {
      const [name, query] = target.slice('plugin:'.length).split('?', 2) as [string, string | undefined];
      const pluginVersion = query ? (new URLSearchParams(query).get('version') ?? undefined) : undefined;
      try {
        file = reader.resolvePlugin?.(name, pluginVersion);
      } catch (error) {
        // Installed but unusable (a bad definition, a missing or cyclic dependency).
        loaded.unresolvedPlugins.push(name);
        diagnostics.add('plugin-unusable', at, path, (error as Error).message);
        return;
      }
      if (!file) {
        loaded.unresolvedPlugins.push(name);
        diagnostics.add(
          'plugin-not-installed',
          at,
          path,
          `plugin '${name}'${pluginVersion ? ` (version ${pluginVersion})` : ''} is not installed, so '${spec}' cannot be imported`,
        );
        return;
      }
      trusted = true;
    } else if (target.startsWith('blueprint:')) {
      const id = target.slice('blueprint:'.length);
      if (!namespace) {
        diagnostics.add(
          'blueprint-import',
          at,
          path,
          `a blueprint import needs a namespace: write 'NS--${target}'`,
        );
        return;
      }
      file = reader.resolveBlueprint?.(id);
      if (!file) {
        diagnostics.add('blueprint-import', at, path, `no stored blueprint '${id}' to import ('${spec}')`);
        return;
      }
      trusted = true;
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
      diagnostics.add(
        'remote-import',
        at,
        path,
        `cannot import '${target}': Weft does not fetch imports over the network (only the standard library URLs are built in); download it next to the blueprint and import it by relative path`,
      );
      return;
    } else {
      file = resolve(dirname(from.path), target);
      if (!from.trusted && !within(baseDir, file)) {
        diagnostics.add(
          'import-escapes',
          at,
          path,
          `import '${target}' points outside the blueprint's directory`,
        );
        return;
      }
      if (!reader.isFile(file)) {
        const hint = /^plugins?:/.test(target)
          ? `; did you mean 'plugin:${target.replace(/^plugins?:/, '')}'?`
          : '';
        diagnostics.add(
          'import-not-found',
          at,
          path,
          `import '${target}' not found (looked for ${file})${hint}`,
        );
        return;
      }
      // Nor through a symbolic link: what it leads to is not read, so none of it is shown.
      if (!from.trusted && linksOutside(reader, baseDir, file)) {
        diagnostics.add(
          'import-escapes',
          at,
          path,
          `import '${target}' leads outside the blueprint's directory (a symbolic link)`,
        );
        return;
      }
      trusted = from.trusted;
    }
    const key = `${file}|${prefix}`;
    if (seen.has(key)) return;
    seen.add(key);
    const importedDoc = readDocument(file, reader, diagnostics, at, path);
    if (importedDoc)
      queue.push({
        doc: importedDoc,
        pending: { path: file, prefix, importedAt: at, importPath: path, trusted },
      });
  });
}

function sameValue(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as Value[];
    return a.length === bb.length && a.every((item, i) => sameValue(item, bb[i]!));
  }
  const am = a as ValueMap;
  const bm = b as ValueMap;
  const keys = Object.keys(am);
  return (
    keys.length === Object.keys(bm).length &&
    keys.every((k) => Object.hasOwn(bm, k) && sameValue(am[k]!, bm[k]!))
  );
}

function mergeSections(
  loaded: LoadedBlueprint,
  doc: ValueMap,
  { path: file, trusted }: Pending,
  isMain: boolean,
  version: DslVersion,
  diagnostics: Diagnostics,
): void {
  const sections: readonly SectionName[] = [...ALWAYS_MERGED, ...MERGED_SINCE_1_3];
  for (const section of sections) {
    const body = doc[section];
    if (body === undefined || body === null) continue;
    if (!isMapping(body)) {
      diagnostics.add('type-mismatch', locOf(doc, section), section, 'expected a mapping');
      continue;
    }
    let entries = loaded.sections.get(section);
    if (
      entries &&
      !isMain &&
      (MERGED_SINCE_1_3 as readonly string[]).includes(section) &&
      !supports(version, 'imported_templates')
    ) {
      diagnostics.add(
        'version-gated',
        keyLocOf(doc, section),
        section,
        `${section} defined in more than one file needs cloudify_dsl_1_3 or later (this blueprint is ${version})`,
      );
      continue;
    }
    if (!entries) {
      entries = new Map();
      loaded.sections.set(section, entries);
    }
    for (const [name, value] of Object.entries(body)) {
      const entry: Entry = {
        name,
        value,
        file,
        keyAt: keyLocOf(body, name),
        at: locOf(body, name),
        trusted,
      };
      const existing = entries.get(name);
      // Cloudify's own types (named cloudify.*) may be given again; the later definition is used.
      if (!existing || name.startsWith('cloudify.')) {
        entries.set(name, entry);
        continue;
      }
      if (section === 'node_templates') {
        const merged = mergeTemplateParts(existing, entry);
        if (merged) {
          entries.set(name, merged);
          continue;
        }
      }
      // Labels, tags and workflows given again keep their first definition (as Cloudify does).
      if (TOLERATED_AGAIN.includes(section) || sameValue(existing.value, value)) continue;
      diagnostics.add(
        'duplicate-definition',
        entry.keyAt,
        `${section}.${name}`,
        'defined twice with different content: here and first at',
        existing.keyAt,
      );
    }
  }
}

/** Sections whose entries may be given again (the first is kept). */
const TOLERATED_AGAIN: readonly SectionName[] = ['labels', 'blueprint_labels', 'resource_tags', 'workflows'];

/**
 * A node template given in two files, as Cloudify allows: one part holding only relationships
 * is completed by a part with the type, or a part gets more relationships from a part holding
 * only relationships. Anything else is a conflict (undefined).
 */
function mergeTemplateParts(first: Entry, second: Entry): Entry | undefined {
  const a = first.value;
  const b = second.value;
  if (!isMapping(a) || !isMapping(b) || !Array.isArray(a.relationships)) return undefined;
  const onlyRelationships = (m: ValueMap) => Object.keys(m).length === 1 && Array.isArray(m.relationships);
  const relationships = (base: ValueMap, more: ValueMap): ValueMap => {
    const merged: ValueMap = {
      ...base,
      relationships: [
        ...(a.relationships as Value[]),
        ...((more.relationships as Value[] | undefined) ?? []),
      ],
    };
    setLoc(merged, base);
    return merged;
  };
  if (onlyRelationships(a) && (b.type !== undefined || onlyRelationships(b)))
    return { ...second, value: relationships(b, b) };
  if (onlyRelationships(b)) return { ...first, value: relationships(a, b) };
  return undefined;
}
