/** Small pieces every page uses: loading data, showing errors and statuses, dates. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Loads once per change of `deps`; `reload` loads again keeping what is shown meanwhile. A reload
 * asked for while a load is under way waits for it and is made once after it: an answer is never
 * thrown away for a newer question (live pages ask faster than a big answer comes).
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  const inFlight = useRef(false);
  const again = useRef(false);
  useEffect(() => {
    const call = ++latest.current;
    inFlight.current = true;
    setState((previous) => ({ ...previous, loading: true }));
    const settle = (next: { data?: T; error?: Error }) => {
      if (call !== latest.current) return;
      inFlight.current = false;
      setState({ ...next, loading: false });
      if (again.current) {
        again.current = false;
        setTick((t) => t + 1);
      }
    };
    load().then(
      (data) => settle({ data }),
      (error: Error) => settle({ error }),
    );
  }, [...deps, tick]);
  const reload = useCallback(() => {
    if (inFlight.current) again.current = true;
    else setTick((t) => t + 1);
  }, []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/**
 * Calls `fn` at most once per `ms`: at once when it has not been called for that long (a change
 * shows without waiting), else once at the end of the interval (bursts of events make one refresh).
 */
export function useThrottle(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const last = useRef(Number.NEGATIVE_INFINITY);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    const wait = last.current + ms - performance.now();
    const call = () => {
      timer.current = undefined;
      last.current = performance.now();
      latest.current();
    };
    if (wait <= 0) call();
    else timer.current = setTimeout(call, wait);
  }, [ms]);
}

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (!error) return null;
  if (error instanceof ApiError && error.missingRoute)
    return (
      <p class="note" role="status">
        This server does not offer this yet ({error.message}).
      </p>
    );
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

const STATUS_TONE: Record<string, string> = {
  terminated: 'ok',
  installed: 'ok',
  running: 'busy',
  partial: 'warn',
  created: 'idle',
  uninstalled: 'idle',
  succeeded: 'ok',
  started: 'busy',
  sent: 'busy',
  pending: 'idle',
  rescheduled: 'warn',
  cancelling: 'warn',
  force_cancelling: 'warn',
  cancelled: 'warn',
  interrupted: 'bad',
  failed: 'bad',
};

/** An execution's status as Cloudify names it, with the word users read ("succeeded" for terminated). */
export function Status({ status }: { status: string }) {
  const label = status === 'terminated' ? 'succeeded' : status.replace('_', ' ');
  return <span class={`status tone-${STATUS_TONE[status] ?? 'idle'}`}>{label}</span>;
}

export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">–</span>;
  const date = new Date(at);
  return (
    <time dateTime={at} title={date.toISOString()}>
      {date.toLocaleString()}
    </time>
  );
}

export function Page({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ComponentChildren;
  children: ComponentChildren;
}) {
  useEffect(() => {
    document.title = `${title} · Weft`;
  }, [title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-header">
        <h1 id="page-title">{title}</h1>
        {actions && <div class="actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

/**
 * A list page's actions: Refresh, and the page's way to add to the list (shown to those allowed,
 * while its form is closed).
 */
export function ListActions({
  reload,
  add,
}: {
  reload: () => void;
  add: { label: string; shown: boolean; open: () => void };
}) {
  return (
    <>
      <button type="button" onClick={reload}>
        Refresh
      </button>
      {add.shown && (
        <button type="button" class="primary" onClick={add.open}>
          {add.label}
        </button>
      )}
    </>
  );
}

/** Text for a value of unknown shape: strings as they are, the rest as JSON. */
export const show = (value: unknown): string =>
  typeof value === 'string' ? value : JSON.stringify(value, null, 2);
