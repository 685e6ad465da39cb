/** A deployment's outputs and capabilities: evaluated from its stored state, printed, or picked one by one. */
import { evaluateOutputs, type Value } from '@weft/engine';
import type { State } from '../state.js';

export interface DeploymentOutputs {
  outputs: Record<string, Value>;
  capabilities: Record<string, Value>;
}

export async function deploymentOutputs(state: State, deploymentId: string): Promise<DeploymentOutputs> {
  const secrets = await state.secrets.all();
  return {
    outputs: await evaluateOutputs(state.store, deploymentId, secrets),
    capabilities: await evaluateOutputs(state.store, deploymentId, secrets, 'capabilities'),
  };
}

/** `Outputs:` and `Capabilities:`, each name with its value as JSON; empty when there are neither. */
export function outputsText({ outputs, capabilities }: DeploymentOutputs): string {
  let text = '';
  for (const [title, values] of [
    ['Outputs', outputs],
    ['Capabilities', capabilities],
  ] as const) {
    if (Object.keys(values).length === 0) continue;
    text += `${title}:\n`;
    for (const [name, value] of Object.entries(values)) text += `  ${name}: ${JSON.stringify(value)}\n`;
  }
  return text;
}
