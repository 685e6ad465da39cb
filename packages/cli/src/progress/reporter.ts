/**
 * What runExecution shows while an execution runs: the live view, plain event lines ending with a
 * summary line, or nothing (--json, --quiet). Debug logs only with --verbose.
 */
import {
  DEFAULT_TASK_RETRIES,
  DEFAULT_TASK_RETRY_INTERVAL,
  type DeploymentModel,
  type EventRecord,
  type ExecutionRecord,
  type Json,
  type OperationModel,
  type Store,
} from '@weft/engine';
import { progressMode, verbosity } from '../output.js';
import { eventLine } from '../render.js';
import { LiveView } from './live.js';
import { colorEnabled, duration } from './style.js';
import { ProgressTracker, type TrackedInstance, type TrackedTask } from './tracker.js';

export interface Reporter {
  event(event: EventRecord): void;
  /** A line for the user about the run itself (Ctrl-C was seen), on standard error or above the live view. */
  say(text: string): void;
  /** Called once the execution has ended (again is harmless): the summary is drawn or printed. */
  end(): Promise<void>;
  /** Log lines were shown as they came: the failure report need not repeat them. */
  readonly showsLogs: boolean;
}

/** `install succeeded: 40/40 operations in 12.3s`, what a pipe or a log file ends with. */
export function summaryLine(t: ProgressTracker, now: number): string {
  const extra = [
    ...(t.failed > 0 ? [`${t.failed} failed`] : []),
    ...(t.retries > 0 ? [`${t.retries} ${t.retries === 1 ? 'retry' : 'retries'}`] : []),
  ];
  return `${t.info.workflow} ${t.outcome ?? 'ended'}: ${t.done}/${t.operations} operations in ${duration(now - t.info.startedAt)}${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`;
}

/**
 * Said once, when the first failed operation is scheduled to run again: how often and how far
 * apart it is retried, and where that comes from (its own max_retries and retry_interval, else
 * the execution's --task-retries and --task-retry-interval).
 */
export function retryPolicyLine(
  operation: Pick<OperationModel, 'maxRetries' | 'retryInterval'> | undefined,
  parameters: ExecutionRecord['parameters'],
): string {
  const given = (value: Json | undefined, fallback: number) => (typeof value === 'number' ? value : fallback);
  const retries = operation?.maxRetries ?? given(parameters.task_retries, DEFAULT_TASK_RETRIES);
  const interval =
    operation?.retryInterval ?? given(parameters.task_retry_interval, DEFAULT_TASK_RETRY_INTERVAL);
  const sources = [
    operation?.maxRetries !== undefined ? 'max_retries' : '--task-retries',
    operation?.retryInterval !== undefined ? 'retry_interval' : '--task-retry-interval',
  ];
  const times = retries < 0 ? 'until it succeeds' : `up to ${retries} ${retries === 1 ? 'time' : 'times'}`;
  return `A failed operation is retried ${times}, ${interval} s apart (${sources.join(', ')})`;
}

/** What the progress of an execution is drawn from: its deployment, local or on a server. */
export interface ProgressSource {
  /** The deployment's nodes, in the order the live view lists them. */
  nodes: string[];
  /** The deployment's instances as stored now. */
  instances(): Promise<TrackedInstance[]>;
  /** An operation's own retry settings, where known. */
  operation(node: string, name: string): Pick<OperationModel, 'maxRetries' | 'retryInterval'> | undefined;
}

/** The progress source of a deployment in a local store. */
export function storeProgressSource(
  store: Store,
  deploymentId: string,
  model: DeploymentModel,
): ProgressSource {
  return {
    nodes: Object.keys(model.nodes),
    instances: () => store.listInstances(deploymentId),
    operation: (node, name) => model.nodes[node]?.operations[name],
  };
}

/** `tasks`: the execution's tasks as stored when it starts (read once, for the executor too). */
export async function progressReporter(
  source: ProgressSource,
  execution: ExecutionRecord,
  json: boolean,
  tasks: TrackedTask[],
): Promise<Reporter> {
  const stdout = process.stdout;
  const level = verbosity();
  const mode = progressMode(json || level === 'quiet', stdout.isTTY === true, process.env);
  const say = (text: string) => process.stderr.write(`${text}\n`);
  if (mode === 'json') return { event: () => {}, say, end: async () => {}, showsLogs: false };
  const instances = await source.instances();
  const tracker = new ProgressTracker(
    {
      workflow: execution.workflow,
      deploymentId: execution.deploymentId,
      startedAt: Date.now(),
      ignoreFailure: execution.parameters.ignore_failure === true,
    },
    source.nodes,
    instances,
    tasks,
  );
  const shown = (event: EventRecord) => event.level !== 'debug' || level === 'verbose';
  let policyShown = false;
  /** The retry policy, before the first retry of a failure (a retry an operation asked for is not one). */
  const policy = (event: EventRecord): string | undefined => {
    if (policyShown || event.type !== 'task_rescheduled' || event.level !== 'warning') return undefined;
    policyShown = true;
    return retryPolicyLine(
      event.node !== null && event.operation ? source.operation(event.node, event.operation) : undefined,
      execution.parameters,
    );
  };
  let ended = false;
  if (mode === 'plain') {
    // The events of a commit come one after another: their lines go out in one write.
    let lines = '';
    const flush = () => {
      if (lines === '') return;
      stdout.write(lines);
      lines = '';
    };
    const print = (line: string) => {
      if (lines === '') queueMicrotask(flush);
      lines += `${line}\n`;
    };
    return {
      showsLogs: true,
      say: (text) => {
        flush();
        say(text);
      },
      event: (event) => {
        tracker.apply(event);
        const note = policy(event);
        if (note) print(note);
        if (shown(event)) print(eventLine(event));
      },
      end: async () => {
        if (ended) return;
        ended = true;
        flush();
        stdout.write(`${summaryLine(tracker, Date.now())}\n`);
      },
    };
  }
  const view = new LiveView(tracker, stdout, colorEnabled(process.env, true));
  return {
    showsLogs: true,
    event: (event) => {
      const note = policy(event);
      if (note) view.say(note);
      view.event(event, shown(event));
    },
    say: (text) => view.say(text),
    end: async () => {
      if (ended) return;
      ended = true;
      // The summary shows the states as stored; if they cannot be read, as tracked.
      const stored = await source.instances().catch(() => []);
      tracker.syncInstances(stored);
      view.end();
    },
  };
}
