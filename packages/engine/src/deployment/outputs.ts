import type { Value } from '../dsl/yaml-source.js';
import { Masker } from '../executor/masker.js';
import { RuntimeValueError, resolveRuntime } from '../executor/runtime-values.js';
import { hiddenValues, modelOf } from '../model/deployment-model.js';
import type { NodeInstanceRecord, Store } from '../store/types.js';

/**
 * A deployment's outputs (or capabilities) evaluated from stored state: get_attribute reads
 * runtime properties first, then node properties. For a node with several instances it gives
 * the list of their values. Secrets and hidden inputs are masked.
 */
export async function evaluateOutputs(
  store: Store,
  deploymentId: string,
  secrets: Map<string, Value>,
  section: 'outputs' | 'capabilities' = 'outputs',
): Promise<Record<string, Value>> {
  const deployment = await store.getDeployment(deploymentId);
  if (!deployment) throw new RuntimeValueError(`deployment '${deploymentId}' not found`);
  const model = modelOf(deployment.model);
  const instances = await store.listInstances(deploymentId);
  const byNode = new Map<string, NodeInstanceRecord[]>();
  for (const i of instances) byNode.set(i.node, [...(byNode.get(i.node) ?? []), i]);
  const masker = new Masker();
  for (const value of secrets.values()) masker.add(value);
  for (const value of hiddenValues(deployment)) masker.add(value);
  const out: Record<string, Value> = {};
  for (const [name, value] of Object.entries(model[section])) {
    const evaluate = (pick: (node: string) => NodeInstanceRecord | undefined) =>
      resolveRuntime(value, {
        instanceFor: (entity) => {
          const record = pick(entity);
          if (!record) return `node '${entity}' has no instances`;
          return {
            id: record.id,
            index: record.index,
            runtimeProperties: record.runtimeProperties as never,
            properties: (model.nodes[record.node]?.properties ?? {}) as never,
          };
        },
        secret: (key) => secrets.get(key),
      });
    try {
      // A node with several instances gives one value per instance.
      const multi = Object.keys(model.nodes).find(
        (n) => (byNode.get(n)?.length ?? 0) > 1 && JSON.stringify(value).includes(`"${n}"`),
      );
      if (multi) {
        out[name] = (byNode.get(multi) ?? []).map((instance) =>
          evaluate((n) => (n === multi ? instance : byNode.get(n)?.[0])),
        );
      } else out[name] = evaluate((n) => byNode.get(n)?.[0]);
    } catch (error) {
      out[name] = { error: (error as Error).message };
    }
    out[name] = masker.maskJson(out[name] as never) as Value;
  }
  return out;
}
