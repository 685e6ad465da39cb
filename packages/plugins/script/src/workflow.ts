import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import {
  type Json,
  NonRecoverableError,
  type RunningNode,
  type WorkflowRunContext,
  type WorkflowTaskRequest,
} from '@weft/sdk';
import { Callable, CtxRequestError, Namespace } from './ctx-request.js';
import { CtxServer } from './ctx-server.js';
import type { ScriptState } from './ctx-tree.js';
import { type Exit, environment, execute, stderrCauses } from './run.js';
import { materialize, PYTHON_DIR } from './script-file.js';

const WORKFLOW_RUNNER = join(PYTHON_DIR, 'weft_run_workflow.py');

/** Interpreters a `#!` line may name for a workflow script: Python's. */
const PYTHON_SHEBANG = /^#!.*\bpython[0-9.]*\b/;

/**
 * Cloudify runs a workflow script in its own Python interpreter (it execs the file), whatever
 * its name: a shell script, or one for another interpreter, cannot be a workflow there. Said at
 * once rather than as Python's syntax error.
 */
function refuseNonPython(script: string, content: string): void {
  const shebang = content.startsWith('#!') ? content.slice(0, content.indexOf('\n') >>> 0) : '';
  const extension = extname(script).toLowerCase();
  const other = ['.sh', '.bash', '.ps1', '.bat', '.cmd', '.rb', '.pl', '.js'].includes(extension);
  if (other || (shebang && !PYTHON_SHEBANG.test(shebang)))
    throw new NonRecoverableError(
      `workflow script '${script}' is not Python: Cloudify runs workflow scripts with Python (from cloudify.workflows import ctx), and so does Weft; a shell script can be an operation that a workflow runs`,
    );
}

const isMap = (value: unknown): value is Record<string, Json> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** A request as the Python module sends it (Cloudify's names) as the engine takes it. */
function taskRequest(given: Json): WorkflowTaskRequest {
  if (!isMap(given)) throw new CtxRequestError('a task request must be a map');
  const dependsOn = Array.isArray(given.depends_on) ? (given.depends_on as number[]) : [];
  const text = (key: string) => {
    const value = given[key];
    if (typeof value !== 'string') throw new CtxRequestError(`a task request needs '${key}' as text`);
    return value;
  };
  switch (given.kind) {
    case 'operation': {
      const request: WorkflowTaskRequest = {
        kind: 'operation',
        instanceId: text('instance_id'),
        operation: text('operation'),
        allowKwargsOverride: given.allow_kwargs_override === true,
        dependsOn,
      };
      if (isMap(given.relationship)) {
        const { index, side } = given.relationship;
        if (typeof index !== 'number' || (side !== 'source' && side !== 'target'))
          throw new CtxRequestError('a relationship operation needs the relationship index and its side');
        request.relationship = { index, side };
      }
      if (given.kwargs !== undefined && given.kwargs !== null) {
        if (!isMap(given.kwargs)) throw new CtxRequestError('execute_operation kwargs must be a dict');
        request.kwargs = given.kwargs;
      }
      return request;
    }
    case 'state':
      return { kind: 'state', instanceId: text('instance_id'), state: text('state'), dependsOn };
    case 'event': {
      const request: WorkflowTaskRequest = { kind: 'event', message: text('message'), dependsOn };
      if (typeof given.instance_id === 'string') request.instanceId = given.instance_id;
      if (typeof given.event_type === 'string') request.eventType = given.event_type;
      return request;
    }
    default:
      throw new CtxRequestError(`unknown task kind ${JSON.stringify(given.kind)}`);
  }
}

/** The nodes as the Python module reads them: Cloudify's names. */
function nodesData(nodes: RunningNode[]): Json {
  return nodes.map((node) => ({
    id: node.id,
    type: node.type,
    type_hierarchy: node.typeHierarchy,
    properties: node.properties,
    operations: node.operations,
    instances: node.instances.map((i) => ({
      id: i.id,
      node_id: i.node,
      state: i.state,
      version: i.version,
      host_id: i.hostId,
      runtime_properties: i.runtimeProperties,
      relationships: i.relationships.map((r) => ({
        type: r.type,
        type_hierarchy: r.typeHierarchy,
        target_id: r.targetId,
        target_name: r.targetNode,
        index: r.index,
      })),
    })),
  }));
}

/** What a workflow script reaches through ctx, and what it asked for (to wait for at its end). */
function workflowTree(
  ctx: WorkflowRunContext,
  state: ScriptState,
  asked: Set<number>,
  waited: Set<number>,
): Namespace {
  const log = (level: 'debug' | 'info' | 'warning' | 'error') =>
    new Callable(
      level,
      ['message'],
      ([message]) => {
        ctx.logger[level](String(message ?? ''));
        return null;
      },
      1,
    );
  return new Namespace({
    deployment: new Namespace({ id: ctx.deployment.id }),
    blueprint: new Namespace({ id: ctx.blueprint.id }),
    execution_id: ctx.execution.id,
    workflow_id: ctx.execution.workflow,
    tenant_name: 'default_tenant',
    logger: new Namespace({
      debug: log('debug'),
      info: log('info'),
      warning: log('warning'),
      error: log('error'),
    }),
    returns: new Callable(
      'returns',
      ['value'],
      ([value]) => {
        state.returned = value ?? null;
        return null;
      },
      1,
    ),
    // Used by the runner when the script raises: the execution's failure says why.
    abort_operation: new Callable('abort_operation', ['message'], ([message]) => {
      state.stop = { kind: 'abort', message: String(message ?? '') };
      return null;
    }),
    _workflow: new Namespace({
      context: new Callable('context', [], async () => ({
        deployment_id: ctx.deployment.id,
        blueprint_id: ctx.blueprint.id,
        execution_id: ctx.execution.id,
        workflow_id: ctx.execution.workflow,
        parameters: ctx.parameters,
        nodes: nodesData(await ctx.nodes()),
      })),
      nodes: new Callable('nodes', [], async () => nodesData(await ctx.nodes())),
      submit: new Callable(
        'submit',
        ['tasks'],
        async ([tasks]) => {
          if (!Array.isArray(tasks)) throw new CtxRequestError('submit takes a list of task requests');
          const ids = await ctx.submit(tasks.map(taskRequest));
          for (const id of ids) if (id !== null) asked.add(id);
          return ids;
        },
        1,
      ),
      update_instance: new Callable(
        'update_instance',
        ['instance_id', 'runtime_properties', 'state', 'version'],
        async ([id, properties, state, version]) => {
          if (typeof id !== 'string') throw new CtxRequestError('update_instance takes a node instance id');
          const update: Parameters<WorkflowRunContext['updateInstance']>[1] = {};
          if (properties !== undefined && properties !== null) {
            if (!isMap(properties)) throw new CtxRequestError('runtime_properties must be a dict');
            update.runtimeProperties = properties;
          }
          if (typeof state === 'string') update.state = state;
          if (typeof version === 'number') update.version = version;
          return ctx.updateInstance(id, update);
        },
        1,
      ),
      wait: new Callable(
        'wait',
        ['task'],
        async ([task]) => {
          if (typeof task !== 'number') throw new CtxRequestError('wait takes a task id');
          waited.add(task);
          const outcome = await ctx.wait(task);
          return outcome.ok
            ? { ok: true, result: outcome.result }
            : { ok: false, type: outcome.errorType, message: outcome.message };
        },
        1,
      ),
    }),
  });
}

/**
 * Runs a workflow script (`workflows: NAME: scripts/x.py`) as Cloudify's
 * `script_runner.tasks.execute_workflow`: Python, with `from cloudify.workflows import ctx,
 * parameters`. What it asks ctx for becomes tasks of its execution. The workflow fails when the
 * script raises or exits non-zero, or when a task it did not wait for (`.get()`) failed, as
 * Cloudify waits for those at the end of a workflow. Returns what the script gave `ctx.returns`.
 */
export async function execute_workflow(ctx: WorkflowRunContext): Promise<Json | undefined> {
  const file = await materialize(ctx, { path: ctx.script });
  refuseNonPython(ctx.script, await readFile(file, 'utf8'));
  const state: ScriptState = {};
  const asked = new Set<number>();
  const waited = new Set<number>();
  const server = await CtxServer.start(workflowTree(ctx, state, asked, waited), state, { secretPath: true });
  // Cloudify's script gets its dispatch directory as argv[1], with the workflow's parameters as
  // kwargs in input.json: some scripts read them there.
  const dispatch = await mkdtemp(join(tmpdir(), 'weft-workflow-'));
  let exit: Exit;
  try {
    await writeFile(join(dispatch, 'input.json'), JSON.stringify({ kwargs: ctx.parameters }));
    const env = environment({}, {}, server.url);
    env.WEFT_CTX_KIND = 'workflow';
    // The runner ends the script when this process ends (a crash): a resume runs it again.
    env.WEFT_ENGINE_PID = String(process.pid);
    exit = await execute(ctx, ['python3', WORKFLOW_RUNNER, file, dispatch], env, undefined);
  } finally {
    await server.close();
    await rm(dispatch, { recursive: true, force: true });
  }
  // An exception the script raised is the message (its traceback is in the log already).
  if (state.stop) throw new NonRecoverableError(state.stop.message || `${ctx.script} failed`);
  if (exit.code !== 0) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    throw new NonRecoverableError(`${ctx.script} ${how}`, { causes: stderrCauses(exit) });
  }
  for (const id of asked) {
    if (waited.has(id)) continue;
    const outcome = await ctx.wait(id);
    if (!outcome.ok) throw new NonRecoverableError(outcome.message);
  }
  return state.returned;
}
