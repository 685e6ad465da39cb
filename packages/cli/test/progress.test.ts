/**
 * How a running execution is shown. The renderer as a pure function of the tracker's state
 * (lines, truncation to the terminal, colours), the live view's redraws on a fake terminal
 * (resize), and `weft install` end to end: through a real pseudo-terminal (util-linux `script`)
 * for the live view, and through a pipe (or with CI set) for the plain timestamped lines.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { EventRecord } from '@weft/engine';
import { progressMode } from '../src/output.js';
import { LiveView } from '../src/progress/live.js';
import { colorEnabled } from '../src/progress/style.js';
import { ProgressTracker, type TrackedInstance, type TrackedTask } from '../src/progress/tracker.js';
import { logLine, renderProgress, type ViewOptions } from '../src/progress/view.js';
import { fixtures, repoRoot, tempDir, weftBin } from './helpers.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for the escape codes
const COLOR = /\x1b\[[0-9;]*m/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for the escape codes
const CURSOR_UP = /\x1b\[\d+A/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for the escape codes
const ANY_ESCAPE = /\x1b\[/;
const PLAIN_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;
const T0 = Date.parse('2025-01-01T10:00:00.000Z');

/**
 * Per instance, Cloudify's install shape as the engine stores it: a state task (creating), then
 * create and start, each carrying the state its instance reaches when it ends (created, started).
 */
function installGraph(nodes: Record<string, number>): { instances: TrackedInstance[]; tasks: TrackedTask[] } {
  const instances: TrackedInstance[] = [];
  const tasks: TrackedTask[] = [];
  const add = (task: Omit<TrackedTask, 'id' | 'ignoreFailure' | 'state'>) => {
    tasks.push({ ...task, id: tasks.length, ignoreFailure: false, state: 'pending' });
    return tasks.length - 1;
  };
  for (const [node, count] of Object.entries(nodes)) {
    for (let i = 1; i <= count; i++) {
      const instanceId = `${node}_${i}`;
      instances.push({ id: instanceId, node, state: 'uninitialized' });
      const base = { instanceId, node };
      const creating = add({
        ...base,
        kind: 'state',
        operation: null,
        targetState: 'creating',
        dependsOn: [],
      });
      const op = (name: string, dep: number, targetState: string) =>
        add({
          ...base,
          kind: 'operation',
          operation: `cloudify.interfaces.lifecycle.${name}`,
          targetState,
          dependsOn: [dep],
        });
      op('start', op('create', creating, 'created'), 'started');
    }
  }
  return { instances, tasks };
}

function tracker(nodes: Record<string, number>): { t: ProgressTracker; tasks: TrackedTask[] } {
  const { instances, tasks } = installGraph(nodes);
  const info = { workflow: 'install', deploymentId: 'shop', startedAt: T0, ignoreFailure: false };
  return { t: new ProgressTracker(info, Object.keys(nodes), instances, tasks), tasks };
}

function event(
  type: string,
  task?: TrackedTask,
  fields: Partial<EventRecord> = {},
  at = T0 + 1000,
): EventRecord {
  return {
    executionId: 'e1',
    deploymentId: 'shop',
    node: task?.node ?? null,
    instanceId: task?.instanceId ?? null,
    operation: task?.operation ?? null,
    taskId: task?.id ?? null,
    type,
    level: 'info',
    message: type,
    data: null,
    timestamp: new Date(at).toISOString(),
    ...fields,
  };
}

const opTask = (tasks: TrackedTask[], instanceId: string, op: string) =>
  tasks.find((t) => t.instanceId === instanceId && t.operation?.endsWith(`.${op}`))!;

const view = (extra: Partial<ViewOptions> = {}): ViewOptions => ({
  columns: 100,
  rows: 30,
  color: false,
  now: T0 + 4200,
  ...extra,
});

describe('the progress view as a function of state', () => {
  test('before anything runs: every node with its instances created-to-be, nothing running', () => {
    const { t } = tracker({ db: 1, web: 2 });
    const lines = renderProgress(t, view());
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, /^. install on shop {2}4\.2s {2}░+ 0\/6 operations$/);
    assert.match(lines[1]!, /^ {2}· db +░{10} {2}0\/1 started, 1 creating$/);
    assert.match(lines[2]!, /^ {2}· web +░{10} {2}0\/2 started, 2 creating$/);
  });

  test('running operations show on their node, in the header and in the running section with their time', () => {
    const { t, tasks } = tracker({ db: 1, web: 2 });
    t.apply(event('task_started', opTask(tasks, 'web_1', 'create'), {}, T0 + 1000));
    t.apply(event('task_started', opTask(tasks, 'web_2', 'create'), {}, T0 + 3000));
    t.apply(event('task_started', opTask(tasks, 'db_1', 'create'), {}, T0 + 3500));
    t.apply(event('task_succeeded', opTask(tasks, 'db_1', 'create')));
    t.apply(event('task_started', opTask(tasks, 'db_1', 'start'), {}, T0 + 4000));
    const lines = renderProgress(t, view());
    // One operation done in 4.2 s: the five left should take about 21 s at that pace.
    assert.match(lines[0]!, /1\/6 operations · ~21s left · 3 running$/);
    // Running nodes first; db's instance went on to 'created' when its create succeeded.
    assert.match(lines[1]!, /^ {2}● db +█{5}░{5} {2}0\/1 started, 1 created +start$/);
    assert.match(lines[2]!, /^ {2}● web +░{10} {2}0\/2 started, 2 creating +create ×2$/);
    assert.deepEqual(lines.slice(3), [
      '  Running now (3)',
      '    web_1  create  3.2s',
      '    web_2  create  1.2s',
      '    db_1  start  0.2s',
    ]);
  });

  test('succeeded operations advance instance states to the goal; the summary says how it ended', () => {
    const { t, tasks } = tracker({ db: 1 });
    for (const op of ['create', 'start']) {
      t.apply(event('task_started', opTask(tasks, 'db_1', op)));
      t.apply(event('task_succeeded', opTask(tasks, 'db_1', op)));
    }
    t.apply(event('workflow_succeeded'));
    const lines = renderProgress(t, view({ final: true }));
    assert.deepEqual(lines, [
      `✔ install on shop succeeded in 4.2s  ${'█'.repeat(20)} 2/2 operations`,
      `  ✔ db    ${'█'.repeat(10)}  1/1 started`,
    ]);
  });

  test('a failure puts its node first; an operation that ends after it still moves its instance on, as the executor does', () => {
    const { t, tasks } = tracker({ a: 1, b: 1, c: 1 });
    t.apply(event('task_started', opTask(tasks, 'a_1', 'create')));
    t.apply(event('task_started', opTask(tasks, 'c_1', 'create')));
    t.apply(event('task_rescheduled', opTask(tasks, 'c_1', 'create'), { level: 'warning' }));
    t.apply(event('task_started', opTask(tasks, 'c_1', 'create')));
    t.apply(event('task_failed', opTask(tasks, 'c_1', 'create'), { level: 'error' }));
    t.apply(event('task_succeeded', opTask(tasks, 'a_1', 'create')));
    t.apply(event('workflow_failed', undefined, { level: 'error' }));
    const lines = renderProgress(t, view({ final: true }));
    assert.match(lines[0]!, /^✖ install on shop failed in 4\.2s .* 1\/6 operations · 1 failed · 1 retries$/);
    assert.match(lines[1]!, /^ {2}✖ c .* 0\/1 started, 1 creating +1 failed$/);
    // a's create succeeded after the failure: it is created, but no state task runs any more.
    assert.match(lines[2]!, /^ {2}· a .* 0\/1 started, 1 created$/);
    // b's state task would have run when the execution started (it waits on nothing).
    assert.match(lines[3]!, /^ {2}· b .* 0\/1 started, 1 creating$/);
    // The stored states win at the end.
    t.syncInstances([{ id: 'a_1', node: 'a', state: 'configured' }]);
    assert.match(renderProgress(t, view({ final: true }))[2]!, /1 configured$/);
  });

  test("the time left comes from this run's pace, once it has one", () => {
    const { t, tasks } = tracker({ db: 2 });
    // Nothing done yet, or not a second gone: no guess.
    assert.equal(t.remainingMs(T0 + 60_000), undefined);
    t.apply(event('task_started', opTask(tasks, 'db_1', 'create')));
    t.apply(event('task_succeeded', opTask(tasks, 'db_1', 'create')));
    assert.equal(t.remainingMs(T0 + 500), undefined);
    assert.equal(t.remainingMs(T0 + 2000), 6000);
    assert.match(renderProgress(t, view({ now: T0 + 2000 }))[0]!, /1\/4 operations · ~6\.0s left$/);
    // A resumed run's pace counts only what it did itself.
    const resumed = new ProgressTracker(
      { workflow: 'install', deploymentId: 'shop', startedAt: T0, ignoreFailure: false },
      ['db'],
      installGraph({ db: 2 }).instances,
      tasks.map((task) =>
        task.id === opTask(tasks, 'db_1', 'create').id ? { ...task, state: 'succeeded' } : task,
      ),
    );
    assert.equal(resumed.done, 1);
    assert.equal(resumed.remainingMs(T0 + 2000), undefined);
    // Nothing in the final summary.
    assert.doesNotMatch(renderProgress(t, view({ now: T0 + 2000, final: true }))[0]!, /left/);
  });

  test('a small terminal keeps a third of its rows for log lines while running', () => {
    const nodes: Record<string, number> = {};
    for (let i = 0; i < 40; i++) nodes[`n${i}`] = 1;
    const { t } = tracker(nodes);
    // 16 rows: 5 kept for log lines, 10 for the view (the cursor's row is never drawn on).
    assert.equal(renderProgress(t, view({ rows: 16 })).length, 10);
    assert.equal(renderProgress(t, view({ rows: 16, final: true })).length, 15);
    assert.equal(renderProgress(t, view({ rows: 60 })).length, 39);
  });

  test('never taller than the terminal: active nodes first, the rest summed up in one line', () => {
    const nodes: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) nodes[`node${String(i).padStart(4, '0')}`] = 1;
    const { t, tasks } = tracker(nodes);
    t.apply(event('task_started', opTask(tasks, 'node1999_1', 'create')));
    for (const op of ['create', 'start']) {
      t.apply(event('task_started', opTask(tasks, 'node0000_1', op)));
      t.apply(event('task_succeeded', opTask(tasks, 'node0000_1', op)));
    }
    for (const rows of [30, 12, 4, 2]) {
      const lines = renderProgress(t, view({ rows }));
      assert.ok(lines.length <= rows - 1, `${lines.length} lines for ${rows} rows`);
      if (rows === 2) {
        assert.equal(lines.length, 1);
        continue;
      }
      assert.match(lines[1]!, /● node1999/);
      assert.ok(
        lines.some((l) => /… and \d+ more nodes \(of all: 1 running, 1998 waiting, 1 done\)/.test(l)),
      );
    }
    const tall = renderProgress(t, view({ rows: 30 }));
    assert.deepEqual(tall.slice(-2), ['  Running now (1)', '    node1999_1  create  3.2s']);
    // Waiting nodes before done ones.
    assert.match(tall[2]!, /· node0001/);
  });

  test('lines are cut to the terminal width, never wrapped', () => {
    const { t, tasks } = tracker({ [`a_node_with_a_very_long_name_${'x'.repeat(60)}`]: 3 });
    for (const task of tasks) if (task.kind === 'operation') t.apply(event('task_started', task));
    for (const columns of [100, 40, 12]) {
      for (const line of renderProgress(t, view({ columns }))) assert.ok(line.length <= columns - 1, line);
    }
  });

  test('colours only when asked, and NO_COLOR gives no escape codes at all', () => {
    const { t, tasks } = tracker({ db: 1 });
    t.apply(event('task_started', opTask(tasks, 'db_1', 'create')));
    assert.match(renderProgress(t, view({ color: true })).join('\n'), COLOR);
    assert.doesNotMatch(renderProgress(t, view({ color: false })).join('\n'), ANY_ESCAPE);
    assert.equal(colorEnabled({ NO_COLOR: '1' }, true), false);
    assert.equal(colorEnabled({ NO_COLOR: '1', FORCE_COLOR: '1' }, true), false);
    assert.equal(colorEnabled({ NO_COLOR: '' }, true), true);
    assert.equal(colorEnabled({ TERM: 'dumb' }, true), false);
    assert.equal(colorEnabled({ FORCE_COLOR: '1' }, false), true);
    assert.equal(colorEnabled({ FORCE_COLOR: '0' }, true), false);
    assert.equal(colorEnabled({}, false), false);
  });

  test('live on a terminal only: not with --json, in CI, through a pipe or on a dumb terminal', () => {
    assert.equal(progressMode(false, true, {}), 'live');
    assert.equal(progressMode(true, true, {}), 'json');
    assert.equal(progressMode(false, false, {}), 'plain');
    assert.equal(progressMode(false, true, { CI: 'true' }), 'plain');
    assert.equal(progressMode(false, true, { CI: 'false' }), 'live');
    assert.equal(progressMode(false, true, { TERM: 'dumb' }), 'plain');
  });

  test('log lines: local time, level when not info, where, and the message', () => {
    const { tasks } = tracker({ db: 1 });
    const at = new Date(T0);
    const hhmmss = [at.getHours(), at.getMinutes(), at.getSeconds()]
      .map((n) => String(n).padStart(2, '0'))
      .join(':');
    const warning = event(
      'log',
      opTask(tasks, 'db_1', 'create'),
      { level: 'warning', message: 'slow disk' },
      T0,
    );
    assert.equal(logLine(warning, false), `${hhmmss} WARNING [db_1 create] slow disk`);
    assert.ok(logLine(warning, true).includes('\x1b[33mWARNING'));
    assert.equal(logLine(event('log', undefined, { message: 'hello' }, T0), false), `${hhmmss} hello`);
  });

  test('the work per event is constant: 10,000 instances, 40,000 events', (t0) => {
    const nodes: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) nodes[`n${i}`] = 10;
    const { instances, tasks } = installGraph(nodes);
    const built = performance.now();
    const info = { workflow: 'install', deploymentId: 'shop', startedAt: T0, ignoreFailure: false };
    const t = new ProgressTracker(info, Object.keys(nodes), instances, tasks);
    const setup = performance.now() - built;
    const events: EventRecord[] = [];
    for (const task of tasks) {
      if (task.kind !== 'operation') continue;
      events.push(event('task_started', task), event('task_succeeded', task));
    }
    const began = performance.now();
    for (const e of events) t.apply(e);
    const applied = performance.now() - began;
    const drawn = performance.now();
    for (let i = 0; i < 10; i++) renderProgress(t, view());
    const render = (performance.now() - drawn) / 10;
    assert.equal(t.done, 20_000);
    assert.match(renderProgress(t, view())[1]!, /10\/10 started/);
    // Generous bounds for a loaded CI machine; the measured figures go to the test's diagnostics.
    assert.ok(applied < 1000, `${applied} ms for ${events.length} events`);
    assert.ok(render < 50, `${render} ms per redraw of 1,000 nodes`);
    t0.diagnostic(
      `${events.length} events in ${applied.toFixed(1)} ms, set-up ${setup.toFixed(1)} ms, one redraw ${render.toFixed(2)} ms`,
    );
  });
});

/** A terminal that records what is written, for the redraw logic. */
class FakeTerminal extends EventEmitter {
  columns = 60;
  rows = 20;
  written: string[] = [];
  write(text: string): boolean {
    this.written.push(text);
    return true;
  }
}

describe('the live view on a terminal', () => {
  test('redraws in place, prints logs above the region, follows a resize, and shows the cursor at the end', () => {
    const { t, tasks } = tracker({ db: 1, web: 1 });
    const terminal = new FakeTerminal();
    const live = new LiveView(t, terminal, false);
    try {
      assert.equal(terminal.written[0], '\x1b[?25l');
      terminal.emit('resize');
      // The first frame: no cursor movement, three lines.
      const first = terminal.written.at(-1)!;
      assert.ok(first.startsWith('\r') && !CURSOR_UP.test(first), JSON.stringify(first));
      assert.equal(first.split('\n').length - 1, 3);

      live.event(event('task_started', opTask(tasks, 'web_1', 'create')));
      live.event(event('log', opTask(tasks, 'web_1', 'create'), { message: 'pulling image\nlayer 1/3' }));
      terminal.emit('resize');
      const second = terminal.written.at(-1)!;
      // Back up over the 3 lines drawn, the log line (each of its rows cleared to the end), then
      // the new region (5 lines), cleared below.
      assert.ok(second.startsWith('\x1b[3A\r'), JSON.stringify(second));
      const rows = second.split('\n').slice(1);
      assert.ok(second.split('\n')[0]!.endsWith('[web_1 create] pulling image\x1b[K'), second);
      assert.equal(rows[0], 'layer 1/3\x1b[K');
      assert.match(rows[1]!, /1 running/);
      assert.ok(second.endsWith('\x1b[J'));

      // Narrower: lines drawn for 60 columns now wrap, so the region takes more rows than lines.
      const widths = rows.slice(1, -1).map((l) => l.replace('\x1b[K', '').length);
      terminal.columns = 20;
      terminal.emit('resize');
      const expected = widths.reduce((sum, w) => sum + Math.max(1, Math.ceil(w / 20)), 0);
      assert.ok(expected > widths.length);
      assert.ok(
        terminal.written.at(-1)!.startsWith(`\x1b[${expected}A\r`),
        JSON.stringify(terminal.written.at(-1)),
      );
      terminal.columns = 60;
    } finally {
      live.end();
    }
    assert.equal(terminal.written.at(-1), '\x1b[?25h');
    assert.match(terminal.written.at(-2)!, /✖ install on shop ended/);
    assert.equal(terminal.listenerCount('resize'), 0);
  });
});

// End to end: the real CLI.

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const FAILING = join(fixtures, 'executions', 'failing.yaml');
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function stateDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

/** The environment of a user's terminal, without what would change the mode or point at other state. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  for (const name of [
    'CI',
    'NO_COLOR',
    'FORCE_COLOR',
    'WEFT_HOME',
    'WEFT_DATABASE_URL',
    'WEFT_SECRET_KEY',
    'GATE_DIR',
  ])
    delete env[name];
  return { ...env, ...extra };
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The pseudo-terminal comes from util-linux's script(1); without it these tests are skipped. */
const NO_PTY = !existsSync('/usr/bin/script') && "util-linux's script(1) is not installed (/usr/bin/script)";

/**
 * Runs `weft ARGS` in a pseudo-terminal of 100x30; `onOutput` sees the output as it comes and
 * may type on the terminal's keyboard.
 */
function inTerminal(
  args: string[],
  env: NodeJS.ProcessEnv,
  onOutput: (output: string, type: (keys: string) => void) => void = () => {},
  size = 'cols 100 rows 30',
): Promise<{ code: number | null; output: string }> {
  const command = `stty ${size}; exec ${[process.execPath, weftBin, ...args].map(quote).join(' ')}`;
  const child = spawn('/usr/bin/script', ['-qfec', command, '/dev/null'], {
    cwd: repoRoot,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const type = (keys: string) => child.stdin.write(keys);
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    onOutput(output, type);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const timer = setTimeout(() => child.kill(), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

describe('weft install on a terminal (a pseudo-terminal)', { skip: NO_PTY }, () => {
  test('draws the live view in place: nodes, what runs now, logs above, and a clean summary at the end', async () => {
    const gate = stateDir();
    let opened = false;
    const { code, output } = await inTerminal(
      ['install', BLUEPRINT, '--state-dir', stateDir()],
      userEnv({ GATE_DIR: gate }),
      (out) => {
        // app's create waits at the gate; its log line comes with a frame that shows it running.
        if (!opened && /waiting at the gate[\s\S]*Running now/.test(out)) {
          opened = true;
          writeFileSync(join(gate, 'open'), '');
        }
      },
    );
    assert.equal(code, 0, output);
    assert.ok(opened, output);
    assert.ok(output.includes('\x1b[?25l'), 'hides the cursor');
    assert.match(output, CURSOR_UP);
    assert.match(output, COLOR);
    const text = output.replace(new RegExp(COLOR.source, 'g'), '').replaceAll('\x1b[K', '');
    assert.match(text, /\d\d:\d\d:\d\d \[app_\w+ create\] waiting at the gate\r?\n/);
    assert.match(text, /● app +█*░+ {2}0\/1 started, 1 creating +create/);
    assert.match(text, /Running now \(1\)\r?\n {4}app_\w+ {2}create {2}\d+\.\ds/);
    // The summary, drawn once at the end, then the cursor, then the outputs.
    const end = text.lastIndexOf('\x1b[?25h');
    assert.ok(end > 0, 'shows the cursor again');
    const summary = text.slice(text.lastIndexOf('\x1b[J', text.lastIndexOf('\x1b[J') - 1), end);
    assert.match(summary, /✔ install on executions succeeded in /);
    assert.match(summary, /✔ server +█{10} {2}1\/1 started/);
    assert.match(summary, /✔ app +█{10} {2}1\/1 started/);
    assert.doesNotMatch(summary, /Running now/);
    assert.match(text.slice(end), /Outputs:\r?\n {2}endpoint: "http:\/\/10\.0\.0\.5:8080"/);
  });

  test('NO_COLOR: the same view without colour codes; a failure ends with the failure report', async () => {
    const { code, output } = await inTerminal(
      ['install', FAILING, '--state-dir', stateDir()],
      userEnv({ NO_COLOR: '1' }),
    );
    assert.equal(code, 1, output);
    assert.match(output, CURSOR_UP);
    assert.doesNotMatch(output, COLOR);
    assert.match(output, /\d\d:\d\d:\d\d WARNING \[bad_\w+ create\] connecting to 10\.0\.0\.9:5432/);
    assert.match(output, /✖ install on executions failed in/);
    assert.match(output, /✖ bad .* 1 failed/);
    assert.match(output, /failed task: cloudify\.interfaces\.lifecycle\.create on bad_\w+/);
    assert.match(output, /caused by TypeError: ECONNREFUSED/);
    assert.match(output, /resume it with: weft resume /);
  });

  test('Ctrl-C twice stops it (exit 130): the notice above the view, the cursor shown again', async () => {
    let typed = 0;
    const { code, output } = await inTerminal(
      ['install', BLUEPRINT, '--state-dir', stateDir()],
      userEnv({ GATE_DIR: stateDir() }),
      (out, type) => {
        if (typed === 0 && /waiting at the gate[\s\S]*Running now/.test(out)) {
          typed = 1;
          type('\x03');
        } else if (typed === 1 && /Interrupted: no new operations start/.test(out)) {
          typed = 2;
          type('\x03');
        }
      },
    );
    assert.equal(typed, 2, output);
    assert.match(output, /continue it with: weft resume \S+ --state-dir \S+ --retry-in-flight/);
    assert.equal(code, 130, output);
    assert.ok(
      output.lastIndexOf('\x1b[?25h') > output.lastIndexOf('\x1b[?25l'),
      JSON.stringify(output.slice(-200)),
    );
  });

  test('a terminal shorter than the deployment gets at most its height, with the rest summed up', async () => {
    const dir = stateDir();
    const nodes = Array.from(
      { length: 12 },
      (_, i) =>
        `  n${i}:\n    type: cloudify.nodes.Root\n    interfaces: {cloudify.interfaces.lifecycle: {create: p.op}}\n`,
    );
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\nplugins:\n  p: {executor: central_deployment_agent, source: plugin.mjs}\nnode_templates:\n${nodes.join('')}`,
    );
    writeFileSync(join(dir, 'plugin.mjs'), 'export function op() {}\n');
    const { code, output } = await inTerminal(
      ['install', join(dir, 'blueprint.yaml'), '--state-dir', join(dir, 'state'), '--concurrency', '2'],
      userEnv({ NO_COLOR: '1' }),
      () => {},
      'cols 80 rows 8',
    );
    assert.equal(code, 0, output);
    const frames = output.split('\x1b[J').slice(0, -1);
    assert.ok(frames.length >= 1);
    for (const frame of frames) {
      const region = frame.slice(frame.search(/[✔⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] install/));
      assert.ok(region.split('\n').length - 1 <= 7, JSON.stringify(region));
    }
    assert.match(frames.at(-1)!, /✔ install on \S+ succeeded/);
    assert.match(frames.at(-1)!, /… and 7 more nodes \(of all: 12 done\)/);
  });
});

describe('weft install without a terminal', () => {
  test('through a pipe: one plain timestamped line per event, no escape codes', () => {
    const r = spawnSync(process.execPath, [weftBin, 'install', BLUEPRINT, '--state-dir', stateDir()], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: userEnv(),
    });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, ANY_ESCAPE);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], "Deployment 'executions' created (2 instances)");
    const events = lines.slice(1, lines.indexOf('Outputs:') - 1);
    // The last line before the outputs sums the run up.
    assert.match(
      lines[lines.indexOf('Outputs:') - 1]!,
      /^install succeeded: (\d+)\/\1 operations in \d+\.\ds$/,
    );
    assert.ok(events.length >= 10);
    for (const line of events) assert.match(line, PLAIN_LINE);
    assert.match(events[0]!, /Z Starting 'install' workflow execution$/);
    assert.ok(
      events.some((l) =>
        /Z \[server_\w+ create\] cloudify\.interfaces\.lifecycle\.create succeeded$/.test(l),
      ),
    );
    assert.match(events.at(-1)!, /Z 'install' workflow execution succeeded$/);
  });

  test('on a terminal with CI set: the plain lines too', { skip: NO_PTY }, async () => {
    const { code, output } = await inTerminal(
      ['install', BLUEPRINT, '--state-dir', stateDir()],
      userEnv({ CI: 'true' }),
    );
    assert.equal(code, 0, output);
    assert.doesNotMatch(output, ANY_ESCAPE);
    const lines = output.split(/\r?\n/).filter((l) => PLAIN_LINE.test(l));
    assert.ok(lines.length >= 10, output);
    assert.match(output, /Z 'install' workflow execution succeeded\r?\n/);
  });
});

test('the failure report indents a message of several lines and does not repeat causes it already holds', async () => {
  const { failureReport } = await import('../src/render.js');
  const problems = ['size: 20 is not between 1 and 10', 'name: is required'];
  const report = failureReport(
    {
      id: 'e1',
      workflow: 'install',
      status: 'failed',
      error: {
        message: `invalid properties for Disk d_1: 2 problems:\n  ${problems.join('\n  ')}`,
        task: { instance: 'd_1', operation: 'cloudify.interfaces.lifecycle.create' },
        causes: [
          ...problems.map((message) => ({ type: 'PropertyError', message })),
          { type: 'Error', message: 'other' },
        ],
      },
    } as never,
    [],
    ' --state-dir st',
  );
  assert.equal(
    report,
    [
      'Execution e1 (install) failed.',
      '  failed task: cloudify.interfaces.lifecycle.create on d_1',
      '  error: invalid properties for Disk d_1: 2 problems:',
      '      size: 20 is not between 1 and 10',
      '      name: is required',
      '  caused by Error: other',
      '  resume it with: weft resume e1 --state-dir st',
    ].join('\n'),
  );
});
