import { Masker } from '../executor/masker.js';
import { hiddenValues, modelOf } from '../model/deployment-model.js';
import { openStrings, SEALED_PREFIX, type Sealer, sealStrings } from '../secrets/sealed.js';
import type { DeploymentRecord, Json } from '../store/types.js';

/**
 * A deployment as it is stored: the values of its hidden inputs (a HOT template's hidden
 * parameters, the inputs a Loom manifest's sensitive fields read) sealed (secrets/sealed.ts), in
 * its inputs and wherever the plan put them in its model (node and relationship properties,
 * operation inputs, outputs). Names and implementations are left as they are: commands that read
 * a deployment without running it (plan, outputs, lists) see the mask in place of the value.
 */
export function sealDeployment(deployment: DeploymentRecord, sealer: Sealer): DeploymentRecord {
  const hidden = hiddenValues(deployment);
  if (hidden.length === 0) return deployment;
  const masker = new Masker().with(hidden);
  // A value sealed already (a rollback's, from a stored version) is kept as it is.
  const seal = <T>(value: T): T =>
    sealStrings(
      value as Json,
      sealer,
      (text) => !text.startsWith(SEALED_PREFIX) && masker.reveals(text),
    ) as T;
  const model = structuredClone(modelOf(deployment.model));
  for (const node of Object.values(model.nodes)) {
    node.properties = seal(node.properties);
    for (const op of Object.values(node.operations)) op.inputs = seal(op.inputs);
    for (const rel of node.relationships) {
      rel.properties = seal(rel.properties);
      for (const op of [...Object.values(rel.sourceOperations), ...Object.values(rel.targetOperations)])
        op.inputs = seal(op.inputs);
    }
  }
  model.outputs = seal(model.outputs);
  model.capabilities = seal(model.capabilities);
  return { ...deployment, inputs: seal(deployment.inputs), model: model as unknown as Json };
}

/** A stored deployment with its sealed values opened: what runs it, and what compares it with a new version, read. */
export function openDeployment(deployment: DeploymentRecord, sealer: Sealer | undefined): DeploymentRecord {
  if (!sealer) return deployment;
  return {
    ...deployment,
    inputs: openStrings(deployment.inputs, sealer) as Record<string, Json>,
    model: openStrings(deployment.model, sealer),
  };
}
