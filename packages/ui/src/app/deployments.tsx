/** Deployments: the list, and a deployment's page with its topology, live while an execution runs. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import {
  ACTIVE_STATUSES,
  type Blueprint,
  type BlueprintSummary,
  type Deployment,
  type Execution,
  get,
  type NodeInstance,
  type Page as Paged,
  query,
  request,
} from './api.js';
import { useCan } from './app.js';
import { CreateDeploymentForm } from './blueprints.js';
import { useEventStream } from './events.js';
import { Pager, StartForm } from './executions.js';
import { navigate, useLocation } from './router.js';
import { startLayoutWorker, TopologyGraph, topologyOf } from './topology.js';
import { ErrorNote, ListActions, Page, Status, show, useLoad, useThrottle, When } from './ui.js';
import { UpdateForm } from './update.js';

const PAGE_SIZE = 50;
const INSTANCES_PAGE = 50;
/** The most the API gives in one page: a deployment's instances are read in pages this big, at once. */
const API_PAGE_MAX = 1000;
const REFRESH_MS = 200;
/** How often a deployment page with nothing running asks whether an execution has started. */
const IDLE_POLL_MS = 2000;

/**
 * All of a deployment's instances (the topology colours every node by all of its instances): the
 * first page, then the rest in parallel when there are more.
 */
async function allInstances(deploymentId: string): Promise<NodeInstance[]> {
  const page = (offset: number) =>
    get<Paged<NodeInstance>>(`/node-instances${query({ deploymentId, offset, size: API_PAGE_MAX })}`);
  const first = await page(0);
  const offsets: number[] = [];
  for (let offset = API_PAGE_MAX; offset < first.total; offset += API_PAGE_MAX) offsets.push(offset);
  const rest = await Promise.all(offsets.map(page));
  return [first, ...rest].flatMap((p) => p.items);
}

const countsText = (counts: Record<string, number> | undefined) =>
  counts
    ? Object.entries(counts)
        .map(([state, n]) => `${n} ${state}`)
        .join(' · ')
    : '';

const DEPLOYMENT_STATUSES = [
  'running',
  'installed',
  'partial',
  'failed',
  'cancelled',
  'interrupted',
  'created',
  'uninstalled',
];

/** Choosing a blueprint, then its inputs form. */
function NewDeployment({ onClose }: { onClose(): void }) {
  const blueprints = useLoad(() => get<BlueprintSummary[]>('/blueprints'), []);
  const [chosen, setChosen] = useState('');
  const blueprint = useLoad(
    () => (chosen ? get<Blueprint>(`/blueprints/${encodeURIComponent(chosen)}`) : Promise.resolve(undefined)),
    [chosen],
  );
  return (
    <>
      <div class="card">
        <label>
          Blueprint to deploy
          <select value={chosen} onChange={(e) => setChosen((e.target as HTMLSelectElement).value)}>
            <option value="">{blueprints.data ? 'Choose…' : 'Loading…'}</option>
            {blueprints.data?.map((b) => (
              <option key={b.id} value={b.id}>
                {b.id}
              </option>
            ))}
          </select>
        </label>
        <ErrorNote error={blueprints.error ?? blueprint.error} />
        {!chosen && (
          <div class="actions">
            <button type="button" onClick={onClose}>
              Close
            </button>
          </div>
        )}
      </div>
      {chosen && blueprint.data?.id === chosen && (
        <CreateDeploymentForm key={chosen} blueprint={blueprint.data} onClose={onClose} />
      )}
    </>
  );
}

export function Deployments() {
  const { params } = useLocation();
  const canCreate = useCan('operator');
  const offset = Number(params.get('offset') ?? 0);
  const blueprintId = params.get('blueprintId') ?? '';
  const status = params.get('status') ?? '';
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const list = useLoad(
    () => get<Paged<Deployment>>(`/deployments${query({ blueprintId, offset, size: PAGE_SIZE })}`),
    [offset, blueprintId],
  );
  const blueprints = useLoad(() => get<BlueprintSummary[]>('/blueprints'), []);
  const shown = (list.data?.items ?? []).filter(
    (d) => d.id.includes(search.trim()) && (status === '' || d.status === status),
  );
  const filter = (changes: Record<string, string | undefined>) =>
    navigate(`/deployments${query({ blueprintId, status, ...changes })}`);

  return (
    <Page
      title="Deployments"
      actions={
        <ListActions
          reload={list.reload}
          add={{ label: 'Create a deployment', shown: canCreate && !creating, open: () => setCreating(true) }}
        />
      }
    >
      {creating && <NewDeployment onClose={() => setCreating(false)} />}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
        <label>
          Name contains
          <input value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Blueprint
          <select
            value={blueprintId}
            onChange={(e) => filter({ blueprintId: (e.target as HTMLSelectElement).value })}
          >
            <option value="">any</option>
            {blueprints.data?.map((b) => (
              <option key={b.id} value={b.id}>
                {b.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => filter({ status: (e.target as HTMLSelectElement).value })}>
            <option value="">any</option>
            {DEPLOYMENT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
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
                  <th scope="col">Deployment</th>
                  <th scope="col">Status</th>
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
                    <td>{d.status && <Status status={d.status} />}</td>
                    <td>
                      {d.blueprintId ? (
                        <a href={`/blueprints/${encodeURIComponent(d.blueprintId)}`}>{d.blueprintId}</a>
                      ) : (
                        <span class="muted">–</span>
                      )}
                    </td>
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
            go={(o) => filter({ offset: o ? String(o) : undefined })}
          />
        </>
      )}
    </Page>
  );
}

/** A state in which an instance exists somewhere (the engine's isLive): deleting forgets it. */
const isLive = (state: string) => state !== 'uninitialized' && state !== 'deleted';

/**
 * Deleting a deployment with the CLI's protection: refused while an execution runs; with live
 * instances only when asked to delete it anyway (they are forgotten, not uninstalled).
 */
function DeleteDeployment({ id, running, live }: { id: string; running: boolean; live: number }) {
  const [asking, setAsking] = useState(false);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<Error>();
  const remove = async () => {
    setError(undefined);
    try {
      await request(
        'DELETE',
        `/deployments/${encodeURIComponent(id)}${query({ force: force ? 'true' : undefined })}`,
      );
      navigate('/deployments');
    } catch (caught) {
      setError(caught as Error);
    }
  };
  if (!asking)
    return (
      <button type="button" class="danger" onClick={() => setAsking(true)}>
        Delete
      </button>
    );
  return (
    <div class="card confirm-delete" role="alert">
      {running ? (
        <p>An execution is running on {id}: it can be deleted once that ends (or is cancelled).</p>
      ) : live > 0 ? (
        <>
          <p>
            {id} has {live} live {live === 1 ? 'instance' : 'instances'}: uninstall it first, or delete it
            anyway (they are forgotten, not uninstalled).
          </p>
          <label class="inline">
            <input
              type="checkbox"
              checked={force}
              onChange={(e) => setForce((e.target as HTMLInputElement).checked)}
            />{' '}
            Delete it with its live instances
          </label>
        </>
      ) : (
        <p>Delete deployment {id} and its stored state?</p>
      )}
      <ErrorNote error={error} />
      <div class="actions">
        {!running && (
          <button type="button" class="danger" disabled={live > 0 && !force} onClick={remove}>
            Delete it
          </button>
        )}
        <button type="button" onClick={() => setAsking(false)}>
          Keep it
        </button>
      </div>
    </div>
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

/** Outputs or capabilities: each name with its value (secrets come masked from the API). */
function NamedValues({ values, testId }: { values: Record<string, unknown>; testId: string }) {
  const names = Object.keys(values);
  if (names.length === 0) return <p class="muted">None.</p>;
  return (
    <dl class="named-values" data-testid={testId}>
      {names.map((name) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd>
            <pre>{show(values[name])}</pre>
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function DeploymentPage({ id }: { id: string }) {
  const canStart = useCan('operator');
  const path = encodeURIComponent(id);
  const deployment = useLoad(() => get<Deployment>(`/deployments/${path}`), [id]);
  // The layout worker starts loading now, beside the API's answers, not after them.
  useEffect(() => void startLayoutWorker(), []);
  const instances = useLoad(() => allInstances(id), [id]);
  const [instanceOffset, setInstanceOffset] = useState(0);
  const outputs = useLoad(
    () =>
      get<{ outputs: Record<string, unknown>; capabilities: Record<string, unknown> }>(
        `/deployments/${path}/outputs`,
      ),
    [id],
  );
  const executions = useLoad(
    () => get<Paged<Execution>>(`/executions${query({ deploymentId: id, size: 10 })}`),
    [id],
  );
  const [starting, setStarting] = useState(false);
  const [updating, setUpdating] = useState(false);
  const [selected, setSelected] = useState('');
  const refresh = useThrottle(() => {
    instances.reload();
    executions.reload();
  }, REFRESH_MS);
  const active = executions.data?.items.find((e) => ACTIVE_STATUSES.includes(e.status));
  // The event stream cannot start at "now" and replaying a deployment's history to get there costs
  // more than asking: with nothing running, the page asks now and then whether something started,
  // and follows that execution's events live once it has.
  const idle = executions.data !== undefined && active === undefined;
  useEffect(() => {
    if (!idle) return;
    const timer = setInterval(executions.reload, IDLE_POLL_MS);
    return () => clearInterval(timer);
  }, [idle]);
  // An execution found running may have changed states before it was found.
  useEffect(() => {
    if (active) refresh();
  }, [active?.id]);
  // When the followed execution ends, outputs may have changed.
  const ended = () => {
    refresh();
    deployment.reload();
    outputs.reload();
  };
  const topology = useMemo(() => topologyOf(instances.data ?? []), [instances.data]);
  const matching = (instances.data ?? []).filter((i) => selected === '' || i.node === selected);
  // Only a page of rows is drawn: a deployment of thousands of instances opens as fast as a small one.
  const shownInstances = matching.slice(instanceOffset, instanceOffset + INSTANCES_PAGE);
  const select = (node: string) => {
    setSelected(node);
    setInstanceOffset(0);
  };

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
          {!updating && (
            <button type="button" onClick={() => setUpdating(true)}>
              {canStart ? 'Update…' : 'Preview an update'}
            </button>
          )}
          {canStart && executions.data && instances.data && (
            <DeleteDeployment
              id={id}
              running={active !== undefined}
              live={instances.data.filter((i) => isLive(i.state)).length}
            />
          )}
        </>
      }
    >
      {starting && <StartForm deploymentId={id} onCancel={() => setStarting(false)} />}
      {updating && (
        <UpdateForm
          deploymentId={id}
          blueprintId={deployment.data?.blueprintId ?? undefined}
          canApply={canStart}
          onClose={() => setUpdating(false)}
        />
      )}
      <ErrorNote error={deployment.error} />
      {deployment.data && (
        <dl class="facts">
          <div>
            <dt>Status</dt>
            <dd data-testid="deployment-status">
              {deployment.data.status && <Status status={deployment.data.status} />}
            </dd>
          </div>
          <div>
            <dt>Blueprint</dt>
            <dd>
              {deployment.data.blueprintId && (
                <a href={`/blueprints/${encodeURIComponent(deployment.data.blueprintId)}`}>
                  {deployment.data.blueprintId}
                </a>
              )}
            </dd>
          </div>
          {deployment.data.inputs && Object.keys(deployment.data.inputs).length > 0 && (
            <div>
              <dt>Inputs</dt>
              <dd>
                <details>
                  <summary>{Object.keys(deployment.data.inputs).length} inputs</summary>
                  <pre>{show(deployment.data.inputs)}</pre>
                </details>
              </dd>
            </div>
          )}
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
        {instances.data && instances.data.length > 0 && (
          <TopologyGraph topology={topology} selected={selected} onSelect={select} />
        )}
      </section>
      <div class="columns">
        <section aria-labelledby="instances-title">
          <h2 id="instances-title">
            Instances{selected && ` of ${selected}`}
            {instances.data && <span class="muted"> ({matching.length})</span>}
            {selected && (
              <button type="button" class="link" onClick={() => select('')}>
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
          <Pager
            offset={instanceOffset}
            total={matching.length}
            size={INSTANCES_PAGE}
            go={setInstanceOffset}
            labels={['Previous', 'Next']}
            name="Instance pages"
          />
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
          {outputs.data && <NamedValues values={outputs.data.outputs} testId="outputs" />}
          {outputs.data && Object.keys(outputs.data.capabilities).length > 0 && (
            <>
              <h2>Capabilities</h2>
              <NamedValues values={outputs.data.capabilities} testId="capabilities" />
            </>
          )}
        </section>
      </div>
    </Page>
  );
}
