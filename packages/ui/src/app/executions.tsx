/** Executions: the list (filtered, paged) and the form that starts a workflow. */
import { useState } from 'preact/hooks';
import { parse } from 'yaml';
import { ApiError, type Deployment, type Execution, get, type Page as Paged, query, request } from './api.js';
import { useCan } from './app.js';
import { navigate, useLocation } from './router.js';
import { ErrorNote, Page, Status, useLoad, When } from './ui.js';

const PAGE_SIZE = 25;
const STATUSES = ['pending', 'started', 'cancelling', 'cancelled', 'terminated', 'failed', 'interrupted'];
/** Cloudify's built-in workflows: offered when the server does not list a deployment's own. */
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

const workflowsOf = (deployment: Deployment | undefined): string[] => {
  const given = deployment?.workflows;
  if (Array.isArray(given)) return given;
  if (given && typeof given === 'object') return Object.keys(given);
  return BUILT_IN_WORKFLOWS;
};

export function StartForm({ deploymentId, onCancel }: { deploymentId?: string; onCancel(): void }) {
  const deployments = useLoad(() => get<Paged<Deployment>>('/deployments?size=1000'), []);
  const [deployment, setDeployment] = useState(deploymentId ?? '');
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const known = deployments.data?.items;
  const chosen = known?.find((d) => d.id === deployment);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setError(undefined);
    let parameters: Record<string, unknown>;
    try {
      parameters = parseParameters(String(form.get('parameters') ?? ''));
    } catch (caught) {
      setError(new Error(`Parameters: ${(caught as Error).message}`));
      return;
    }
    setBusy(true);
    try {
      const started = await request<Execution>('POST', '/executions', {
        deploymentId: deployment,
        workflowId: String(form.get('workflow')),
        parameters,
        allowCustomParameters: form.get('custom') === 'on',
      });
      navigate(`/executions/${encodeURIComponent(started.id)}`);
    } catch (caught) {
      setError(caught as Error);
      setBusy(false);
    }
  };

  return (
    <form class="card start-form" onSubmit={submit} aria-labelledby="start-title">
      <h2 id="start-title">Start a workflow</h2>
      <div class="row">
        {/* The server's deployments to choose from (none to choose until they are read); a name to
            type where the server cannot list them. */}
        <label for="start-deployment">
          Deployment
          {deployments.error ? (
            <input
              id="start-deployment"
              name="deployment"
              required
              value={deployment}
              onInput={(e) => setDeployment((e.target as HTMLInputElement).value)}
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
        </label>
        <label>
          Workflow
          <input name="workflow" required list="workflows" defaultValue="install" />
          <datalist id="workflows">
            {workflowsOf(chosen).map((w) => (
              <option key={w} value={w} />
            ))}
          </datalist>
        </label>
      </div>
      <label>
        Parameters <span class="muted">(YAML or JSON)</span>
        <textarea name="parameters" rows={5} spellcheck={false} placeholder="node_ids: [web_1]" />
      </label>
      <label class="inline">
        <input type="checkbox" name="custom" /> Allow parameters the workflow does not declare
      </label>
      {error && (
        <div class="error" role="alert">
          <p>{error.message}</p>
          {error instanceof ApiError && error.details !== null && (
            <pre>{JSON.stringify(error.details, null, 2)}</pre>
          )}
        </div>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
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
        <>
          <button type="button" onClick={list.reload}>
            Refresh
          </button>
          {canStart && !starting && (
            <button type="button" class="primary" onClick={() => setStarting(true)}>
              Start a workflow
            </button>
          )}
        </>
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
}: {
  offset: number;
  total: number;
  size: number;
  go(offset: number): void;
}) {
  if (total <= size) return null;
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={offset === 0} onClick={() => go(Math.max(0, offset - size))}>
        Newer
      </button>
      <span>
        {offset + 1}–{Math.min(offset + size, total)} of {total}
      </span>
      <button type="button" disabled={offset + size >= total} onClick={() => go(offset + size)}>
        Older
      </button>
    </nav>
  );
}
