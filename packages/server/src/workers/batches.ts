/**
 * One statement for many jobs: what is asked in one turn of the event loop, or while the previous
 * statement is in flight, goes out together in the next. The operations an execution starts at
 * once are queued with one insert, and those a worker finishes together are completed with one
 * update, instead of a round trip each.
 */
export class Batches<T, R> {
  private pending: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    /** Applies a batch; answers one result per item, in order. */
    private readonly apply: (items: T[]) => Promise<R[]>,
    /** The most items of one statement. */
    private readonly max = 500,
  ) {}

  add(item: T): Promise<R> {
    const result = new Promise<R>((resolve, reject) => this.pending.push({ item, resolve, reject }));
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => void this.flush());
    }
    return result;
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.max);
      try {
        const results = await this.apply(batch.map((entry) => entry.item));
        for (const [i, entry] of batch.entries()) entry.resolve(results[i]!);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
    this.flushing = false;
  }
}
