/**
 * The live view as a pure function of a tracker's state: a header (workflow, deployment,
 * elapsed time, operations done with a bar, time left), one line per node (instances by state, a bar,
 * operations running on it) and the operations running now. It leaves room for log lines above
 * it: nodes with something happening come first, the rest is summed up in one line.
 */
import type { EventRecord } from '@weft/engine';
import { bar, duration, type Line, paint, type Segment, seg } from './style.js';
import type { NodeProgress, ProgressTracker } from './tracker.js';

export interface ViewOptions {
  columns: number;
  rows: number;
  color: boolean;
  /** Epoch ms, for elapsed times and the spinner. */
  now: number;
  /** The summary left in the scrollback when the execution has ended (no running section). */
  final?: boolean;
  /** Running operations listed at most (default 5). */
  maxRunning?: number;
}

const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
const NAME_WIDTH = 28;
const NODE_BAR = 10;
const HEADER_BAR = 20;

type NodeStatus = 'failed' | 'running' | 'waiting' | 'done';

function status(node: NodeProgress): NodeStatus {
  if (node.failed > 0) return 'failed';
  if (node.running.size > 0) return 'running';
  const reached = node.goal === null || (node.states.get(node.goal) ?? 0) === node.instances;
  return node.done === node.operations && reached ? 'done' : 'waiting';
}

function header(t: ProgressTracker, o: ViewOptions, width: number): Line {
  const line: Line = [];
  const elapsed = duration(o.now - t.info.startedAt);
  if (o.final) {
    const outcome = t.outcome ?? 'ended';
    const ok = outcome === 'succeeded';
    line.push(seg(ok ? '✔ ' : '✖ ', ok ? 'green' : 'red'));
    line.push(seg(t.info.workflow, 'bold'), seg(` on ${t.info.deploymentId} `));
    line.push(seg(outcome, ok ? 'green' : 'red'), seg(` in ${elapsed}  `));
  } else {
    line.push(seg(`${SPINNER[Math.floor(o.now / 100) % SPINNER.length]} `, 'cyan'));
    line.push(seg(t.info.workflow, 'bold'), seg(` on ${t.info.deploymentId}  ${elapsed}  `));
  }
  const counts: Line = [seg(`${t.done}/${t.operations} operations`)];
  const eta = o.final ? undefined : t.remainingMs(o.now);
  if (eta !== undefined) counts.push(seg(` · ~${duration(eta)} left`));
  if (t.running.size > 0) counts.push(seg(` · ${t.running.size} running`, 'cyan'));
  if (t.failed > 0) counts.push(seg(` · ${t.failed} failed`, 'red'));
  if (t.retries > 0) counts.push(seg(` · ${t.retries} retries`, 'yellow'));
  // The bar takes the room the words leave, so a narrow terminal loses the bar, not the counts.
  let used = 0;
  for (const part of [...line, ...counts]) used += part.text.length;
  const barWidth = Math.min(HEADER_BAR, width - used - 1);
  if (barWidth >= 5) {
    const fraction = t.operations === 0 ? (o.final ? 1 : 0) : t.done / t.operations;
    line.push(seg(bar(fraction, barWidth), 'cyan'), seg(' '));
  }
  return [...line, ...counts];
}

/** "2/3 started, 1 creating": instances at the execution's goal state first, then the others. */
function states(node: NodeProgress): string {
  if (node.instances === 0) return 'no instances';
  const others = [...node.states].filter(([state]) => state !== node.goal).sort((a, b) => b[1] - a[1]);
  const parts = others.map(([state, count]) => `${count} ${state}`);
  if (node.goal !== null) parts.unshift(`${node.states.get(node.goal) ?? 0}/${node.instances} ${node.goal}`);
  return parts.join(', ');
}

const ICON: Record<NodeStatus, Segment> = {
  failed: seg('✖', 'red'),
  running: seg('●', 'cyan'),
  waiting: seg('·', 'dim'),
  done: seg('✔', 'green'),
};

function nodeLine(node: NodeProgress, nameWidth: number, state: NodeStatus): Line {
  const fraction = node.operations === 0 ? (state === 'done' ? 1 : 0) : node.done / node.operations;
  const name = node.name.length > nameWidth ? `${node.name.slice(0, nameWidth - 1)}…` : node.name;
  const line: Line = [
    seg('  '),
    ICON[state],
    seg(` ${name.padEnd(nameWidth)}  `, state === 'running' || state === 'failed' ? 'bold' : undefined),
    seg(bar(fraction, NODE_BAR), state === 'failed' ? 'red' : state === 'done' ? 'green' : 'cyan'),
  ];
  // Padded only when something follows, so what runs lines up across nodes.
  const more = node.failed > 0 || node.running.size > 0;
  line.push(seg(`  ${more ? states(node).padEnd(22) : states(node)}`));
  if (node.failed > 0) line.push(seg(`  ${node.failed} failed`, 'red'));
  if (node.running.size > 0) {
    const running = [...node.running].map(([op, count]) => (count > 1 ? `${op} ×${count}` : op));
    line.push(seg(`  ${running.join(', ')}`, 'cyan'));
  }
  return line;
}

/**
 * Rows a running view leaves free for the log lines printed above it (a third of the terminal,
 * at least 4), so that they can be read in a small terminal; the final summary may use them.
 */
const logRows = (rows: number) => Math.max(4, Math.floor(rows / 3));

/**
 * The lines of the view, each at most `columns - 1` characters wide: at most `rows - 1` of them
 * for the final summary, fewer while running (room for log lines), but 3 when the terminal has them.
 */
export function renderProgress(t: ProgressTracker, o: ViewOptions): string[] {
  const width = Math.max(10, o.columns - 1);
  const maxLines = o.final
    ? Math.max(1, o.rows - 1)
    : Math.max(Math.min(3, o.rows - 1), o.rows - 1 - logRows(o.rows), 1);
  const lines: Line[] = [header(t, o, width)];

  // Room for nodes first (a few at least), then for the running operations.
  const running = o.final ? 0 : t.running.size;
  let runLines = running === 0 ? 0 : 1 + Math.min(running, o.maxRunning ?? 5);
  const minNodes = Math.min(t.nodes.length, 3);
  if (maxLines - 1 - runLines < minNodes) runLines = Math.max(0, maxLines - 1 - minNodes);
  if (runLines === 1) runLines = 0;
  const nodeRoom = maxLines - 1 - runLines;

  // Failed, then running, then waiting, then done nodes; blueprint order within each.
  const shown = t.nodes.length <= nodeRoom ? t.nodes.length : Math.max(0, nodeRoom - 1);
  const buckets: Record<NodeStatus, NodeProgress[]> = { failed: [], running: [], waiting: [], done: [] };
  const counts: Record<NodeStatus, number> = { failed: 0, running: 0, waiting: 0, done: 0 };
  let nameWidth = 4;
  for (const node of t.nodes) {
    const s = status(node);
    counts[s]++;
    if (buckets[s].length < shown) buckets[s].push(node);
    nameWidth = Math.max(nameWidth, node.name.length);
  }
  nameWidth = Math.min(nameWidth, NAME_WIDTH);
  let left = shown;
  for (const s of ['failed', 'running', 'waiting', 'done'] as const) {
    for (const node of buckets[s]) {
      if (left-- <= 0) break;
      lines.push(nodeLine(node, nameWidth, s));
    }
  }
  if (shown < t.nodes.length && nodeRoom > 0) {
    const rest = t.nodes.length - shown;
    const parts = (['failed', 'running', 'waiting', 'done'] as const)
      .filter((s) => counts[s] > 0)
      .map((s) => `${counts[s]} ${s}`);
    lines.push([
      seg(`  … and ${rest} more node${rest === 1 ? '' : 's'} (of all: ${parts.join(', ')})`, 'dim'),
    ]);
  }

  if (runLines > 0) {
    const listed = runLines - 1;
    lines.push([
      seg('  Running now', 'bold'),
      seg(running > listed ? ` (${listed} of ${running}, longest first)` : ` (${running})`),
    ]);
    let n = 0;
    // Oldest first: the tracker keeps them in the order they started.
    for (const op of t.running.values()) {
      if (n++ >= listed) break;
      lines.push([
        seg(`    ${op.instanceId}  `),
        seg(op.operation, 'cyan'),
        seg(`  ${duration(o.now - op.startedAt)}`, 'dim'),
      ]);
    }
  }
  return lines.map((line) => paint(line, width, o.color));
}

const LEVEL_STYLE = { debug: 'dim', info: undefined, warning: 'yellow', error: 'red' } as const;

/** A log line or a warning/error event, printed above the live region: local time, where, what. */
export function logLine(event: EventRecord, color: boolean): string {
  const at = new Date(event.timestamp);
  const time = [at.getHours(), at.getMinutes(), at.getSeconds()]
    .map((n) => String(n).padStart(2, '0'))
    .join(':');
  const line: Line = [seg(`${time} `, 'dim')];
  if (event.level !== 'info') line.push(seg(`${event.level.toUpperCase()} `, LEVEL_STYLE[event.level]));
  if (event.instanceId) {
    const op = event.operation ? ` ${event.operation.slice(event.operation.lastIndexOf('.') + 1)}` : '';
    line.push(seg(`[${event.instanceId}${op}] `, 'dim'));
  }
  line.push(seg(event.message, event.level === 'error' ? 'red' : undefined));
  return paint(line, Number.POSITIVE_INFINITY, color);
}
