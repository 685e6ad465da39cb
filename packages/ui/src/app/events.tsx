/** Events and logs: a live list with level and node filters, alone or on an execution's page. */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Level, WeftEvent } from './api.js';
import { navigate, useLocation } from './router.js';
import { followEvents, type StreamFilter } from './stream.js';
import { ErrorNote, Page } from './ui.js';

export const LEVELS: Level[] = ['debug', 'info', 'warning', 'error'];
/** Events kept on screen: the oldest are dropped past this many. */
const KEEP = 5000;

export interface LogFilter {
  level: Level;
  node: string;
}

/** Whether an event passes the filter as the server's: at least the level; the node or one of its instances. */
export const passes = (event: WeftEvent, filter: LogFilter) =>
  LEVELS.indexOf(event.level) >= LEVELS.indexOf(filter.level) &&
  (filter.node === '' || event.node === filter.node || event.instanceId === filter.node);

/** Appends events, keeping the newest KEEP of them. */
export const appendEvents = (list: WeftEvent[], more: WeftEvent[]) => {
  const all = list.concat(more);
  return all.length > KEEP ? all.slice(all.length - KEEP) : all;
};

export function LogFilters({
  filter,
  nodes,
  onChange,
}: {
  filter: LogFilter;
  nodes: string[];
  onChange(filter: LogFilter): void;
}) {
  return (
    <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Event filters">
      <label>
        Level
        <select
          value={filter.level}
          onChange={(e) => onChange({ ...filter, level: (e.target as HTMLSelectElement).value as Level })}
        >
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l} and above
            </option>
          ))}
        </select>
      </label>
      <label>
        Node
        <input
          list="log-nodes"
          value={filter.node}
          placeholder="any"
          // As typed, not on change: the list re-renders as events arrive, and a controlled field
          // whose state lagged behind what was typed would be reset to it.
          onInput={(e) => onChange({ ...filter, node: (e.target as HTMLInputElement).value.trim() })}
        />
        <datalist id="log-nodes">
          {nodes.map((n) => (
            <option key={n} value={n} />
          ))}
        </datalist>
      </label>
    </form>
  );
}

/** The list; it stays scrolled to the newest while the reader has not scrolled up. */
export function EventList({ events, live }: { events: WeftEvent[]; live: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const element = box.current;
    if (element && atBottom.current) element.scrollTop = element.scrollHeight;
  }, [events]);
  return (
    <div
      class="log"
      ref={box}
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region is scrolled by keyboard once it has the focus
      tabIndex={0}
      role="log"
      aria-label={live ? 'Events, following live' : 'Events'}
      aria-live="off"
      onScroll={(e) => {
        const element = e.currentTarget as HTMLDivElement;
        atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
      }}
    >
      {events.length === 0 && <p class="muted">No events{live ? ' yet' : ''}.</p>}
      {events.map((event) => (
        <div key={event.seq} class={`event level-${event.level}`} data-type={event.type}>
          <time dateTime={event.timestamp}>{new Date(event.timestamp).toLocaleTimeString()}</time>
          <span class="level">{event.level}</span>
          <span class="where">{event.instanceId || event.node || ''}</span>
          <span class="message">
            {event.operation && <span class="muted">{event.operation.split('.').pop()}: </span>}
            {event.message}
          </span>
        </div>
      ))}
    </div>
  );
}

/**
 * Follows events matching `filter` for as long as the component is shown or the filter stays the
 * same; a new `epoch` follows again from the start (after an ended execution was resumed).
 */
export function useEventStream(filter: StreamFilter, onEnd?: (status: string) => void, epoch = 0) {
  const [events, setEvents] = useState<WeftEvent[]>([]);
  const [error, setError] = useState<Error>();
  const [live, setLive] = useState(false);
  const key = JSON.stringify([filter, epoch]);
  useEffect(() => {
    setEvents([]);
    setError(undefined);
    return followEvents(filter, {
      onEvents: (more) => setEvents((list) => appendEvents(list, more)),
      onEnd: (status) => {
        setLive(false);
        onEnd?.(status);
      },
      onError: setError,
      onConnected: setLive,
    });
  }, [key]);
  return { events, error, live };
}

export function EventsPage() {
  const { params } = useLocation();
  const filter: StreamFilter = {};
  for (const name of ['executionId', 'deploymentId', 'level', 'node'] as const) {
    const value = params.get(name);
    if (value) filter[name] = value;
  }
  const { events, error, live } = useEventStream(filter);
  const change = (changes: Partial<StreamFilter>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes))
      if (value) next.set(name, value);
      else next.delete(name);
    const text = next.toString();
    navigate(`/events${text ? `?${text}` : ''}`, true);
  };
  const nodes = [...new Set(events.map((e) => e.node).filter((n): n is string => n !== null))];

  return (
    <Page
      title="Events"
      actions={<span class={live ? 'live on' : 'live'}>{live ? 'Following live' : 'Not connected'}</span>}
    >
      <div class="filters-row">
        <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Scope">
          <label>
            Deployment
            <input
              value={filter.deploymentId ?? ''}
              placeholder="any"
              onChange={(e) => change({ deploymentId: (e.target as HTMLInputElement).value.trim() })}
            />
          </label>
          <label>
            Execution
            <input
              value={filter.executionId ?? ''}
              placeholder="any"
              onChange={(e) => change({ executionId: (e.target as HTMLInputElement).value.trim() })}
            />
          </label>
        </form>
        <LogFilters
          filter={{ level: (filter.level as Level | undefined) ?? 'debug', node: filter.node ?? '' }}
          nodes={nodes}
          onChange={(f) => change({ level: f.level === 'debug' ? '' : f.level, node: f.node })}
        />
      </div>
      <ErrorNote error={error} />
      <EventList events={events} live={live} />
    </Page>
  );
}
