/**
 * Heat environments (heat/common/environment_format.py, doc/source/template_guide/environment.rst):
 * `parameters`, `parameter_defaults`, `resource_registry`, `encrypted_param_names`,
 * `event_sinks`, `parameter_merge_strategies`. Several are merged in the order given, each over
 * the ones before, as `openstack stack create -e a.yaml -e b.yaml` merges them.
 */
import { dirname, relative, resolve } from 'node:path';
import { type Diagnostics, didYouMean, type Loc } from '../dsl/diagnostics.js';
import type { BlueprintReader } from '../dsl/reader.js';
import {
  decodeSource,
  isMapping,
  keyLocOf,
  locOf,
  parseYaml,
  type Value,
  type ValueMap,
} from '../dsl/yaml-source.js';

const SECTIONS = [
  'parameters',
  'parameter_defaults',
  'resource_registry',
  'encrypted_param_names',
  'event_sinks',
  'parameter_merge_strategies',
];

/** A resource_registry entry: another type's name, or a template file (absolute path). */
export interface RegistryTarget {
  type?: string;
  template?: string;
  /** Where the entry is written. */
  at: ReturnType<typeof locOf>;
}

export interface Environment {
  parameters: ValueMap;
  parameterDefaults: ValueMap;
  /** Type name (or a `prefix*` wildcard) to what it stands for. */
  registry: Map<string, RegistryTarget>;
  /** Resource name to its own registry (`resources: {NAME: {TYPE: TARGET}}`). */
  resourceRegistry: Map<string, Map<string, RegistryTarget>>;
  /**
   * Resource name patterns (fnmatch's) to the actions an update may not take on the resources
   * they match (`resources: {PATTERN: {restricted_actions: update | replace | [...]}}`).
   */
  restrictedActions: Map<string, Set<RestrictedAction>>;
  /** The environment files read (stored with the deployment). */
  files: string[];
  /** Where each parameter value is written (`parameters.NAME`, `parameter_defaults.NAME`). */
  places: Map<string, Loc | undefined>;
}

export function emptyEnvironment(): Environment {
  return {
    parameters: {},
    parameterDefaults: {},
    registry: new Map(),
    resourceRegistry: new Map(),
    restrictedActions: new Map(),
    files: [],
    places: new Map(),
  };
}

/** Reads environment files and merges them in order. */
export function readEnvironments(
  paths: string[],
  reader: BlueprintReader,
  diagnostics: Diagnostics,
): Environment {
  const env = emptyEnvironment();
  for (const path of paths) {
    const file = resolve(path);
    let bytes: Uint8Array;
    try {
      bytes = reader.read(file);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
      diagnostics.add('environment', undefined, '', `cannot read environment '${path}': ${reason}`);
      continue;
    }
    const text = decodeSource(bytes, file, diagnostics);
    if (text === undefined) continue;
    const doc = parseYaml(text, file, diagnostics);
    if (doc === undefined) continue;
    env.files.push(file);
    if (doc === null) continue;
    if (!isMapping(doc)) {
      diagnostics.add('not-a-mapping', locOf(doc), '', 'an environment must be a YAML mapping');
      continue;
    }
    mergeEnvironment(env, doc, dirname(file), diagnostics);
  }
  return env;
}

function mergeEnvironment(env: Environment, doc: ValueMap, baseDir: string, diagnostics: Diagnostics): void {
  for (const key of Object.keys(doc))
    if (!SECTIONS.includes(key))
      diagnostics.add(
        'unknown-key',
        keyLocOf(doc, key),
        key,
        `unknown environment section (the sections are ${SECTIONS.join(', ')})${didYouMean(key, SECTIONS)}`,
      );
  for (const section of ['parameters', 'parameter_defaults'] as const) {
    const value = doc[section];
    if (value === undefined || value === null) continue;
    if (!isMapping(value)) {
      diagnostics.add(
        'type-mismatch',
        locOf(doc, section),
        section,
        'expected a mapping of parameter names to values',
      );
      continue;
    }
    const into = section === 'parameters' ? env.parameters : env.parameterDefaults;
    for (const [name, v] of Object.entries(value)) {
      into[name] = v;
      env.places.set(`${section}.${name}`, locOf(value, name));
    }
  }
  if (doc.event_sinks !== undefined)
    diagnostics.warn(
      'event-sinks',
      keyLocOf(doc, 'event_sinks'),
      'event_sinks',
      'event_sinks are ignored: Weft keeps the events of every execution itself (weft events)',
    );
  const registry = doc.resource_registry;
  if (registry === undefined || registry === null) return;
  if (!isMapping(registry)) {
    diagnostics.add(
      'type-mismatch',
      locOf(doc, 'resource_registry'),
      'resource_registry',
      'expected a mapping',
    );
    return;
  }
  for (const [name, target] of Object.entries(registry)) {
    const path = `resource_registry.${name}`;
    if (name === 'resources') {
      if (!isMapping(target)) {
        diagnostics.add(
          'type-mismatch',
          locOf(registry, name),
          path,
          'expected a mapping of resource names to their registries',
        );
        continue;
      }
      for (const [resource, entries] of Object.entries(target)) {
        if (!isMapping(entries)) {
          diagnostics.add(
            'type-mismatch',
            locOf(target, resource),
            `${path}.${resource}`,
            'expected a mapping of types to types or template files',
          );
          continue;
        }
        const own = env.resourceRegistry.get(resource) ?? new Map<string, RegistryTarget>();
        for (const [type, to] of Object.entries(entries)) {
          if (type === 'restricted_actions') {
            const actions = restrictedActions(to, entries, `${path}.${resource}.${type}`, diagnostics);
            if (actions) env.restrictedActions.set(resource, actions);
            continue;
          }
          // Hooks pause Heat's own actions until a user clears them; Weft has no such pauses.
          if (type === 'hooks') {
            diagnostics.warn(
              'registry',
              keyLocOf(entries, type),
              `${path}.${resource}.${type}`,
              `${type} are not supported and are ignored`,
            );
            continue;
          }
          const read = registryTarget(to, baseDir, entries, type, `${path}.${resource}.${type}`, diagnostics);
          if (read) own.set(type, read);
        }
        env.resourceRegistry.set(resource, own);
      }
      continue;
    }
    if (name === 'base_url') continue;
    const read = registryTarget(target, baseDir, registry, name, path, diagnostics);
    if (read) env.registry.set(name, read);
  }
}

export type RestrictedAction = 'update' | 'replace';
const RESTRICTED_ACTIONS: readonly RestrictedAction[] = ['update', 'replace'];

function restrictedActions(
  value: Value,
  container: ValueMap,
  path: string,
  diagnostics: Diagnostics,
): Set<RestrictedAction> | undefined {
  const given = Array.isArray(value) ? value : [value];
  const bad = given.filter((a) => !RESTRICTED_ACTIONS.includes(a as RestrictedAction));
  if (bad.length > 0) {
    diagnostics.add(
      'bad-value',
      locOf(container, 'restricted_actions'),
      path,
      `restricted_actions must be ${RESTRICTED_ACTIONS.join(' or ')}, or a list of them (not ${bad.map((a) => JSON.stringify(a)).join(', ')})`,
    );
    return undefined;
  }
  return new Set(given as RestrictedAction[]);
}

/**
 * The actions an update may not take on the resource `name` (Heat's get_rsrc_restricted_actions:
 * every pattern that matches the name adds its actions).
 */
export function restrictedActionsOf(env: Environment, name: string): RestrictedAction[] {
  const actions = new Set<RestrictedAction>();
  for (const [pattern, own] of env.restrictedActions)
    if (fnmatch(name, pattern)) for (const action of own) actions.add(action);
  return RESTRICTED_ACTIONS.filter((a) => actions.has(a));
}

/** Python's fnmatch.fnmatchcase: `*`, `?`, `[seq]` and `[!seq]`. */
function fnmatch(name: string, pattern: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        let set = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (set.startsWith('!')) set = `^${set.slice(1)}`;
        source += `[${set}]`;
        i = end;
      }
    } else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's').test(name);
}

function registryTarget(
  value: Value,
  baseDir: string,
  container: ValueMap,
  key: string,
  path: string,
  diagnostics: Diagnostics,
): RegistryTarget | undefined {
  const at = locOf(container, key);
  if (typeof value !== 'string') {
    diagnostics.add('type-mismatch', at, path, 'expected a resource type or a template file');
    return undefined;
  }
  if (isTemplateFile(value)) {
    if (/^[a-z]+:\/\//i.test(value)) {
      diagnostics.add('bad-value', at, path, `template URLs are not fetched: use a local file (${value})`);
      return undefined;
    }
    return { template: resolve(baseDir, value.replace(/^file:\/\//, '')), at };
  }
  return { type: value, at };
}

/** A type that names a template file (Heat: ends in .yaml, .template or .json, or is a URL). */
export function isTemplateFile(type: string): boolean {
  return /\.(ya?ml|template|json)$/i.test(type) || /^[a-z]+:\/\//i.test(type);
}

/**
 * What a type stands for in this environment, for a resource (its own registry first), following
 * aliases; wildcards (`OS::Nova::*`) match by prefix. Entries in `removed` are not there: a
 * template resource's nested stack is given its parent's environment without the entry that
 * mapped the parent's type to the template (Heat's get_child_environment, item_to_remove), so a
 * template standing in for a type can itself use that type.
 */
export function resolveType(
  env: Environment,
  resource: string,
  type: string,
  removed: ReadonlySet<RegistryTarget> = new Set(),
): RegistryTarget | undefined {
  const present = (target: RegistryTarget | undefined) =>
    target && !removed.has(target) ? target : undefined;
  let current: RegistryTarget = { type, at: undefined };
  const seen = new Set<string>();
  for (;;) {
    const name = current.type!;
    if (seen.has(name)) return current;
    seen.add(name);
    const next =
      present(env.resourceRegistry.get(resource)?.get(name)) ??
      present(env.registry.get(name)) ??
      wildcard(env.registry, name, removed);
    if (!next) return current;
    if (next.template !== undefined) return next;
    current = next;
  }
}

function wildcard(
  registry: Map<string, RegistryTarget>,
  name: string,
  removed: ReadonlySet<RegistryTarget>,
): RegistryTarget | undefined {
  for (const [pattern, target] of registry) {
    if (!pattern.endsWith('*') || removed.has(target)) continue;
    const prefix = pattern.slice(0, -1);
    if (!name.startsWith(prefix)) continue;
    if (target.type?.endsWith('*'))
      return { ...target, type: target.type.slice(0, -1) + name.slice(prefix.length) };
    return target;
  }
  return undefined;
}

/**
 * The environment as the user gave it, as Heat's Environment.user_env_as_dict keeps it with the
 * stack (its abandon data's `environment`): the parameter values (the environments' and those
 * `given` with -p over them), parameter_defaults, and the resource_registry, a template file by its
 * path from the template's directory `baseDir`.
 */
export function userEnvironment(env: Environment, given: ValueMap, baseDir: string): Record<string, unknown> {
  const target = (t: RegistryTarget) => t.type ?? relative(baseDir, t.template!);
  const registry: Record<string, unknown> = {};
  for (const [name, t] of env.registry) registry[name] = target(t);
  const resources: Record<string, Record<string, string>> = {};
  for (const [resource, own] of env.resourceRegistry)
    resources[resource] = Object.fromEntries([...own].map(([type, t]) => [type, target(t)]));
  registry.resources = resources;
  return JSON.parse(
    JSON.stringify({
      parameters: { ...env.parameters, ...given },
      parameter_defaults: env.parameterDefaults,
      resource_registry: registry,
      encrypted_param_names: [],
      event_sinks: [],
    }),
  ) as Record<string, unknown>;
}

/**
 * A nested stack's environment as the user gave it (its abandon data's `environment`), from its
 * parent stack's (`parent`, as userEnvironment gives it), as Heat's get_child_environment makes it
 * for the stack resource `name` whose type as written is `type`: no parameters (Heat's are the
 * stack resource's child_params: none for a group or chain; Weft passes a template resource's
 * properties into its nested resources and keeps no parameters apart), the parent's
 * parameter_defaults, encrypted_param_names and event_sinks, and its resource_registry without the
 * entry that mapped `type` to the template (item_to_remove: found as resolveType finds it, the
 * resource's own entries first), its `resources` those of every pattern that matches `name`, then
 * `name`'s own (remove_resources_except).
 */
export function childUserEnvironment(
  parent: Record<string, unknown>,
  name: string,
  type: string,
): Record<string, unknown> {
  const registry = structuredClone(
    (isMapping(parent.resource_registry as Value) ? parent.resource_registry : {}) as Record<string, unknown>,
  );
  const resources = (isMapping(registry.resources as Value) ? registry.resources : {}) as Record<
    string,
    Record<string, unknown>
  >;
  // item_to_remove: the entry where the alias chain from `type` reaches a template.
  const seen = new Set<string>();
  for (let current = type; !seen.has(current); ) {
    seen.add(current);
    const own = resources[name];
    let holder: Record<string, unknown> | undefined;
    let key: string | undefined = current;
    if (own && typeof own[current] === 'string') holder = own;
    else if (typeof registry[current] === 'string') holder = registry;
    else {
      key = Object.keys(registry).find(
        (p) => p !== 'resources' && p.endsWith('*') && current.startsWith(p.slice(0, -1)),
      );
      if (key !== undefined) holder = registry;
    }
    const target = key === undefined ? undefined : holder?.[key];
    if (key === undefined || !holder || typeof target !== 'string') break;
    if (isTemplateFile(target)) {
      delete holder[key];
      break;
    }
    current =
      key.endsWith('*') && target.endsWith('*')
        ? target.slice(0, -1) + current.slice(key.length - 1)
        : target;
  }
  const narrowed: Record<string, unknown> = {};
  for (const [pattern, entries] of Object.entries(resources))
    if (fnmatch(name, pattern)) Object.assign(narrowed, entries);
  Object.assign(narrowed, resources[name] ?? {});
  registry.resources = narrowed;
  return { ...parent, parameters: {}, resource_registry: registry };
}
