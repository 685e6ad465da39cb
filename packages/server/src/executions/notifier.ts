/**
 * Tells event streams that a tenant has new events stored, so that they read them at once instead
 * of polling. The events themselves are always read from the store (ordered by seq, resumable by
 * Last-Event-ID); a notification only says "look now".
 */
import { EventEmitter } from 'node:events';

/**
 * What a stream waits on: a tenant's events, or one execution's of them (`tenant NUL execution`:
 * a tenant name holds no NUL). A stream of one execution is then not woken, to read nothing, by
 * each commit of the tenant's other executions.
 */
const keyOf = (tenant: string, execution?: string) =>
  execution === undefined ? tenant : `${tenant}\u0000${execution}`;

export class EventNotifier {
  private readonly emitter = new EventEmitter();
  /** Notifications so far, per key: a reader that saw N and finds more must look again. */
  private readonly counts = new Map<string, number>();
  /** Notifications that named no execution, per tenant: every stream of the tenant looks again. */
  private readonly wide = new Map<string, number>();
  /** Notifications to every stream (missed ones: the relay's connection was lost). */
  private everyone = 0;

  constructor() {
    // One listener per open stream: many streams are normal, not a leak.
    this.emitter.setMaxListeners(0);
  }

  /** Where notifications also go: the other server processes sharing the database, if any. */
  private relay: ((tenant: string) => void) | undefined;

  relayTo(relay: (tenant: string) => void): void {
    this.relay = relay;
  }

  /** New events of `tenant` (all of `execution`'s, when named) were stored by this process. */
  notify(tenant: string, execution?: string): void {
    this.notifyHere(tenant, execution);
    this.relay?.(tenant);
  }

  /**
   * Wakes this process's streams of `tenant`: those of no one execution, and those of `execution`;
   * without one (another process stored events of the tenant), every stream of the tenant.
   */
  notifyHere(tenant: string, execution?: string): void {
    this.bump(tenant);
    if (execution !== undefined) this.bump(keyOf(tenant, execution));
    else {
      this.wide.set(tenant, (this.wide.get(tenant) ?? 0) + 1);
      for (const key of this.emitter.eventNames())
        if (typeof key === 'string' && key.startsWith(`${tenant}\u0000`)) this.emitter.emit(key);
    }
  }

  private bump(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.emitter.emit(key);
  }

  /** Wakes every stream of this process. */
  notifyEveryoneHere(): void {
    this.everyone++;
    for (const key of this.emitter.eventNames()) if (typeof key === 'string') this.emitter.emit(key);
  }

  /** The count to pass to {@link next}, taken before reading the store. */
  seen(tenant: string, execution?: string): number {
    const own = this.counts.get(keyOf(tenant, execution)) ?? 0;
    return own + this.everyone + (execution === undefined ? 0 : (this.wide.get(tenant) ?? 0));
  }

  /**
   * Resolves at the next notification for `tenant` (or its `execution`) after the `seen` one (at
   * once when there was one since), after `timeoutMs`, or when `signal` aborts.
   */
  next(
    tenant: string,
    seen: number,
    timeoutMs: number,
    signal: AbortSignal,
    execution?: string,
  ): Promise<'notified' | 'timeout' | 'aborted'> {
    const key = keyOf(tenant, execution);
    return new Promise((resolve) => {
      if (signal.aborted) return resolve('aborted');
      if (this.seen(tenant, execution) !== seen) return resolve('notified');
      const done = (why: 'notified' | 'timeout' | 'aborted') => () => {
        clearTimeout(timer);
        this.emitter.off(key, notified);
        signal.removeEventListener('abort', aborted);
        resolve(why);
      };
      const notified = done('notified');
      const aborted = done('aborted');
      const timer = setTimeout(done('timeout'), timeoutMs);
      this.emitter.on(key, notified);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }
}
