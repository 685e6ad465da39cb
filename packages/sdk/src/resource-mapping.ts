import type { OperationFunction } from './context.js';
import { NonRecoverableError } from './errors.js';
import type { Resource, ResourceClass, ResourceOperations, ResourceOperationsOptions } from './resource.js';
import { resourceOperations } from './resource-lifecycle.js';

const OPERATIONS = [
  'create',
  'delete',
  'update',
  'suspend',
  'resume',
  'attributes',
  'check',
  'snapshot',
  'delete_snapshot',
] as const;

/**
 * Heat's resource mapping: node type names to Resource classes. Export it from a plugin module
 * and point a node type's operations at it, e.g. `create: heat.resources.create`: each operation
 * runs the class registered for the node's type (or its nearest mapped ancestor).
 *
 *     export const resources = resourceMapping({ 'OS::Nova::Server': Server });
 */
export function resourceMapping(
  mapping: Record<string, ResourceClass<Resource<object>>>,
  options: ResourceOperationsOptions = {},
): ResourceOperations {
  const byType = new Map(
    Object.entries(mapping).map(([type, cls]) => [type, resourceOperations(cls, options)]),
  );
  /** The operations of the class mapped to the type nearest the end of the hierarchy. */
  const mapped = (hierarchy: string[]): ResourceOperations | undefined => {
    for (let i = hierarchy.length - 1; i >= 0; i--) {
      const found = byType.get(hierarchy[i]!);
      if (found) return found;
    }
    return undefined;
  };
  const forNode = (hierarchy: string[], type: string): ResourceOperations => {
    const found = mapped(hierarchy);
    if (found) return found;
    throw new NonRecoverableError(
      `no resource class is mapped to node type '${type}' (mapped: ${[...byType.keys()].join(', ')})`,
    );
  };
  const operations = {} as Record<(typeof OPERATIONS)[number], OperationFunction & { resumable: boolean }>;
  for (const name of OPERATIONS) {
    operations[name] = Object.assign(
      (
        ctx: Parameters<ResourceOperations['create']>[0],
        inputs: Parameters<ResourceOperations['create']>[1],
      ) => forNode(ctx.node.typeHierarchy, ctx.node.type)[name](ctx, inputs),
      { resumable: true },
    );
  }
  const checkProperties: ResourceOperations['create']['checkProperties'] = async (
    properties,
    typeHierarchy = [],
  ) => (await mapped(typeHierarchy)?.create.checkProperties(properties)) ?? [];
  const preview: ResourceOperations['update']['preview'] = (before, after, typeHierarchy = []) =>
    mapped(typeHierarchy)?.update.preview(before, after);
  const deletesFirst: ResourceOperations['update']['deletesFirst'] = (typeHierarchy = []) =>
    mapped(typeHierarchy)?.update.deletesFirst() ?? false;
  return {
    ...operations,
    create: Object.assign(operations.create, { checkProperties }),
    update: Object.assign(operations.update, { preview, deletesFirst }),
  };
}
