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
  /** The last notification sent: each waits for the one before (pg deprecates overlapping queries). */
  private sending: Promise<boolean> = Promise.resolve(true);

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
   * others in the order they were sent. False when it could not be sent (connection down): the
   * receiver makes up for it from the jobs' tables.
   */
  notify(channel: string, payload: string): Promise<boolean> {
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) return Promise.resolve(false);
    this.sending = this.sending.then(async () => {
      const client = this.client;
      if (!client) return false;
      try {
        await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
        return true;
      } catch {
        return false;
      }
    });
    return this.sending;
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
