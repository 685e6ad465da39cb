/**
 * A plugin worker process: runs one plugin's operations, as many at a time as its first argument
 * says (the plugin's operations_per_worker), for the engine that forked it; the engine may hand it
 * more, which wait their turn here in the order they came. ctx calls (runtime property updates,
 * logs) go back to the engine over IPC. It ends when the engine goes away.
 */
import { ConflictError, LimitError } from '@weft/sdk';
import type { LogLevel, OperationCall, Outcome } from '../executor/dispatcher.js';
import type { FromWorker, ToWorker } from './host-protocol.js';
import { InProcessDispatcher, type InProcessOperation } from './in-process.js';
import { type Loaded, loadModule, lookup } from './plugin-module.js';
import { captureOutput, finish, runAs } from './worker-output.js';

const modules = new Map<string, Promise<Loaded>>();
const running = new Map<number, AbortController>();
const pendingUpdates = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
/** When each running operation's function was called, its module loaded (performance.now()). */
const calledAt = new Map<number, number>();
let nextRequest = 0;
type RunMessage = Extract<ToWorker, { type: 'run' }>;
/** Operations at most running at once; those handed over past it wait in `queued`. */
const slots = Math.max(1, Number(process.argv[2]) || 1);
const queued: { message: RunMessage; since: number }[] = [];
let busy = 0;

/**
 * The engine hands a worker operations ahead of a free slot while its plugin's operations are
 * quick (under a millisecond). When none ends for this long (ms) while some wait here, those that
 * turned out slow would hold the waiting ones back for as long as they run: the waiting ones are
 * handed back, for the engine to run elsewhere (on a worker it starts for them).
 */
const HAND_BACK_MS = 20;
let handBack: NodeJS.Timeout | undefined;
/** When an operation last ended, or the queue last formed (performance.now()). */
let progressAt = 0;

/**
 * Notes progress (an operation ended, or a queue formed) and makes sure a wait runs while
 * operations are queued: one timer, not one per operation, which looks at the last progress when
 * it fires.
 */
function watchQueue(): void {
  progressAt = performance.now();
  if (!handBack && queued.length > 0) handBack = setTimeout(checkQueue, HAND_BACK_MS);
}

function checkQueue(): void {
  handBack = undefined;
  if (queued.length === 0) return;
  const now = performance.now();
  const since = now - progressAt;
  if (since < HAND_BACK_MS) {
    handBack = setTimeout(checkQueue, HAND_BACK_MS - since);
    return;
  }
  for (const { message, since: queuedAt } of queued.splice(0))
    send({ type: 'handedBack', id: message.id, ms: now - queuedAt });
}

const failed = (errorType: string, text: string): Outcome => ({
  type: 'failed',
  recoverable: false,
  errorType,
  message: text,
  causes: [],
  runtimeProperties: {},
});

/** Messages for the engine, sent together at the end of the current step (one write for them all). */
let outbox: FromWorker[] = [];

function send(message: FromWorker): void {
  if (outbox.length === 0) process.nextTick(flush);
  outbox.push(message);
}

function flush(): void {
  const messages = outbox;
  outbox = [];
  try {
    process.send?.(messages);
  } catch {
    // Something in them JSON cannot hold (a BigInt, a cycle): sent one by one, the one refused is
    // answered for.
    for (const message of messages) sendAlone(message);
  }
}

function sendAlone(message: FromWorker): void {
  try {
    process.send?.([message]);
  } catch (error) {
    const why = (error as Error).message;
    if (message.type === 'result') {
      // Messages go as JSON, as the store keeps them: a value it cannot hold fails the operation.
      const outcome = failed(
        'PluginError',
        `what the operation handed back cannot be stored as JSON: ${why}`,
      );
      process.send?.([{ ...message, outcome }]);
    } else if (message.type === 'update') {
      const pending = pendingUpdates.get(message.requestId);
      pendingUpdates.delete(message.requestId);
      pending?.reject(error as Error);
    }
  }
}

const log = (id: number, level: LogLevel, message: string) => send({ type: 'log', id, level, message });
captureOutput(log);

async function run(message: RunMessage): Promise<Outcome> {
  let module = modules.get(message.entry);
  if (!module) {
    module = loadModule(message.entry);
    modules.set(message.entry, module);
  }
  const found = lookup(await module, message.function);
  if (typeof found !== 'function') {
    return {
      type: 'failed',
      recoverable: false,
      errorType: 'PluginError',
      message: `plugin '${message.call.model.plugin}' has no function '${message.function}'`,
      causes: [],
      runtimeProperties: {},
    };
  }
  const controller = new AbortController();
  running.set(message.id, controller);
  calledAt.set(message.id, performance.now());
  const call: OperationCall = {
    ...message.call,
    signal: controller.signal,
    update: (instanceId, runtimeProperties) =>
      new Promise<void>((resolve, reject) => {
        const requestId = nextRequest++;
        pendingUpdates.set(requestId, { resolve, reject });
        // Sent as JSON: what JSON cannot hold (a BigInt, a cycle) is refused (sendAlone).
        send({ type: 'update', id: message.id, requestId, instanceId, runtimeProperties });
      }),
    log: (level, text) => log(message.id, level, text),
  };
  const implementation = message.call.model.implementation;
  try {
    return await new InProcessDispatcher({ [implementation]: found as InProcessOperation }).run(call);
  } finally {
    running.delete(message.id);
  }
}

/** Why the engine refused an update, as the error the engine raised (a plugin may tell them apart). */
function updateError(message: string, type: string | undefined): Error {
  if (type === 'ConflictError') return new ConflictError(message);
  if (type === 'LimitError') return new LimitError(message);
  return new Error(message);
}

/** Runs an operation now; once it ends, the next one waiting starts. */
function start(message: RunMessage): void {
  busy++;
  const result = (outcome: Outcome) => {
    finish(message.id, log);
    // How long the operation ran, what the engine sizes its pool of workers by (a module's loading excluded).
    const ms = performance.now() - (calledAt.get(message.id) ?? performance.now());
    calledAt.delete(message.id);
    send({ type: 'result', id: message.id, outcome, ms });
    busy--;
    startWaiting();
    watchQueue();
  };
  runAs(message.id, () => run(message)).then(result, (error: unknown) =>
    // A module that does not load will not load on a retry either.
    result(
      failed(
        error instanceof Error ? error.name : 'Error',
        `cannot load plugin: ${error instanceof Error ? error.message : String(error)}`,
      ),
    ),
  );
}

function startWaiting(): void {
  while (busy < slots && queued.length > 0) start(queued.shift()!.message);
}

function receive(message: ToWorker): void {
  if (message.type === 'updated') {
    const pending = pendingUpdates.get(message.requestId);
    pendingUpdates.delete(message.requestId);
    if (message.error) pending?.reject(updateError(message.error, message.errorType));
    else pending?.resolve();
  } else if (message.type === 'abort') {
    running.get(message.id)?.abort(new Error('cancelled'));
    const at = queued.findIndex((waiting) => waiting.message.id === message.id);
    if (at >= 0) {
      queued.splice(at, 1);
      send({
        type: 'result',
        id: message.id,
        outcome: failed('Cancelled', 'cancelled before it started'),
        ms: 0,
      });
    }
  } else queued.push({ message, since: performance.now() });
}

process.on('message', (messages: ToWorker[]) => {
  const waiting = queued.length;
  for (const message of messages) receive(message);
  startWaiting();
  // Those that came to a queue already waiting wait with it; a queue that forms now starts a wait.
  if (waiting === 0 || queued.length === 0) watchQueue();
});

// The engine went away (it crashed or was killed): nothing is left to work for.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
