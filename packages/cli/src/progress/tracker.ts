/**
 * What an execution is doing, kept up to date from its events at O(1) per event: per node the
 * instances by state, operations done and running; the operations running now; totals.
 *
 * Instance states change in state tasks, which emit no event, and as operations that carry a
 * target state end: the executor runs a state task as soon as the tasks it depends on are done,
 * so the tracker does the same on the task graph it was given. The end of the run re-reads the
 * stored states (`syncInstances`) for the summary.
 */
import type { EventRecord, NodeInstanceRecord, TaskRecord } from '@weft/engine';

/** The parts of a stored task the tracker needs. */
export type TrackedTask = Pick<
  TaskRecord,
  'id' | 'kind' | 'instanceId' | 'node' | 'operation' | 'targetState' | 'dependsOn' | 'ignoreFailure'
> & { state: string };

export type TrackedInstance = Pick<NodeInstanceRecord, 'id' | 'node' | 'state'>;

export interface NodeProgress {
  name: string;
  instances: number;
  /** Instances by state. */
  states: Map<string, number>;
  /** The state its instances reach when the execution ends, if the execution changes states. */
  goal: string | null;
  operations: number;
  done: number;
  failed: number;
  /** Operations running on its instances, by short name (`configure`), with how many. */
  running: Map<string, number>;
}

export interface RunningOperation {
  taskId: number;
  instanceId: string;
  operation: string;
  /** Epoch ms. */
  startedAt: number;
}

export interface ExecutionInfo {
  workflow: string;
  deploymentId: string;
  /** Epoch ms when this run began. */
  startedAt: number;
  /** Failed tasks do not stop the execution (uninstall --ignore-failure). */
  ignoreFailure: boolean;
}

const shortName = (operation: string) => operation.slice(operation.lastIndexOf('.') + 1);

export class ProgressTracker {
  readonly nodes: NodeProgress[] = [];
  /** Running operations in the order they started (a Map keeps insertion order). */
  readonly running = new Map<number, RunningOperation>();
  operations = 0;
  done = 0;
  failed = 0;
  retries = 0;
  /** Set by the workflow_* event that ends the execution: succeeded, failed, cancelled... */
  outcome: string | null = null;
  private readonly byNode = new Map<string, NodeProgress>();
  private readonly instanceState = new Map<string, string>();
  private readonly instanceNode = new Map<string, NodeProgress>();
  private readonly tasks: TrackedTask[] = [];
  private readonly dependents: number[][] = [];
  private readonly waitingOn: number[] = [];
  private readonly finished: number[] = [];
  /** A failure stops the executor starting tasks, state changes included. */
  private stopped = false;
  /** Operations already done when this run began (a resumed execution): not part of its pace. */
  private readonly doneBefore: number;

  constructor(
    readonly info: ExecutionInfo,
    nodeNames: string[],
    instances: TrackedInstance[],
    tasks: TrackedTask[],
  ) {
    for (const name of nodeNames) this.node(name);
    for (const instance of instances) {
      const node = this.node(instance.node);
      node.instances++;
      this.instanceNode.set(instance.id, node);
      this.instanceState.set(instance.id, instance.state);
      node.states.set(instance.state, (node.states.get(instance.state) ?? 0) + 1);
    }
    for (const task of tasks) {
      this.tasks[task.id] = task;
      this.dependents[task.id] = [];
      this.finished[task.id] = this.isDone(task) ? 1 : 0;
    }
    for (const task of tasks) {
      let waiting = 0;
      for (const dep of task.dependsOn) {
        this.dependents[dep]?.push(task.id);
        if (!this.finished[dep]) waiting++;
      }
      this.waitingOn[task.id] = waiting;
      // A workflow script and the events it sends are not operations.
      if (task.kind !== 'operation' && task.kind !== 'state') continue;
      const node = this.node(task.node);
      // Tasks come in graph order: the last target state of a node is where its instances end.
      if (task.targetState) node.goal = task.targetState;
      if (task.kind === 'state') continue;
      node.operations++;
      this.operations++;
      if (this.finished[task.id]) {
        node.done++;
        this.done++;
      }
    }
    // The executor runs the state tasks that wait on nothing as soon as the execution starts.
    this.runStateTasks(tasks.filter((t) => this.waitingOn[t.id] === 0).map((t) => t.id));
    this.doneBefore = this.done;
  }

  /**
   * Milliseconds the operations left should take at this run's pace so far, once it has one (an
   * operation done and a second gone); undefined before, or when nothing is left.
   */
  remainingMs(now: number): number | undefined {
    const doneNow = this.done - this.doneBefore;
    const elapsed = now - this.info.startedAt;
    const left = this.operations - this.done;
    if (doneNow < 1 || elapsed < 1000 || left <= 0) return undefined;
    return (elapsed / doneNow) * left;
  }

  private node(name: string): NodeProgress {
    let node = this.byNode.get(name);
    if (!node) {
      node = {
        name,
        instances: 0,
        states: new Map(),
        goal: null,
        operations: 0,
        done: 0,
        failed: 0,
        running: new Map(),
      };
      this.byNode.set(name, node);
      this.nodes.push(node);
    }
    return node;
  }

  private isDone(task: TrackedTask): boolean {
    return (
      task.state === 'succeeded' ||
      (task.state === 'failed' && (this.info.ignoreFailure || task.ignoreFailure))
    );
  }

  apply(event: EventRecord): void {
    if (event.type.startsWith('workflow_')) {
      const word = event.type.slice('workflow_'.length);
      if (!['started', 'resumed'].includes(word)) this.outcome = word;
      return;
    }
    let task = event.taskId === null ? undefined : this.tasks[event.taskId];
    // A workflow script adds operations while it runs: each is first seen when it starts.
    if (
      !task &&
      event.type === 'task_started' &&
      event.taskId !== null &&
      event.instanceId &&
      event.operation
    )
      task = this.added(event.taskId, event.node ?? '', event.instanceId, event.operation);
    if (!task || task.kind !== 'operation') return;
    const node = this.node(task.node);
    switch (event.type) {
      case 'task_started':
        this.started(task, node, Date.parse(event.timestamp));
        break;
      case 'task_succeeded':
        this.ended(task, node);
        this.complete(task, node);
        break;
      case 'task_rescheduled':
        this.ended(task, node);
        this.retries++;
        break;
      case 'task_cancelled':
        this.ended(task, node);
        break;
      case 'task_failed':
        this.ended(task, node);
        node.failed++;
        this.failed++;
        if (this.info.ignoreFailure || task.ignoreFailure) this.complete(task, node);
        else this.stopped = true;
        break;
    }
  }

  private added(id: number, node: string, instanceId: string, operation: string): TrackedTask {
    const task: TrackedTask = {
      id,
      kind: 'operation',
      instanceId,
      node,
      operation,
      targetState: null,
      dependsOn: [],
      ignoreFailure: false,
      state: 'pending',
    };
    this.tasks[id] = task;
    this.dependents[id] = [];
    this.waitingOn[id] = 0;
    this.finished[id] = 0;
    this.node(node).operations++;
    this.operations++;
    return task;
  }

  private started(task: TrackedTask, node: NodeProgress, at: number): void {
    const name = shortName(task.operation ?? '');
    this.running.set(task.id, {
      taskId: task.id,
      instanceId: task.instanceId,
      operation: name,
      startedAt: at,
    });
    node.running.set(name, (node.running.get(name) ?? 0) + 1);
  }

  private ended(task: TrackedTask, node: NodeProgress): void {
    const running = this.running.get(task.id);
    if (!running) return;
    this.running.delete(task.id);
    const left = (node.running.get(running.operation) ?? 1) - 1;
    if (left > 0) node.running.set(running.operation, left);
    else node.running.delete(running.operation);
  }

  /** A task is done: count it, and run the state tasks it was the last dependency of. */
  private complete(task: TrackedTask, node: NodeProgress): void {
    if (this.finished[task.id]) return;
    this.finished[task.id] = 1;
    node.done++;
    this.done++;
    if (task.targetState) this.setState(task.instanceId, task.targetState);
    const unlocked: number[] = [];
    for (const next of this.dependents[task.id] ?? []) if (--this.waitingOn[next]! === 0) unlocked.push(next);
    this.runStateTasks(unlocked);
  }

  /** Applies the ready state tasks among `ready`, and those they unlock in turn. */
  private runStateTasks(ready: number[]): void {
    while (ready.length > 0 && !this.stopped) {
      const task = this.tasks[ready.pop()!]!;
      if (task.kind !== 'state' || this.finished[task.id]) continue;
      this.finished[task.id] = 1;
      this.setState(task.instanceId, task.targetState!);
      for (const next of this.dependents[task.id] ?? []) if (--this.waitingOn[next]! === 0) ready.push(next);
    }
  }

  private setState(instanceId: string, state: string): void {
    const node = this.instanceNode.get(instanceId);
    const before = this.instanceState.get(instanceId);
    if (!node || before === undefined || before === state) return;
    this.instanceState.set(instanceId, state);
    const left = (node.states.get(before) ?? 1) - 1;
    if (left > 0) node.states.set(before, left);
    else node.states.delete(before);
    node.states.set(state, (node.states.get(state) ?? 0) + 1);
  }

  /** Takes the instance states as stored (at the end of the run, for the summary). */
  syncInstances(instances: TrackedInstance[]): void {
    for (const instance of instances) this.setState(instance.id, instance.state);
  }
}
