/** Deployments: the list, and a deployment's page with its topology, live while an execution runs. */
import { useEffect, useState } from 'preact/hooks';
import {
  ACTIVE_STATUSES,
  type Deployment,
  type Execution,
  get,
  type NodeInstance,
  type Page as Paged,
  query,
} from './api.js';
import { useCan } from './app.js';
import { useEventStream } from './events.js';
import { Pager, StartForm } from './executions.js';
import { navigate, useLocation } from './router.js';
import { TopologyGraph } from './topology.js';
import { ErrorNote, Page, Status, show, useLoad, useThrottle, When } from './ui.js';

const PAGE_SIZE = 50;
const REFRESH_MS = 200;

const countsText = (counts: Record<string, number> | undefined) =>
  counts
    ? Object.entries(counts)
        .map(([state, n]) => `${n} ${state}`)
        .join(' · ')
    : '';

export function Deployments() {
  const { params } = useLocation();
  const offset = Number(params.get('offset') ?? 0);
  const [search, setSearch] = useState('');
  const list = useLoad(
    () => get<Paged<Deployment>>(`/deployments${query({ offset, size: PAGE_SIZE })}`),
    [offset],
  );
  const shown = (list.data?.items ?? []).filter((d) => d.id.includes(search.trim()));

  return (
    <Page
      title="Deployments"
      actions={
        <button type="button" onClick={list.reload}>
          Refresh
        </button>
      }
    >
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Name contains
          <input value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        </label>
      </form>
      <ErrorNote error={list.error} />
      {list.data && (
        <>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Deployment</th>
                  <th scope="col">Blueprint</th>
                  <th scope="col">Instances</th>
                  <th scope="col">Last execution</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <a href={`/deployments/${encodeURIComponent(d.id)}`}>{d.id}</a>
                    </td>
                    <td class="mono">{d.blueprintId}</td>
                    <td>{countsText(d.instanceStates)}</td>
                    <td>
                      {d.lastExecution ? (
                        <a href={`/executions/${encodeURIComponent(d.lastExecution.id)}`}>
                          {d.lastExecution.workflow} <Status status={d.lastExecution.status} />
                        </a>
                      ) : (
                        <span class="muted">none</span>
                      )}
                    </td>
                    <td>
                      <When at={d.createdAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {shown.length === 0 && <p class="muted">No deployments.</p>}
          <Pager
            offset={offset}
            total={list.data.total}
            size={PAGE_SIZE}
            go={(o) => navigate(`/deployments${query({ offset: o || undefined })}`)}
          />
        </>
      )}
    </Page>
  );
}

/** Follows the running execution's events (when there is one) and calls `changed` as they come. */
function LiveFollower({
  executionId,
  changed,
  ended,
}: {
  executionId: string;
  changed(): void;
  ended(): void;
}) {
  const { events } = useEventStream({ executionId }, ended);
  useEffect(() => {
    if (events.length > 0) changed();
  }, [events.length]);
  return (
    <span class="live on" data-testid="live">
      Live: <a href={`/executions/${encodeURIComponent(executionId)}`}>execution {executionId}</a>
    </span>
  );
}

export function DeploymentPage({ id }: { id: string }) {
  const canStart = useCan('operator');
  const path = encodeURIComponent(id);
  const deployment = useLoad(() => get<Deployment>(`/deployments/${path}`), [id]);
  const instances = useLoad(
    () => get<Paged<NodeInstance>>(`/node-instances${query({ deploymentId: id, size: 1000 })}`),
    [id],
  );
  const outputs = useLoad(() => get<Record<string, unknown>>(`/deployments/${path}/outputs`), [id]);
  const executions = useLoad(
    () => get<Paged<Execution>>(`/executions${query({ deploymentId: id, size: 10 })}`),
    [id],
  );
  const [starting, setStarting] = useState(false);
  const [selected, setSelected] = useState('');
  const refresh = useThrottle(() => {
    instances.reload();
    executions.reload();
  }, REFRESH_MS);
  const active = executions.data?.items.find((e) => ACTIVE_STATUSES.includes(e.status));
  // When the followed execution ends, outputs may have changed.
  const ended = () => {
    refresh();
    outputs.reload();
  };
  const shownInstances = (instances.data?.items ?? []).filter((i) => selected === '' || i.node === selected);

  return (
    <Page
      title={`Deployment ${id}`}
      actions={
        <>
          {active && <LiveFollower key={active.id} executionId={active.id} changed={refresh} ended={ended} />}
          {!active && executions.data && <span class="muted">No execution running</span>}
          {canStart && !starting && (
            <button type="button" class="primary" onClick={() => setStarting(true)}>
              Start a workflow
            </button>
          )}
        </>
      }
    >
      {starting && <StartForm deploymentId={id} onCancel={() => setStarting(false)} />}
      <ErrorNote error={deployment.error} />
      {deployment.data && (
        <dl class="facts">
          <div>
            <dt>Blueprint</dt>
            <dd class="mono">{deployment.data.blueprintId}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>
              <When at={deployment.data.createdAt} />
            </dd>
          </div>
        </dl>
      )}
      <section aria-labelledby="topology-title">
        <div class="section-header">
          <h2 id="topology-title">Topology</h2>
          <ul class="legend" aria-label="Colours">
            <li class="tone-ok">all started</li>
            <li class="tone-busy">changing</li>
            <li class="tone-partial">partly</li>
            <li class="tone-idle">not installed</li>
          </ul>
        </div>
        <ErrorNote error={instances.error} />
        {instances.data && instances.data.items.length > 0 && (
          <TopologyGraph instances={instances.data.items} selected={selected} onSelect={setSelected} />
        )}
      </section>
      <div class="columns">
        <section aria-labelledby="instances-title">
          <h2 id="instances-title">
            Instances{selected && ` of ${selected}`}
            {selected && (
              <button type="button" class="link" onClick={() => setSelected('')}>
                show all
              </button>
            )}
          </h2>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Instance</th>
                  <th scope="col">State</th>
                  <th scope="col">Runtime properties</th>
                </tr>
              </thead>
              <tbody>
                {shownInstances.map((i) => (
                  <tr key={i.id} data-instance={i.id}>
                    <td class="mono">{i.id}</td>
                    <td>{i.state}</td>
                    <td>
                      {i.runtimeProperties && Object.keys(i.runtimeProperties).length > 0 ? (
                        <details>
                          <summary>
                            {Object.keys(i.runtimeProperties).length === 1
                              ? '1 property'
                              : `${Object.keys(i.runtimeProperties).length} properties`}
                          </summary>
                          <pre>{show(i.runtimeProperties)}</pre>
                        </details>
                      ) : (
                        <span class="muted">none</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section aria-labelledby="side-title">
          <h2 id="side-title">Executions</h2>
          <ErrorNote error={executions.error} />
          <ul class="plain">
            {executions.data?.items.map((e) => (
              <li key={e.id}>
                <a href={`/executions/${encodeURIComponent(e.id)}`}>{e.workflow}</a>{' '}
                <Status status={e.status} /> <When at={e.createdAt} />
              </li>
            ))}
          </ul>
          <a href={`/executions${query({ deploymentId: id })}`}>All executions of {id}</a>
          <h2>Outputs</h2>
          <ErrorNote error={outputs.error} />
          {outputs.data && <pre class="outputs">{show(outputs.data)}</pre>}
        </section>
      </div>
    </Page>
  );
}
