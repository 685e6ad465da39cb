import { mkdir } from 'node:fs/promises';
import type { Json, WorkflowRunContext } from '@weft/sdk';
import type { Outcome, WorkflowCall } from '../executor/dispatcher.js';
import { errorOutcome } from './in-process.js';

/** What runs a workflow script: the script plugin's `execute_workflow`. It returns the script's result. */
export type WorkflowRunner = (ctx: WorkflowRunContext) => Promise<unknown>;

/** Runs a workflow script through its runner, with the ctx made of the executor's call. */
export async function runWorkflowScript(runner: WorkflowRunner, call: WorkflowCall): Promise<Outcome> {
  const ctx: WorkflowRunContext = {
    plugin: { ...call.plugin },
    deployment: { id: call.deploymentId },
    blueprint: { id: call.blueprintId, dir: call.blueprintDir },
    execution: { id: call.executionId, workflow: call.workflow },
    parameters: call.parameters,
    script: call.script,
    logger: {
      debug: (m) => call.log('debug', m),
      info: (m) => call.log('info', m),
      warning: (m) => call.log('warning', m),
      error: (m) => call.log('error', m),
    },
    signal: call.signal,
    nodes: call.nodes,
    submit: call.submit,
    wait: call.wait,
    updateInstance: call.updateInstance,
  };
  try {
    await mkdir(call.plugin.workdir, { recursive: true });
    const returned = await runner(ctx);
    const outcome: Outcome = { type: 'succeeded', runtimeProperties: {} };
    if (returned !== undefined) outcome.returned = returned as Json;
    return outcome;
  } catch (error) {
    return errorOutcome(error, {});
  }
}
