// The plugin's operations: the SDK's resource mapping of Weft's node types to the Resource
// classes, but update's `properties` input holds only the properties to change, laid over the
// node's (the SDK takes it as the whole new set). That is what a user writes to change a resource
// through execute_operation: `operation_kwargs={properties: {salt: two}}` draws a new string of
// the blueprint's length and classes; a property set to null goes back to its default.
import {
  type Json,
  NonRecoverableError,
  type OperationContext,
  operation,
  type Resource,
  type ResourceClass,
  type ResourceOperations,
  resourceMapping,
} from '@weft/sdk';

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The lifecycle operations for node types mapped to Resource classes. Export the result and name
 * its functions in plugin.yaml (`utilities.resources.create`, ...).
 */
export function utilityResources(
  mapping: Record<string, ResourceClass<Resource<object>>>,
): ResourceOperations {
  const mapped = resourceMapping(mapping);
  const update = async (ctx: OperationContext, inputs: Record<string, Json>) => {
    const changes = inputs?.properties;
    if (changes === undefined || changes === null) return mapped.update(ctx, inputs);
    if (!isMap(changes)) {
      throw new NonRecoverableError(
        `update's properties input must be a map of the properties to change, not ${Array.isArray(changes) ? 'a list' : `a ${typeof changes}`}`,
      );
    }
    return mapped.update(ctx, { ...inputs, properties: { ...ctx.node.properties, ...changes } });
  };
  return { ...mapped, update: operation(update, { resumable: true }) };
}
