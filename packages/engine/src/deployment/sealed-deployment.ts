import { hasRuntimeCall } from '../dsl/functions.js';
import { Masker } from '../executor/masker.js';
import { hiddenValues, modelOf } from '../model/deployment-model.js';
import { isSealed, openSealed, type Sealer, sealValue, sealValues } from '../secrets/sealed.js';
import type { DeploymentRecord, Json } from '../store/types.js';

/**
 * A deployment as it is stored: the values of its hidden inputs (a HOT template's hidden
 * parameters, the inputs a Loom manifest's sensitive fields read) sealed (secrets/sealed.ts), in
 * its inputs and wherever the plan put them in its model (node and relationship properties,
 * operation inputs, outputs). Where the blueprint says a value is secret (a hidden input, a
 * hidden property) it is sealed whole, whatever its type (a number, a boolean); elsewhere each
 * string or number that holds a hidden value's text is. With `secrets`, what they reveal is
 * sealed too (a saved plan's values). Names and implementations are left as they are: commands
 * that read a deployment without running it (plan, outputs, lists) see the mask in place of the
 * value.
 */
export function sealDeployment<T extends Pick<DeploymentRecord, 'inputs' | 'model'>>(
  deployment: T,
  sealer: Sealer,
  secrets?: Masker,
): T {
  const hidden = hiddenValues(deployment);
  if (hidden.length === 0 && !secrets) return deployment;
  const masker = (secrets ?? new Masker()).with(hidden);
  // A value sealed already (a rollback's, from a stored version) is kept as it is.
  const seal = <T>(value: T): T =>
    sealValues(value as Json, sealer, (v) => !isSealed(v) && masker.reveals(String(v))) as T;
  // One evaluated when it runs (get_secret) is not a value yet.
  const whole = (value: Json): Json =>
    isSealed(value) || hasRuntimeCall(value) ? value : sealValue(value, sealer);
  const model = structuredClone(modelOf(deployment.model));
  const inputs = { ...deployment.inputs };
  for (const name of model.blueprint.hiddenInputs ?? [])
    if (Object.hasOwn(inputs, name)) inputs[name] = whole(inputs[name]!);
  for (const node of Object.values(model.nodes)) {
    for (const name of node.hiddenProperties ?? [])
      if (Object.hasOwn(node.properties, name)) node.properties[name] = whole(node.properties[name] as Json);
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
  const environment = model.blueprint.heatEnvironment as Record<string, Record<string, Json>> | undefined;
  if (environment) {
    for (const section of ['parameters', 'parameter_defaults'])
      for (const name of model.blueprint.hiddenInputs ?? [])
        if (environment[section] && Object.hasOwn(environment[section], name))
          environment[section][name] = whole(environment[section][name]!);
    model.blueprint.heatEnvironment = seal(environment);
  }
  return { ...deployment, inputs: seal(inputs), model: model as unknown as Json };
}

/** A stored deployment with its sealed values opened: what runs it, and what compares it with a new version, read. */
export function openDeployment(deployment: DeploymentRecord, sealer: Sealer | undefined): DeploymentRecord {
  if (!sealer) return deployment;
  return {
    ...deployment,
    inputs: openSealed(deployment.inputs, sealer) as Record<string, Json>,
    model: openSealed(deployment.model, sealer),
  };
}
