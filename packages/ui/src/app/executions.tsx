/** Executions: the list (filtered, paged) and the form that starts a workflow. */
import { useState } from 'preact/hooks';
import { parse } from 'yaml';
import {
  ApiError,
  type Deployment,
  type Execution,
  get,
  type Page as Paged,
  query,
  request,
  type WorkflowParameter,
} from './api.js';
import { useCan } from './app.js';
import { fieldTexts, ParameterFields, type ParameterSpec, readParameters } from './parameters.js';
import { navigate, useLocation } from './router.js';
import { ErrorNote, ListActions, Page, Status, useLoad, When } from './ui.js';

const PAGE_SIZE = 25;
const STATUSES = ['pending', 'started', 'cancelling', 'cancelled', 'terminated', 'failed', 'interrupted'];
/** Cloudify's built-in workflows: suggested when the server does not list a deployment's own. */
const BUILT_IN_WORKFLOWS = ['install', 'uninstall', 'heal', 'scale', 'execute_operation', 'reinstall'];

/** Parameters as typed: YAML (of which JSON is a part); an object, or nothing. */
export function parseParameters(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  const value = parse(text) as unknown;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new Error('parameters must be a mapping of names to values');
  return value as Record<string, unknown>;
}

/** Parameters every workflow accepts (the engine's execution parameters). */
const EXECUTION_PARAMETERS: ParameterSpec[] = [
  {
    name: 'task_retries',
    type: 'integer',
    required: false,
    description: 'how many times a failed operation is tried again (-1: without end)',
    constraints: [{ name: 'greater_or_equal', argument: -1 }],
  },
  {
    name: 'task_retry_interval',
    type: 'float',
    required: false,
    description: 'seconds between tries',
    constraints: [{ name: 'greater_or_equal', argument: 0 }],
  },
];

/** A workflow's declared parameters, then the execution parameters, as the form has fields for them. */
export function workflowSpecs(
  workflow: { parameters: Record<string, WorkflowParameter> } | undefined,
): ParameterSpec[] {
  const declared = Object.entries(workflow?.parameters ?? {}).map(([name, p]) => ({
    name,
    type: p.type,
    description: p.description,
    required: p.required,
    default: p.default,
  }));
  return [...declared, ...EXECUTION_PARAMETERS.filter((e) => !declared.some((d) => d.name === e.name))];
}

export function StartForm({ deploymentId, onCancel }: { deploymentId?: string; onCancel(): void }) {
  const deployments = useLoad(() => get<Paged<Deployment>>('/deployments?size=1000'), []);
  const [deployment, setDeployment] = useState(deploymentId ?? '');
  // The chosen deployment in full: its workflows and their parameters.
  const chosen = useLoad(
    () =>
      deployment
        ? get<Deployment>(`/deployments/${encodeURIComponent(deployment)}`)
        : Promise.resolve(undefined),
    [deployment],
  );
  const workflows = chosen.data?.workflows;
  const [workflowName, setWorkflowName] = useState('install');
  const workflow = workflows?.find((w) => w.name === workflowName);
  const specs = workflowSpecs(workflow);
  const [error, setError] = useState<Error>();
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const known = deployments.data?.items;

  const submit = async (event: Event) => {
    event.preventDefault();
    const element = event.currentTarget as HTMLFormElement;
    const form = new FormData(element);
    setError(undefined);
    const read = readParameters(specs, fieldTexts(element, specs));
    setProblems(read.ok ? {} : read.problems);
    if (!read.ok) {
      setError(new Error('Some parameters are not right: see the fields marked.'));
      return;
    }
    let others: Record<string, unknown>;
    try {
      others = parseParameters(String(form.get('parameters') ?? ''));
    } catch (caught) {
      setError(new Error(`Other parameters: ${(caught as Error).message}`));
      return;
    }
    setBusy(true);
    try {
      const started = await request<Execution>('POST', '/executions', {
        deploymentId: deployment,
        workflowId: workflowName,
        parameters: { ...others, ...read.values },
        allowCustomParameters: form.get('custom') === 'on',
      });
      navigate(`/executions/${encodeURIComponent(started.id)}`);
    } catch (caught) {
      setError(caught as Error);
      setBusy(false);
    }
  };

  return (
    <form class="card start-form" onSubmit={submit} aria-labelledby="start-title" noValidate>
      <h2 id="start-title">Start a workflow</h2>
      <div class="row">
        {/* The server's deployments to choose from (none to choose until they are read); a name to
            type where the server cannot list them. */}
        <div class="field">
          <label for="start-deployment">Deployment</label>
          {deployments.error ? (
            <input
              id="start-deployment"
              name="deployment"
              required
              value={deployment}
              onChange={(e) => setDeployment((e.target as HTMLInputElement).value)}
            />
          ) : (
            <select
              id="start-deployment"
              name="deployment"
              required
              disabled={!known}
              value={deployment}
              onChange={(e) => setDeployment((e.target as HTMLSelectElement).value)}
            >
              <option value="">{known ? 'Choose…' : 'Loading…'}</option>
              {known?.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.id}
                </option>
              ))}
            </select>
          )}
        </div>
        <div class="field">
          <label for="start-workflow">Workflow</label>
          {chosen.error ? (
            // The deployment's workflows cannot be read: a name, as typed.
            <input
              id="start-workflow"
              name="workflow"
              required
              list="workflows"
              value={workflowName}
              onInput={(e) => setWorkflowName((e.target as HTMLInputElement).value)}
            />
          ) : (
            // Nothing to choose until a deployment is chosen and its workflows read.
            <select
              id="start-workflow"
              name="workflow"
              disabled={!workflows}
              value={workflows ? workflowName : ''}
              onChange={(e) => {
                setWorkflowName((e.target as HTMLSelectElement).value);
                setProblems({});
              }}
            >
              {!workflow && (
                <option value="">
                  {!deployment ? 'Choose a deployment' : workflows ? 'Choose…' : 'Loading…'}
                </option>
              )}
              {workflows?.map((w) => (
                <option key={w.name} value={w.name}>
                  {w.name}
                </option>
              ))}
            </select>
          )}
          <datalist id="workflows">
            {BUILT_IN_WORKFLOWS.map((w) => (
              <option key={w} value={w} />
            ))}
          </datalist>
        </div>
      </div>
      <ErrorNote error={chosen.error} />
      {workflow && (
        <fieldset class="workflow-parameters" key={`${deployment}/${workflow.name}`}>
          <legend>Parameters of {workflow.name}</legend>
          <ParameterFields specs={specs} prefix="start" problems={problems} />
        </fieldset>
      )}
      <details open={!workflows}>
        <summary>Other parameters</summary>
        <label>
          Parameters <span class="muted">(YAML or JSON; the fields above win)</span>
          <textarea name="parameters" rows={4} spellcheck={false} placeholder="node_ids: [web_1]" />
        </label>
        <label class="inline">
          <input type="checkbox" name="custom" /> Allow parameters the workflow does not declare
        </label>
      </details>
      {error && (
        <div class="error" role="alert">
          <p>{error.message}</p>
          {error instanceof ApiError && error.details !== null && (
            <pre>{JSON.stringify(error.details, null, 2)}</pre>
          )}
        </div>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || (!chosen.error && !workflow)}>
          Start
        </button>
        <button type="button" onClick={onCancel}>
          Close
        </button>
      </div>
    </form>
  );
}

export function Executions() {
  const { params } = useLocation();
  const canStart = useCan('operator');
  const deploymentId = params.get('deploymentId') ?? '';
  const status = params.get('status') ?? '';
  const offset = Number(params.get('offset') ?? 0);
  const [starting, setStarting] = useState(params.has('start'));
  const list = useLoad(
    () => get<Paged<Execution>>(`/executions${query({ deploymentId, status, offset, size: PAGE_SIZE })}`),
    [deploymentId, status, offset],
  );

  const filter = (changes: Record<string, string | number | undefined>) =>
    navigate(`/executions${query({ deploymentId, status, ...changes })}`);

  return (
    <Page
      title="Executions"
      actions={
        <ListActions
          reload={list.reload}
          add={{ label: 'Start a workflow', shown: canStart && !starting, open: () => setStarting(true) }}
        />
      }
    >
      {starting && <StartForm deploymentId={deploymentId || undefined} onCancel={() => setStarting(false)} />}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Deployment
          <input
            value={deploymentId}
            onChange={(e) =>
              filter({ deploymentId: (e.target as HTMLInputElement).value, offset: undefined })
            }
          />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => filter({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s === 'terminated' ? 'succeeded' : s}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={list.error} />
      {list.data && (
        <>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Execution</th>
                  <th scope="col">Deployment</th>
                  <th scope="col">Workflow</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Ended</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((e) => (
                  <tr key={e.id}>
                    <td>
                      <a href={`/executions/${encodeURIComponent(e.id)}`} class="mono">
                        {e.id}
                      </a>
                    </td>
                    <td>
                      <a href={`/deployments/${encodeURIComponent(e.deploymentId)}`}>{e.deploymentId}</a>
                    </td>
                    <td>{e.workflow}</td>
                    <td>
                      <Status status={e.status} />
                    </td>
                    <td>
                      <When at={e.createdAt} />
                    </td>
                    <td>
                      <When at={e.endedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {list.data.items.length === 0 && <p class="muted">No executions.</p>}
          <Pager
            offset={offset}
            total={list.data.total}
            size={PAGE_SIZE}
            go={(o) => filter({ offset: o || undefined })}
          />
        </>
      )}
    </Page>
  );
}

export function Pager({
  offset,
  total,
  size,
  go,
  labels = ['Newer', 'Older'],
  name = 'Pages',
}: {
  offset: number;
  total: number;
  size: number;
  go(offset: number): void;
  /** The buttons' words: lists by time say newer and older. */
  labels?: [string, string];
  name?: string;
}) {
  if (total <= size) return null;
  return (
    <nav class="pager" aria-label={name}>
      <button type="button" disabled={offset === 0} onClick={() => go(Math.max(0, offset - size))}>
        {labels[0]}
      </button>
      <span>
        {offset + 1}–{Math.min(offset + size, total)} of {total}
      </span>
      <button type="button" disabled={offset + size >= total} onClick={() => go(offset + size)}>
        {labels[1]}
      </button>
    </nav>
  );
}
