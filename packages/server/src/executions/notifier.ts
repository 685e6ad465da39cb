/**
 * Tells event streams that a tenant has new events stored, so that they read them at once instead
 * of polling. The events themselves are always read from the store (ordered by seq, resumable by
 * Last-Event-ID); a notification only says "look now".
 */
import { EventEmitter } from 'node:events';

export class EventNotifier {
  private readonly emitter = new EventEmitter();
  /** Notifications so far, per tenant: a reader that saw N and finds more must look again. */
  private readonly counts = new Map<string, number>();

  constructor() {
    // One listener per open stream: many streams are normal, not a leak.
    this.emitter.setMaxListeners(0);
  }

  /** Where notifications also go: the other server processes sharing the database, if any. */
  private relay: ((tenant: string) => void) | undefined;

  relayTo(relay: (tenant: string) => void): void {
    this.relay = relay;
  }

  /** New events of `tenant` were stored by this process. */
  notify(tenant: string): void {
    this.notifyHere(tenant);
    this.relay?.(tenant);
  }

  /** Wakes this process's streams of `tenant` (another process stored its events). */
  notifyHere(tenant: string): void {
    this.counts.set(tenant, this.seen(tenant) + 1);
    this.emitter.emit(tenant);
  }

  /** Wakes every stream of this process. */
  notifyEveryoneHere(): void {
    for (const tenant of this.emitter.eventNames()) this.notifyHere(String(tenant));
  }

  /** The count to pass to {@link next}, taken before reading the store. */
  seen(tenant: string): number {
    return this.counts.get(tenant) ?? 0;
  }

  /**
   * Resolves at the next notification for `tenant` after the `seen` one (at once when there was
   * one since), after `timeoutMs`, or when `signal` aborts.
   */
  next(
    tenant: string,
    seen: number,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<'notified' | 'timeout' | 'aborted'> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve('aborted');
      if (this.seen(tenant) !== seen) return resolve('notified');
      const done = (why: 'notified' | 'timeout' | 'aborted') => () => {
        clearTimeout(timer);
        this.emitter.off(tenant, notified);
        signal.removeEventListener('abort', aborted);
        resolve(why);
      };
      const notified = done('notified');
      const aborted = done('aborted');
      const timer = setTimeout(done('timeout'), timeoutMs);
      this.emitter.on(tenant, notified);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }
}
