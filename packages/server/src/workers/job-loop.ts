/**
 * A worker's taker of one queue's jobs: asks for as many jobs as it has free slots (`fetch`: from
 * pg-boss, or from the server for a host agent) and hands each over, up to `slots` at once, until
 * stopped. pg-boss's own `work()` is not used because it ends a job whose handler runs longer
 * than the job's expiry, while a worker renews its lease for as long as the operation runs.
 * pg-boss still does everything a queue does (SKIP LOCKED hand-out, retries, expiry); this only
 * decides when to ask: when a slot frees after a full fetch, when woken (a NOTIFY that jobs were
 * queued), and every `pollMs` in case a notification was missed. One fetch per wake for all free
 * slots, rather than one per slot, keeps a notification from sending every idle slot of every
 * worker to the database. What waits to go with the next fetch (a worker's completions) is sent by
 * `flush` once no fetch is coming: while stopping, as each job ends.
 */
export class JobLoop<T extends object> {
  private stopped = false;
  private running = 0;
  private woken = false;
  private wakeUp: (() => void) | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly fetch: (count: number) => Promise<T[]>,
    /** Gives back a job that could not be taken at all. */
    private readonly giveBack: (job: T, error: Error) => Promise<void>,
    private readonly slots: number,
    private readonly take: (job: T) => Promise<void>,
    private readonly pollMs: number,
    private readonly flush: () => Promise<void> = async () => {},
  ) {
    this.done = this.run();
  }

  /** Looks for jobs now (or as soon as the fetch in flight is answered). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Takes no more jobs; resolves once every job taken is handed back. */
  stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    return this.done;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      const free = this.slots - this.running;
      let jobs: T[] = [];
      if (free > 0)
        try {
          jobs = await this.fetch(free);
        } catch {
          // The queue is unreachable: asked again after the poll interval.
        }
      for (const job of jobs) this.start(job);
      // Every free slot filled: there may be more, looked for when a slot frees (which wakes).
      if (this.woken || this.stopped) continue;
      await this.sleep(jobs.length > 0 && jobs.length === free ? undefined : this.pollMs);
    }
    // Woken by each job that ends. (Left set, `woken` would end every sleep at once: a loop of
    // microtasks that starves the I/O the running jobs wait on, and a stopping worker spun forever.)
    for (;;) {
      this.woken = false;
      await this.flush().catch(() => {});
      // A job that ended during the flush has its completion waiting for the next one.
      if (this.running === 0 && !this.woken) break;
      await this.sleep(undefined);
    }
  }

  private start(job: T): void {
    this.running++;
    this.take(job)
      .catch((error: Error) =>
        // Not taken at all (no store or key for its tenant here): back to pg-boss, which hands
        // it out again while it has retries.
        this.giveBack(job, error).catch(() => {}),
      )
      .finally(() => {
        this.running--;
        this.wake();
      });
  }

  /** Until woken, or `ms` (when given) have passed. */
  private sleep(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      if (this.woken) this.wakeUp();
    });
  }
}
