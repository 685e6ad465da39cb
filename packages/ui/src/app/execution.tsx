/**
 * One execution, live: its tasks by state, a progress bar, what runs now, the failing task's error
 * and causes, cancel and resume, and its events. Events arrive on the execution's stream; a task
 * event makes the page read the tasks again (at most every REFRESH_MS), so what is shown is what
 * the server stored, not a state rebuilt from events.
 */
import { useEffect, useState } from 'preact/hooks';
import { ACTIVE_STATUSES, type Execution, get, request, type Task } from './api.js';
import { useCan } from './app.js';
import { EventList, type LogFilter, LogFilters, passes, useEventStream } from './events.js';
import { ErrorNote, Page, Status, show, useLoad, useThrottle, When } from './ui.js';

const REFRESH_MS = 200;
const TASK_STATES = ['pending', 'rescheduled', 'sent', 'started', 'succeeded', 'failed', 'cancelled'];
const RUNNING = new Set(['sent', 'started']);
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

interface Cause {
  type?: string;
  message?: string;
  stack?: string;
}

/** What a task or execution error says: its message and causes, whatever fields it has. */
function ErrorDetail({ error, title }: { error: unknown; title: string }) {
  if (error === null || error === undefined) return null;
  const record = (typeof error === 'object' ? error : { message: String(error) }) as {
    message?: string;
    type?: string;
    causes?: Cause[];
  };
  return (
    <div class="failure" role="alert">
      <h3>{title}</h3>
      <p>
        {record.type && <strong>{record.type}: </strong>}
        {record.message ?? show(error)}
      </p>
      {Array.isArray(record.causes) && record.causes.length > 0 && (
        <ol class="causes" aria-label="Causes">
          {record.causes.map((cause, index) => (
            <li key={index}>
              <strong>{cause.type ?? 'Error'}</strong>: {cause.message ?? show(cause)}
              {cause.stack && (
                <details>
                  <summary>Stack</summary>
                  <pre>{cause.stack}</pre>
                </details>
              )}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/** Operation tasks carry the work; state and workflow tasks are bookkeeping shown in counts only. */
export function progressOf(tasks: Task[]) {
  const counted = tasks.filter((t) => t.kind === 'operation');
  const done = counted.filter((t) => FINISHED.has(t.state)).length;
  return {
    done,
    total: counted.length,
    percent: counted.length ? Math.round((done / counted.length) * 100) : 0,
  };
}

const taskLabel = (task: Task) =>
  `${task.operation ? task.operation.split('.').slice(-1)[0] : task.kind === 'state' ? `→ ${task.targetState}` : task.kind} on ${task.instanceId || task.node || 'the deployment'}`;

export function ExecutionPage({ id }: { id: string }) {
  const canOperate = useCan('operator');
  const execution = useLoad(() => get<Execution>(`/executions/${encodeURIComponent(id)}`), [id]);
  const tasks = useLoad(() => get<Task[]>(`/executions/${encodeURIComponent(id)}/tasks`), [id]);
  const refresh = useThrottle(() => {
    execution.reload();
    tasks.reload();
  }, REFRESH_MS);
  // A resumed execution has a stream again: the one that ended with it is opened anew.
  const [epoch, setEpoch] = useState(0);
  const stream = useEventStream({ executionId: id }, refresh, epoch);
  const [filter, setFilter] = useState<LogFilter>({ level: 'info', node: '' });
  const [actionError, setActionError] = useState<Error>();
  const [retryInFlight, setRetryInFlight] = useState(false);

  const lastType = stream.events.at(-1)?.type;
  useEffect(() => {
    if (stream.events.length > 0) refresh();
  }, [stream.events.length, lastType]);

  const act = async (path: string, body: unknown) => {
    setActionError(undefined);
    try {
      await request('POST', `/executions/${encodeURIComponent(id)}/${path}`, body);
      if (path === 'resume') setEpoch((n) => n + 1);
      execution.reload();
      tasks.reload();
    } catch (error) {
      setActionError(error as Error);
    }
  };

  const e = execution.data;
  const list = tasks.data ?? [];
  const progress = progressOf(list);
  const active = e !== undefined && ACTIVE_STATUSES.includes(e.status);
  const running = list.filter((t) => RUNNING.has(t.state));
  const failed = list.filter((t) => t.state === 'failed' && !t.ignoreFailure);
  // Attempts count from 0: a task with attempt 1 runs for the second time.
  const retried = list.filter((t) => t.attempt > 0 && t.kind === 'operation');
  const counts = TASK_STATES.map((state) => ({ state, count: list.filter((t) => t.state === state).length }));
  const nodes = [...new Set(list.map((t) => t.node).filter(Boolean))];

  return (
    <Page
      title={e ? `${e.workflow} on ${e.deploymentId}` : `Execution ${id}`}
      actions={
        e &&
        canOperate && (
          <>
            {active && (
              <>
                <button
                  type="button"
                  onClick={() => act('cancel', { force: false })}
                  disabled={e.status !== 'started' && e.status !== 'pending'}
                >
                  Cancel
                </button>
                <button type="button" class="danger" onClick={() => act('cancel', { force: true })}>
                  Force cancel
                </button>
              </>
            )}
            {!active && e.status !== 'terminated' && (
              <>
                <label class="inline">
                  <input
                    type="checkbox"
                    checked={retryInFlight}
                    onChange={(ev) => setRetryInFlight((ev.target as HTMLInputElement).checked)}
                  />{' '}
                  Retry interrupted operations
                </label>
                <button type="button" class="primary" onClick={() => act('resume', { retryInFlight })}>
                  Resume
                </button>
              </>
            )}
          </>
        )
      }
    >
      <ErrorNote error={execution.error ?? tasks.error} />
      <ErrorNote error={actionError} />
      {e && (
        <>
          <dl class="facts">
            <div>
              <dt>Status</dt>
              <dd data-testid="execution-status">
                <Status status={e.status} />
              </dd>
            </div>
            <div>
              <dt>Deployment</dt>
              <dd>
                <a href={`/deployments/${encodeURIComponent(e.deploymentId)}`}>{e.deploymentId}</a>
              </dd>
            </div>
            <div>
              <dt>Execution</dt>
              <dd class="mono">{e.id}</dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>
                <When at={e.startedAt ?? e.createdAt} />
              </dd>
            </div>
            <div>
              <dt>Ended</dt>
              <dd>
                <When at={e.endedAt} />
              </dd>
            </div>
          </dl>
          <div class="progress-block">
            <progress
              max={Math.max(progress.total, 1)}
              value={progress.done}
              aria-label="Operations finished"
            >
              {progress.percent}%
            </progress>
            <span>
              {progress.done} of {progress.total} operations finished ({progress.percent}%)
            </span>
          </div>
          <ul class="counts" aria-label="Tasks by state">
            {counts
              .filter((c) => c.count > 0)
              .map((c) => (
                <li key={c.state}>
                  <Status status={c.state} /> {c.count}
                </li>
              ))}
          </ul>
          <ErrorDetail error={e.error} title="Why it stopped" />
          {failed.map((task) => (
            <ErrorDetail
              key={task.id}
              error={task.error}
              title={`Failed: ${taskLabel(task)} (attempt ${task.attempt + 1})`}
            />
          ))}
          <div class="columns">
            <section aria-labelledby="running-title">
              <h2 id="running-title">Running now</h2>
              {running.length === 0 ? (
                <p class="muted">
                  {active ? 'Nothing at this moment.' : 'Nothing: the execution has ended.'}
                </p>
              ) : (
                <ul class="running">
                  {running.map((t) => (
                    <li key={t.id}>
                      <span class="spinner" aria-hidden="true" /> {taskLabel(t)}
                      {t.attempt > 0 && <span class="muted"> (attempt {t.attempt + 1})</span>}
                    </li>
                  ))}
                </ul>
              )}
              {retried.length > 0 && (
                <>
                  <h3>Retried</h3>
                  <ul>
                    {retried.map((t) => (
                      <li key={t.id}>
                        {taskLabel(t)}: attempt {t.attempt + 1}, <Status status={t.state} />
                      </li>
                    ))}
                  </ul>
                </>
              )}
            </section>
            <section aria-labelledby="events-title" class="events-section">
              <div class="section-header">
                <h2 id="events-title">Events</h2>
                <span class={stream.live ? 'live on' : 'live'}>
                  {stream.live ? 'Following live' : 'Not following'}
                </span>
              </div>
              <LogFilters filter={filter} nodes={nodes} onChange={setFilter} />
              <ErrorNote error={stream.error} />
              <EventList events={stream.events.filter((event) => passes(event, filter))} live={stream.live} />
            </section>
          </div>
        </>
      )}
    </Page>
  );
}
