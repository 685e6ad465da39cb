/**
 * PostgreSQL LISTEN/NOTIFY between the server and its workers: "a job is queued", "a job is done",
 * "cancel that job", "a log line of a running job". A notification only says "look now" (or
 * carries what a later read would give anyway): the jobs themselves live in pg-boss's tables, so
 * a notification missed while the connection was down is made up for by `onReconnect`.
 */
import pg from 'pg';

/** How long to wait before connecting again after the listening connection was lost (ms). */
const RECONNECT_MS = [200, 1000, 5000];

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
export const MAX_PAYLOAD_BYTES = 7900;

export class JobSignals {
  private client: pg.Client | undefined;
  private closed = false;
  private failures = 0;
  /** Notifications waiting for the one query in flight (pg deprecates overlapping queries). */
  private pending: { channel: string; payload: string; sent: (ok: boolean) => void }[] = [];
  private flushing = false;

  private constructor(
    private readonly url: string,
    private readonly channels: readonly string[],
    private readonly onMessage: (channel: string, payload: string) => void,
    private readonly onReconnect: () => void,
  ) {}

  /** Listens on `channels` until closed, connecting again whenever the connection is lost. */
  static async open(
    url: string,
    channels: readonly string[],
    onMessage: (channel: string, payload: string) => void,
    onReconnect: () => void,
  ): Promise<JobSignals> {
    const signals = new JobSignals(url, channels, onMessage, onReconnect);
    await signals.connect();
    return signals;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'weft-signals' });
    client.on('notification', (message) => {
      try {
        this.onMessage(message.channel, message.payload ?? '');
      } catch {
        // A payload that is not one of ours (anyone who can connect can NOTIFY): nothing to do.
      }
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    await client.connect();
    for (const channel of this.channels) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    this.client = client;
    this.failures = 0;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    client.end().catch(() => {});
    const retry = () => {
      if (this.closed) return;
      this.connect().then(
        () => this.onReconnect(),
        () => {
          this.failures++;
          setTimeout(retry, RECONNECT_MS[Math.min(this.failures, RECONNECT_MS.length - 1)]).unref();
        },
      );
    };
    setTimeout(retry, RECONNECT_MS[0]).unref();
  }

  /**
   * Sends a notification on the listening connection: the notifications of one process reach the
   * others in the order they were sent. Those asked for while one query is in flight go together
   * in the next (one statement, in order; PostgreSQL folds identical ones of a statement into
   * one). False when it could not be sent (connection down): the receiver makes up for it from
   * the jobs' tables.
   */
  notify(channel: string, payload: string): Promise<boolean> {
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) return Promise.resolve(false);
    const sent = new Promise<boolean>((resolve) => this.pending.push({ channel, payload, sent: resolve }));
    if (!this.flushing) void this.flush();
    return sent;
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      let ok = false;
      const client = this.client;
      if (client)
        try {
          await client.query(
            'SELECT pg_notify(channel, payload) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS n(channel, payload, i) ORDER BY i',
            [batch.map((n) => n.channel), batch.map((n) => n.payload)],
          );
          ok = true;
        } catch {
          ok = false;
        }
      for (const n of batch) n.sent(ok);
    }
    this.flushing = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
