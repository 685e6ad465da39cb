// The adoption of an abandoned HOT stack's resources (Heat's stack adopt): each instance of the
// new deployment takes over its resource when its install creates it.

import { ADOPT_KEY, type Json } from '@weft/sdk';
import type { Store } from '../store/types.js';

/**
 * Marks each instance of a new deployment to adopt its resource: the abandon data's entry for its
 * node (resources by node name, as flattenedResources gives them), or none (whose adopt then
 * fails, as in Heat).
 */
export async function markForAdoption(
  store: Store,
  deploymentId: string,
  resources: Record<string, Json>,
): Promise<void> {
  for (const instance of await store.listInstances(deploymentId)) {
    const entry = Object.hasOwn(resources, instance.node) ? resources[instance.node]! : {};
    await store.updateRuntimeProperties(
      instance.id,
      { ...instance.runtimeProperties, [ADOPT_KEY]: entry },
      instance.version,
    );
  }
}
