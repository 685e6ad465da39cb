import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const weftBin = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'packages',
  'cli',
  'bin',
  'weft.js',
);

/** A bash script making three ctx calls, as Cloudify scripts do: a read, a log line, a write. */
const SCRIPT = `#!/usr/bin/env bash
id=$(ctx instance id)
ctx logger info "configuring $id"
ctx instance runtime-properties configured "$id"
`;

/** A no-op JavaScript plugin (a `source:` module) whose function every lifecycle operation runs. */
const NOOP_PLUGIN = 'export function op() {}\n';

/**
 * `weft install` of `instances` instances whose five install operations (precreate, create,
 * configure, start, poststart) are the no-op plugin's, as a user runs it: the whole process,
 * start-up and the store included. Returns the command's time (ms).
 */
export function pluginInstall(instances: number): { commandMs: number; operations: number } {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-plugin-'));
  try {
    writeFileSync(join(dir, 'plugin.mjs'), NOOP_PLUGIN);
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  noop: {executor: central_deployment_agent, install: false, source: plugin.mjs}
node_types:
  bench.Node:
    derived_from: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        {precreate: noop.op, create: noop.op, configure: noop.op, start: noop.op, poststart: noop.op}
node_templates:
  node:
    type: bench.Node
    capabilities: {scalable: {properties: {default_instances: ${instances}}}}
`,
    );
    const started = performance.now();
    const install = spawnSync(
      process.execPath,
      [weftBin, 'install', join(dir, 'blueprint.yaml'), '--state-dir', join(dir, 'state')],
      { encoding: 'utf8', env: { ...process.env, CI: 'true' }, maxBuffer: 64 * 1024 * 1024 },
    );
    const commandMs = performance.now() - started;
    if (install.status !== 0) throw new Error(install.stderr || install.stdout);
    return { commandMs, operations: instances * 5 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface ScriptRun {
  nodes: number;
  concurrency: number;
  /** The whole `weft install` command, process start to exit. */
  commandMs: number;
  /** From the first operation's start to the last one's end (the workflow's own time). */
  operationsMs: number;
  /** Median time of one operation, from its start event to its end event. */
  medianOperationMs: number;
}

/** `weft install` of a blueprint of `nodes` script nodes, through the CLI as a user runs it. */
export function scriptInstall(nodes: number, concurrency: number): ScriptRun {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-scripts-'));
  try {
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts', 'configure.sh'), SCRIPT);
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - cloudify/types/types.yaml
node_templates:
  app:
    type: cloudify.nodes.Root
    capabilities: {scalable: {properties: {default_instances: ${nodes}}}}
    interfaces:
      cloudify.interfaces.lifecycle:
        configure: scripts/configure.sh
`,
    );
    const state = join(dir, 'state');
    const started = performance.now();
    const install = spawnSync(
      process.execPath,
      [
        weftBin,
        'install',
        join(dir, 'blueprint.yaml'),
        '--state-dir',
        state,
        '--concurrency',
        String(concurrency),
      ],
      { encoding: 'utf8', env: { ...process.env, CI: 'true' } },
    );
    const commandMs = performance.now() - started;
    if (install.status !== 0) throw new Error(install.stderr || install.stdout);
    const events = spawnSync(process.execPath, [weftBin, 'events', '--json', '--state-dir', state], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; taskId: number | null; timestamp: string });
    const starts = new Map<number, number>();
    const durations: number[] = [];
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const event of events) {
      const at = Date.parse(event.timestamp);
      if (event.type === 'task_started' && event.taskId !== null) {
        starts.set(event.taskId, at);
        first = Math.min(first, at);
      } else if (event.type === 'task_succeeded' && event.taskId !== null) {
        durations.push(at - starts.get(event.taskId)!);
        last = Math.max(last, at);
      }
    }
    durations.sort((a, b) => a - b);
    return {
      nodes,
      concurrency,
      commandMs,
      operationsMs: last - first,
      medianOperationMs: durations[durations.length >> 1]!,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
