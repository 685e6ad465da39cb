// The adoption of an abandoned HOT stack's resources (Heat's stack adopt): each instance of the
// new deployment takes over its resource when its install creates it.

import { ADOPT_KEY, type Json } from '@weft/sdk';
import { isMapping } from '../dsl/yaml-source.js';
import { isStackResourceType } from '../hot/types.js';
import { modelOf } from '../model/deployment-model.js';
import type { Store } from '../store/types.js';

/**
 * Marks each instance of a new deployment to adopt its resource: the abandon data's entry for its
 * node (resources by node name, as flattenedResources gives them), or none (whose adopt then
 * fails, as in Heat). A nested stack's resource (a template resource, OS::Heat::Stack, group or
 * chain) adopts its nested stack by adopting the resources in it, as Heat's StackResource does:
 * it needs no id of its own in the data, and keeps its instance's id when the data has none.
 */
export async function markForAdoption(
  store: Store,
  deploymentId: string,
  resources: Record<string, Json>,
): Promise<void> {
  const deployment = await store.getDeployment(deploymentId);
  const nodes = deployment ? modelOf(deployment.model).nodes : {};
  for (const instance of await store.listInstances(deploymentId)) {
    const given = Object.hasOwn(resources, instance.node) ? resources[instance.node]! : {};
    const stackResource = isStackResourceType(nodes[instance.node]?.type ?? '');
    const entry =
      stackResource && isMapping(given) && given.resource_id === undefined
        ? { ...given, resource_id: instance.id }
        : given;
    await store.updateRuntimeProperties(
      instance.id,
      { ...instance.runtimeProperties, [ADOPT_KEY]: entry },
      instance.version,
    );
  }
}
