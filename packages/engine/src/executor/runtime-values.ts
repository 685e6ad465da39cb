import { RESOURCE_ID_KEY, RESOURCE_STATE_KEY, setOwn, WeftError } from '@weft/sdk';
import { evaluateStatic, functionName, walkPath } from '../dsl/functions.js';
import { isMapping, type Value, type ValueMap } from '../dsl/yaml-source.js';
import { evaluateRuntime, HotFunctionError, RUNTIME_KEY } from '../hot/functions.js';
import { hotVersion } from '../hot/versions.js';

/** Where run-time functions read from. */
export interface RuntimeLookups {
  /**
   * The instance `get_attribute` should read for an entity (SELF, SOURCE, TARGET or a node
   * name), with its runtime properties and its node's properties.
   */
  instanceFor(
    entity: string,
  ): { id: string; index: number; runtimeProperties: ValueMap; properties: ValueMap } | string;
  /** A secret's value (parsed as JSON when it is JSON, as Cloudify does), or undefined. */
  secret(name: string): Value | undefined;
}

export class RuntimeValueError extends WeftError {
  static override readonly code = 'runtime_value';
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeValueError';
  }
}

/** get_attribute: runtime properties first, then node_instance_id / node_instance_index, then properties. */
function attribute(lookups: RuntimeLookups, args: Value[]): Value {
  const [entity, name, ...path] = args;
  const found = lookups.instanceFor(String(entity));
  if (typeof found === 'string') throw new RuntimeValueError(`get_attribute: ${found}`);
  const key = String(name);
  let value: Value | undefined;
  if (Object.hasOwn(found.runtimeProperties, key)) value = found.runtimeProperties[key]!;
  else if (key === 'node_instance_id') value = found.id;
  else if (key === 'node_instance_index') value = found.index;
  else if (Object.hasOwn(found.properties, key)) value = found.properties[key]!;
  if (value === undefined) return null;
  const walked = walkPath(value, path);
  return 'missing' in walked ? null : walked.value;
}

/** Replaces every function call in a value with its value now; throws RuntimeValueError when one cannot be resolved. */
export function resolveRuntime(value: Value, lookups: RuntimeLookups): Value {
  if (Array.isArray(value)) return value.map((v) => resolveRuntime(v, lookups));
  if (!isMapping(value)) return value;
  const fn = functionName(value);
  if (!fn) {
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, resolveRuntime(v, lookups));
    return out;
  }
  if (fn === RUNTIME_KEY) return heatExpression(value[fn]!, lookups);
  const args = resolveRuntime(value[fn]!, lookups);
  const list = Array.isArray(args) ? args : [args];
  switch (fn) {
    case 'get_attribute':
      return attribute(lookups, list);
    case 'get_secret': {
      const [name, ...path] = list;
      const secret = lookups.secret(String(name));
      if (secret === undefined) throw new RuntimeValueError(`get_secret: no secret named '${String(name)}'`);
      const walked = walkPath(secret, path);
      if ('missing' in walked)
        throw new RuntimeValueError(`get_secret: secret '${String(name)}' has no '${walked.missing}'`);
      return walked.value;
    }
    case 'get_attributes_list':
    case 'get_attributes_dict':
    case 'get_capability':
    case 'get_group_capability':
    case 'get_environment_capability':
    case 'get_label':
    case 'get_sys':
    case 'get_consumers':
      throw new RuntimeValueError(
        `${fn} needs a Weft service (deployments linked to other deployments); it is not available on a local store`,
      );
    default: {
      const problems: string[] = [];
      const result = evaluateStatic(
        { [fn]: args },
        { input: () => undefined, property: () => 'missing-node', report: (m) => problems.push(m) },
      );
      if (problems.length > 0) throw new RuntimeValueError(problems.join('; '));
      return result;
    }
  }
}

/**
 * A HOT template's run-time expression: get_resource is the resource's id, get_attr its
 * attribute (runtime properties first, then properties, as get_attribute; the attribute alone
 * is every attribute).
 */
function heatExpression(stored: Value, lookups: RuntimeLookups): Value {
  const { version, expression } = isMapping(stored) ? stored : {};
  const found = (name: string) => {
    const instance = lookups.instanceFor(name);
    if (typeof instance === 'string') throw new RuntimeValueError(`get_attr: ${instance}`);
    return instance;
  };
  try {
    return evaluateRuntime(expression ?? null, hotVersion(version) ?? '2021-04-16', {
      resourceId: (name) => found(name).runtimeProperties[RESOURCE_ID_KEY] ?? null,
      attribute: (name, attribute) => {
        const instance = found(name);
        if (attribute === undefined) {
          const all: ValueMap = {};
          for (const [k, v] of Object.entries(instance.runtimeProperties))
            if (k !== RESOURCE_STATE_KEY && k !== RESOURCE_ID_KEY) setOwn(all, k, v);
          return all;
        }
        if (Object.hasOwn(instance.runtimeProperties, attribute))
          return instance.runtimeProperties[attribute]!;
        // A property computed from other resources (a Value's value) is read as it is now.
        if (Object.hasOwn(instance.properties, attribute))
          return resolveRuntime(instance.properties[attribute]!, lookups);
        return null;
      },
    });
  } catch (error) {
    if (error instanceof HotFunctionError) throw new RuntimeValueError(error.message);
    throw error;
  }
}
