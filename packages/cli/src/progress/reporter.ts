/** What runExecution shows while an execution runs: the live view, plain event lines, or nothing (--json). */
import type { DeploymentModel, EventRecord, ExecutionRecord, Store } from '@weft/engine';
import { progressMode } from '../output.js';
import { eventLine } from '../render.js';
import { LiveView } from './live.js';
import { colorEnabled } from './style.js';
import { ProgressTracker } from './tracker.js';

export interface Reporter {
  event(event: EventRecord): void;
  /** A line for the user about the run itself (Ctrl-C was seen), on standard error or above the live view. */
  say(text: string): void;
  /** Called once the execution has ended (again is harmless): the live view draws its summary. */
  end(): Promise<void>;
}

export async function progressReporter(
  store: Store,
  execution: ExecutionRecord,
  model: DeploymentModel,
  json: boolean,
): Promise<Reporter> {
  const stdout = process.stdout;
  const mode = progressMode(json, stdout.isTTY === true, process.env);
  const say = (text: string) => process.stderr.write(`${text}\n`);
  if (mode === 'json') return { event: () => {}, say, end: async () => {} };
  if (mode === 'plain')
    return { event: (event) => stdout.write(`${eventLine(event)}\n`), say, end: async () => {} };
  const [instances, tasks] = await Promise.all([
    store.listInstances(execution.deploymentId),
    store.listTasks(execution.id),
  ]);
  const tracker = new ProgressTracker(
    {
      workflow: execution.workflow,
      deploymentId: execution.deploymentId,
      startedAt: Date.now(),
      ignoreFailure: execution.parameters.ignore_failure === true,
    },
    Object.keys(model.nodes),
    instances,
    tasks,
  );
  const view = new LiveView(tracker, stdout, colorEnabled(process.env, true));
  let ended = false;
  return {
    event: (event) => view.event(event),
    say: (text) => view.say(text),
    end: async () => {
      if (ended) return;
      ended = true;
      // The summary shows the states as stored; if they cannot be read, as tracked.
      const stored = await store.listInstances(execution.deploymentId).catch(() => []);
      tracker.syncInstances(stored);
      view.end();
    },
  };
}
