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

/** Loads once per change of `deps`; `reload` loads again keeping what is shown meanwhile. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const call = ++latest.current;
    setState((previous) => ({ ...previous, loading: true }));
    load().then(
      (data) => {
        if (call === latest.current) setState({ data, loading: false });
      },
      (error: Error) => {
        if (call === latest.current) setState({ error, loading: false });
      },
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** Calls `fn` at most once per `ms`, the last call always made (state refreshes after bursts of events). */
export function useThrottle(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
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

/** Text for a value of unknown shape: strings as they are, the rest as JSON. */
export const show = (value: unknown): string =>
  typeof value === 'string' ? value : JSON.stringify(value, null, 2);
