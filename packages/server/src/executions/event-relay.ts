/**
 * Event streams across server processes sharing one PostgreSQL database: an execution's events
 * are stored by the process running it, while a client may follow them through any other (behind
 * a load balancer). Each process tells the others "tenant T has new events" with a NOTIFY, and
 * wakes its own streams when another process says so; the events are read from the store as ever.
 * The executor's commits of events send that notification themselves (`notice`, sent by the
 * store in the query of the COMMIT): only what is told otherwise (an execution's end) is sent here.
 */
import { randomUUID } from 'node:crypto';
import { JobSignals } from '../store/job-signals.js';
import type { EventNotifier } from './notifier.js';

const CHANNEL = 'weft_events';

/**
 * Notifications of one tenant go to the other server processes at most this often (ms): what
 * their streams wait at most, on top of the commit, for events another process stored.
 */
export const RELAY_EVERY_MS = 20;

export interface EventRelay {
  /** The notification a tenant's store sends with each commit of events (PostgresStoreOptions). */
  notice(tenant: string): { channel: string; payload: string };
  close(): Promise<void>;
}

export async function relayEvents(database: string, notifier: EventNotifier): Promise<EventRelay> {
  // A process hears its own notifications too: they carry where they come from, to skip those.
  const origin = randomUUID();
  const signals = await JobSignals.open(
    database,
    [CHANNEL],
    (_channel, payload) => {
      // origin:tenant (a UUID has no colon; PostgreSQL text holds no NUL byte).
      const at = payload.indexOf(':');
      if (at < 0 || payload.slice(0, at) === origin) return;
      notifier.notifyHere(payload.slice(at + 1));
    },
    // Notifications missed while the connection was down: every stream looks again.
    () => notifier.notifyEveryoneHere(),
  );
  // At most one notification per tenant in flight, and one more after it, however many events
  // are stored meanwhile: a stream reads all that is new when it wakes. The next one goes
  // RELAY_EVERY_MS after the one before at the soonest: sent again as soon as each was answered,
  // they kept a query running on the database without a pause while executions logged (one per
  // commit or more: measured 3,389 NOTIFY queries for 1,889 commits in the server bench).
  const sending = new Set<string>();
  const again = new Set<string>();
  const send = (tenant: string): void => {
    if (sending.has(tenant)) {
      again.add(tenant);
      return;
    }
    sending.add(tenant);
    const sentAt = Date.now();
    void signals.notify(CHANNEL, `${origin}:${tenant}`).then(() => {
      const done = () => {
        sending.delete(tenant);
        if (again.delete(tenant)) send(tenant);
      };
      const wait = RELAY_EVERY_MS - (Date.now() - sentAt);
      if (wait <= 0) done();
      else setTimeout(done, wait).unref();
    });
  };
  notifier.relayTo(send);
  return {
    notice: (tenant) => ({ channel: CHANNEL, payload: `${origin}:${tenant}` }),
    close: () => signals.close(),
  };
}
