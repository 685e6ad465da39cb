import type { Logger, PluginInfo } from './context.js';

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

/** An instance as a running workflow (a workflow script) sees it when it asks. */
export interface RunningInstance {
  id: string;
  node: string;
  state: string;
  version: number;
  hostId: string | null;
  runtimeProperties: Record<string, Json>;
  /** `index`: the relationship's position among its node template's. */
  relationships: {
    type: string;
    typeHierarchy: string[];
    targetId: string;
    targetNode: string;
    index: number;
  }[];
}

/** A node as a running workflow sees it: with the operations it can execute. */
export interface RunningNode {
  id: string;
  type: string;
  typeHierarchy: string[];
  properties: Record<string, Json>;
  /** Operation names, full (`cloudify.interfaces.lifecycle.create`), with an implementation or not. */
  operations: string[];
  instances: RunningInstance[];
}

/** One piece of work a running workflow adds to its execution; `dependsOn` counts in the same request. */
export type WorkflowTaskRequest =
  | {
      kind: 'operation';
      instanceId: string;
      operation: string;
      kwargs?: Record<string, Json>;
      /** Let kwargs replace the operation's own inputs (else giving one of them is an error). */
      allowKwargsOverride?: boolean;
      /**
       * An operation of one of the instance's relationships (Cloudify's execute_source_operation /
       * execute_target_operation): the relationship (by its index), and which end's operation.
       */
      relationship?: { index: number; side: 'source' | 'target' };
      dependsOn?: number[];
    }
  | { kind: 'state'; instanceId: string; state: string; dependsOn?: number[] }
  | { kind: 'event'; instanceId?: string; message: string; eventType?: string; dependsOn?: number[] };

/** How a task a workflow asked for ended. */
export type WorkflowTaskOutcome =
  | { ok: true; result: Json }
  | { ok: false; message: string; errorType: string };

/**
 * What runs a workflow script (the script plugin's `execute_workflow`) receives: the execution it
 * is the first task of, and the means to add tasks to it. Tasks it adds run as any other task of
 * the execution (durably, retried, with their events), and after a crash the script runs again
 * from the start, getting the results of the tasks that had finished instead of running them again.
 */
export interface WorkflowRunContext {
  plugin: PluginInfo;
  deployment: { id: string };
  blueprint: { id: string; dir: string };
  execution: { id: string; workflow: string };
  /** The workflow's parameters, as the execution was started with them. */
  parameters: Record<string, Json>;
  /** The script to run (a path relative to the blueprint's directory). */
  script: string;
  logger: Logger;
  /** Aborted on `cancel --force` and on a second Ctrl-C. */
  signal: AbortSignal;
  /** The deployment's nodes and instances as they are now. */
  nodes(): Promise<RunningNode[]>;
  /**
   * Adds tasks to the execution and returns their ids once they are stored, null for an operation
   * with nothing to run (declared without an implementation, or not declared: Cloudify's NOP).
   */
  submit(tasks: WorkflowTaskRequest[]): Promise<(number | null)[]>;
  /** How a task the workflow added ended; waits while it has not. */
  wait(taskId: number): Promise<WorkflowTaskOutcome>;
  /**
   * Cloudify's ctx.update_node_instance: replaces an instance's runtime properties and/or sets its
   * state, now; with `version`, only if the instance is still at that version (else ConflictError).
   * Returns the instance's version after the change.
   */
  updateInstance(
    instanceId: string,
    update: { runtimeProperties?: Record<string, Json>; state?: string; version?: number },
  ): Promise<number>;
}
