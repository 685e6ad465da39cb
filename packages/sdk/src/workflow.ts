/** JSON values as blueprints and runtime properties hold them. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A step of a custom workflow: one task, or a group of steps. */
export interface Step {
  /** Tasks that start the step (they wait for what the step waits for). */
  readonly heads: number[];
  /** Tasks that end the step (what comes after waits for them). */
  readonly tails: number[];
}

export interface WorkflowInstance {
  id: string;
  node: string;
  state: string;
  runtimeProperties: Record<string, Json>;
  /** Execute one of this instance's operations (a task in the graph); an unimplemented one is an empty step. */
  executeOperation(
    operation: string,
    options?: { kwargs?: Record<string, Json>; ignoreFailure?: boolean },
  ): Step;
  /** Move the instance to a lifecycle state (a task in the graph). */
  setState(state: string): Step;
}

export interface WorkflowNode {
  id: string;
  type: string;
  typeHierarchy: string[];
  properties: Record<string, Json>;
  instances: WorkflowInstance[];
}

/**
 * What a custom workflow function receives. It describes the work as a task graph (steps in
 * sequence or in parallel) that the engine then runs durably: retried, resumable, cancellable.
 */
export interface WorkflowContext {
  deploymentId: string;
  workflow: string;
  parameters: Record<string, Json>;
  nodes: WorkflowNode[];
  node(name: string): WorkflowNode | undefined;
  instance(id: string): WorkflowInstance | undefined;
  /** Steps one after another. */
  sequence(...steps: Step[]): Step;
  /** Steps side by side. */
  parallel(...steps: Step[]): Step;
}

/** A custom workflow function, named by a blueprint's `workflows:` mapping. */
export type WorkflowFunction = (ctx: WorkflowContext) => void | Promise<void>;
