import { setOwn } from '@weft/sdk/keys';
import { isMapping, setLoc, setLocRenamed, type Value, type ValueMap } from './yaml-source.js';

/** Names under `cloudify.` are the overridable standard types and are never namespaced. */
function prefixed(prefix: string, name: Value): Value {
  if (typeof name !== 'string' || name.startsWith('cloudify.') || name.startsWith(prefix)) return name;
  return `${prefix}${name}`;
}

const PRIMITIVES = new Set(['string', 'integer', 'float', 'boolean', 'list', 'dict', 'regex', 'textarea']);
const SELF_REFS = new Set(['SELF', 'SOURCE', 'TARGET']);

function copyMap(source: ValueMap, edit: (key: string, value: Value) => [string, Value]): ValueMap {
  const out: ValueMap = {};
  const renames = new Map<string, string>();
  for (const [key, value] of Object.entries(source)) {
    const [k, v] = edit(key, value);
    setOwn(out, k, v);
    renames.set(k, key);
  }
  setLocRenamed(out, source, renames);
  return out;
}

/** Rewrites references inside intrinsic function calls anywhere in a value. */
function functionRefs(value: Value, prefix: string): Value {
  if (Array.isArray(value)) {
    const out = value.map((item) => functionRefs(item, prefix));
    setLoc(out, value);
    return out;
  }
  if (!isMapping(value)) return value;
  const keys = Object.keys(value);
  const fn = keys[0];
  if (keys.length === 1 && fn) {
    const args = value[fn]!;
    if (fn === 'get_input') {
      if (typeof args === 'string') return copyMap(value, (k) => [k, prefixed(prefix, args)]);
      if (Array.isArray(args) && args.length > 0) {
        return copyMap(value, (k) => {
          const list = [prefixed(prefix, args[0]!), ...args.slice(1).map((a) => functionRefs(a, prefix))];
          setLoc(list, args);
          return [k, list];
        });
      }
    }
    if (
      (fn === 'get_property' || fn === 'get_attribute') &&
      Array.isArray(args) &&
      typeof args[0] === 'string'
    ) {
      const node = args[0];
      return copyMap(value, (k) => {
        const list = [
          SELF_REFS.has(node) ? node : prefixed(prefix, node),
          ...args.slice(1).map((a) => functionRefs(a, prefix)),
        ];
        setLoc(list, args);
        return [k, list];
      });
    }
  }
  return copyMap(value, (k, v) => [k, functionRefs(v, prefix)]);
}

function propertySchemas(schemas: Value, prefix: string): Value {
  if (!isMapping(schemas)) return schemas;
  return copyMap(schemas, (name, schema) => {
    if (!isMapping(schema)) return [name, schema];
    return [
      name,
      copyMap(schema, (k, v) => {
        if ((k === 'type' || k === 'item_type') && typeof v === 'string' && !PRIMITIVES.has(v))
          return [k, prefixed(prefix, v)];
        if (k === 'default') return [k, functionRefs(v, prefix)];
        return [k, v];
      }),
    ];
  });
}

function typeDefinitions(section: Value, prefix: string): Value {
  if (!isMapping(section)) return section;
  return copyMap(section, (name, def) => {
    const renamed = prefixed(prefix, name) as string;
    if (!isMapping(def)) return [renamed, def];
    return [
      renamed,
      copyMap(def, (k, v) => {
        if (k === 'derived_from') return [k, prefixed(prefix, v)];
        if (k === 'properties') return [k, propertySchemas(v, prefix)];
        return [k, functionRefs(v, prefix)];
      }),
    ];
  });
}

function nodeTemplates(section: Value, prefix: string): Value {
  if (!isMapping(section)) return section;
  return copyMap(section, (name, def) => {
    const renamed = prefixed(prefix, name) as string;
    if (!isMapping(def)) return [renamed, def];
    return [
      renamed,
      copyMap(def, (k, v) => {
        if (k === 'type') return [k, prefixed(prefix, v)];
        if (k === 'relationships' && Array.isArray(v)) {
          const list = v.map((rel) =>
            isMapping(rel)
              ? copyMap(rel, (rk, rv) =>
                  rk === 'type' || rk === 'target'
                    ? [rk, prefixed(prefix, rv)]
                    : [rk, functionRefs(rv, prefix)],
                )
              : rel,
          );
          setLoc(list, v);
          return [k, list];
        }
        return [k, functionRefs(v, prefix)];
      }),
    ];
  });
}

function renamedEntries(section: Value, prefix: string, members?: string): Value {
  if (!isMapping(section)) return section;
  return copyMap(section, (name, def) => {
    const renamed = prefixed(prefix, name) as string;
    if (!isMapping(def)) return [renamed, def];
    return [
      renamed,
      copyMap(def, (k, v) => {
        if (k === members && Array.isArray(v)) {
          const list = v.map((m) => prefixed(prefix, m));
          setLoc(list, v);
          return [k, list];
        }
        if (k === 'type' && isMapping(def) && typeof v === 'string' && !PRIMITIVES.has(v))
          return [k, prefixed(prefix, v)];
        // A group's policies name policy types, and their triggers policy triggers, of the same file.
        if (k === 'policies' && members === 'members') return [k, typeReferences(v, prefix, 'triggers')];
        return [k, functionRefs(v, prefix)];
      }),
    ];
  });
}

/** Named parts whose `type` names a definition of the same file (and so do those under `nested`). */
function typeReferences(section: Value, prefix: string, nested?: string): Value {
  if (!isMapping(section)) return section;
  return copyMap(section, (name, def) => {
    if (!isMapping(def)) return [name, def];
    return [
      name,
      copyMap(def, (k, v) => {
        if (k === 'type' && typeof v === 'string') return [k, prefixed(prefix, v)];
        if (k === nested) return [k, typeReferences(v, prefix)];
        return [k, v];
      }),
    ];
  });
}

/**
 * A copy of an imported file's document in which its names (types, data types, inputs, node
 * templates, outputs, capabilities, groups, policies, policy types and triggers) carry the
 * namespace prefix `ns--`, and so
 * do the references between them.
 */
export function namespaceDocument(doc: ValueMap, prefix: string): ValueMap {
  return copyMap(doc, (key, value) => {
    switch (key) {
      case 'node_types':
      case 'relationships':
      case 'data_types':
        return [key, typeDefinitions(value, prefix)];
      case 'node_templates':
        return [key, nodeTemplates(value, prefix)];
      case 'inputs':
        return [key, renamedEntries(value, prefix)];
      case 'outputs':
      case 'capabilities':
      case 'policy_types':
      case 'policy_triggers':
        return [key, renamedEntries(value, prefix)];
      case 'groups':
        return [key, renamedEntries(value, prefix, 'members')];
      case 'policies':
        return [key, renamedEntries(value, prefix, 'targets')];
      default:
        return [key, value];
    }
  });
}
