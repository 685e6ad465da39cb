/**
 * What `weft instances` prints, locally and from a server alike: the instances with their state
 * and runtime properties; for a HOT stack, the stack's state and status reason, and each
 * resource's Heat state and type, as Heat's `stack show` and `stack resource list` give them.
 */
import {
  heatResourceStates,
  heatStackState,
  heatStackStatusReason,
  isAdoptedStack,
  type Json,
} from '@weft/engine';
import { printJson } from '../output.js';

export interface ListedInstance {
  id: string;
  node: string;
  state: string;
  runtimeProperties: Record<string, Json>;
}

/** A HOT stack's executions, oldest first, and the Heat type of each of its nodes. */
export interface StackFacts {
  executions: {
    workflow: string;
    status: string;
    parameters?: Record<string, unknown>;
    error?: unknown;
    cancelRequest?: { rollback: boolean };
  }[];
  typeOf: (node: string) => string | undefined;
}

export function printInstances<I extends ListedInstance>(
  json: boolean | undefined,
  deployment: string,
  listed: I[],
  stack: StackFacts | undefined,
): void {
  const adopted = stack !== undefined && isAdoptedStack(listed);
  const heat = stack && {
    stackState: heatStackState(stack.executions, adopted),
    stackStatusReason: heatStackStatusReason(stack.executions, adopted),
  };
  const states = stack && heatResourceStates(listed, !heat!.stackState.endsWith('_IN_PROGRESS'));
  const instances: (I & { heatState?: string; heatType?: string | null })[] = listed.map((i) =>
    stack ? { ...i, heatState: states!.get(i)!, heatType: stack.typeOf(i.node) ?? null } : i,
  );
  if (json) {
    printJson({ deployment, ...heat, instances });
    return;
  }
  const line = (i: (typeof instances)[number]) => {
    const shown = i.heatState !== undefined ? `${i.heatState}  ${i.heatType ?? '-'}` : i.state;
    const props = Object.keys(i.runtimeProperties).length ? `  ${JSON.stringify(i.runtimeProperties)}` : '';
    return `${i.id}  ${shown}${props}\n`;
  };
  process.stdout.write(
    (heat ? `Stack ${deployment}: ${heat.stackState}\n  status reason: ${heat.stackStatusReason}\n` : '') +
      instances.map(line).join(''),
  );
}
