/**
 * Reads of the same thing that come together share one: a read asked for while one is in flight
 * waits for the next, which starts when that one ends and answers every read asked for meanwhile.
 * Each answer still comes from a read started after it was asked for, so it shows every change
 * that ended before (a client that wrote and then reads sees its write), as a read of its own
 * would; what is saved is the queries: with many clients reading one deployment, one query per
 * round trip to the database instead of one per request.
 */
export class SharedReads<T> {
  private readonly flights = new Map<string, { next?: Waiting<T> }>();

  constructor(private readonly read: (key: string) => Promise<T>) {}

  get(key: string): Promise<T> {
    const flight = this.flights.get(key);
    if (!flight) return this.start(key);
    flight.next ??= waiting<T>();
    return flight.next.promise;
  }

  private start(key: string): Promise<T> {
    const flight: { next?: Waiting<T> } = {};
    this.flights.set(key, flight);
    const result = this.read(key);
    const ended = () => {
      const next = flight.next;
      if (next) this.start(key).then(next.resolve, next.reject);
      else this.flights.delete(key);
    };
    result.then(ended, ended);
    return result;
  }
}

interface Waiting<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function waiting<T>(): Waiting<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}
