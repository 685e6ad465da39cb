// Heat's own functional tests (openstack/heat, heat_integrationtests/functional), turned into
// cases of ours: each case's templates, environments and parameters as the Heat test has them,
// run through `weft` step by step (create, update, preview, delete), checking the states,
// outputs, resources and errors the Heat test asserts. The cases are in
// conformance/heat-functional.yaml, each naming the Heat test it comes from.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { Diagnostics, parseYaml } from '@weft/engine/language';
import { type Background, NO_WEFT_ENVIRONMENT, weftAsync, weftInBackground } from '@weft/testing/cli';
import { repoRoot, tempDir, weft } from './helpers.js';

interface Step {
  /**
   * create (install), update, preview (update --dry-run), delete (uninstall), validate, the stack
   * actions, cancel (`weft cancel` of the create or update run in the background), abandon
   * (`weft stack abandon`) and template-versions (`weft stack template-versions`, Heat's template
   * version list).
   */
  action:
    | 'create'
    | 'update'
    | 'preview'
    | 'delete'
    | 'validate'
    | 'suspend'
    | 'resume'
    | 'check'
    | 'cancel'
    | 'abandon'
    | 'template-versions';
  template?: string;
  environments?: string[];
  parameters?: Record<string, string | number | boolean>;
  /**
   * create, update: --rollback-on-failure (Heat's disable_rollback: false); cancel: false cancels
   * without rollback (--no-rollback, Heat's stack cancel --no-rollback).
   */
  rollback?: boolean;
  /** update: with the stack's own template (--existing, Heat's PATCH update); no template is given. */
  existing?: boolean;
  /** create: adopt the resources of this abandon data (Heat's stack adopt). */
  adopt?: string;
  /**
   * create, update: run it in another process, and go on once it prints a line matching this
   * pattern; a later cancel step cancels it, and its expectations are of that process's end. A
   * later update or delete takes over the stack from it, as Heat's do, and waits for its end.
   */
  background?: string;
  /** Files written (or rewritten) before the step, as Heat's tests pass new `files` to an update. */
  files?: Record<string, string>;
  /**
   * abandon: the abandon data written to `file` for a later adopt, whole, or made of parts of it
   * (`pick`: key to a dot-separated path in the data) and of values given (`with`), as Heat's
   * tests make adopt data from abandon data.
   */
  save?: { file: string; pick?: Record<string, string>; with?: Record<string, unknown> };
  /** Left out of a step run in the background. */
  expect?: {
    stack?: string;
    /** A pattern the stack's status reason (Heat's stack_status_reason) matches. */
    reason?: string;
    outputs?: Record<string, unknown>;
    /** Lengths of outputs (strings or lists). */
    lengths?: Record<string, number>;
    /** Node name to Heat state; `absent` for none, `present` for one in any state but deleted. */
    resources?: Record<string, string>;
    /** How many top-level resources (nodes without a dot) the stack has. */
    count?: number;
    /**
     * The stack's resources (top-level nodes) by name and their type as Heat shows it, all of them:
     * Heat's `list_resources(stack_identifier)`.
     */
    types?: Record<string, string>;
    /**
     * The resources of a nested stack (a template resource's, a group's or chain's members, nodes
     * `NAME.X`) by their name in it and their type, all of them: Heat's
     * `list_resources(nested_identifier)`; several nested stacks in a list.
     */
    nested?: Nested | Nested[];
    /** Outputs that changed, and that stayed, since the outputs were last read. */
    changed?: string[];
    same?: string[];
    /** Read the outputs and the resources' physical ids (for a later `same` and `sameIds`). */
    remember?: boolean;
    /**
     * Resources (node now: node when last read) whose physical resource id is the one read then,
     * as Heat's tests compare get_physical_resource_id of two stacks.
     */
    sameIds?: Record<string, string>;
    /** template-versions: the versions (Heat's key's part after the dot) each one listed is among. */
    versions?: string[];
    /** Groups of outputs that have the same value. */
    equal?: string[][];
    /** Outputs (strings) and a pattern each matches; `!pattern` for one it does not. */
    matches?: Record<string, string>;
    preview?: Record<string, string[]>;
    /**
     * The members of a group (nodes `group.N`) by their physical resource ids, as Heat's
     * ResourceGroupUpdatePolicyTest compares them before and after the step: how many ids stayed
     * (updated in place or untouched), are new (created or replaced), and went (deleted or replaced).
     */
    members?: { group: string; updated: number; created: number; deleted: number };
    /** Paths (dot-separated) in the abandon data, and the file whose YAML each holds, parsed. */
    abandoned?: Record<string, string>;
    /** A problem the command reports (exit 2 unless `code` says otherwise). */
    error?: string;
    code?: number;
  };
}

interface Nested {
  of: string;
  types: Record<string, string>;
}

interface Case {
  name: string;
  files: Record<string, string>;
  steps: Step[];
}

const file = join(repoRoot, 'packages', 'cli', 'test', 'conformance', 'heat-functional.yaml');
const cases = parseYaml(readFileSync(file, 'utf8'), file, new Diagnostics()) as unknown as Case[];

const ENVIRONMENT = { ...NO_WEFT_ENVIRONMENT, CI: 'true' };

function run(dir: string, args: string[], stateless = false) {
  return weft(stateless ? args : [...args, '--state-dir', join(dir, '.weft')], {
    cwd: dir,
    env: ENVIRONMENT,
    timeoutMs: 90_000,
  });
}

/** As run, without holding the event loop: a process in the background goes on printing meanwhile. */
function runBeside(dir: string, args: string[]) {
  return weftAsync([...args, '--state-dir', join(dir, '.weft')], {
    cwd: dir,
    env: ENVIRONMENT,
    timeoutMs: 90_000,
  });
}

function argsOf(step: Step): string[] {
  const args = step.template ? [step.template] : [];
  for (const env of step.environments ?? []) args.push('-e', env);
  for (const [k, v] of Object.entries(step.parameters ?? {})) args.push('-p', `${k}=${v}`);
  return args;
}

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** The physical resource ids of a group's members (nodes `group.N`, not deleted). */
function memberIds(dir: string, group: string): Set<string> {
  const listed = JSON.parse(run(dir, ['instances', '-d', 'stack', '--json']).stdout) as {
    instances: { node: string; heatState: string; runtimeProperties: { resource_id?: string } }[];
  };
  const member = new RegExp(`^${group}\\.\\d+$`);
  return new Set(
    listed.instances
      .filter((i) => member.test(i.node) && i.heatState !== 'DELETE_COMPLETE')
      .map((i) => String(i.runtimeProperties.resource_id)),
  );
}

/** The physical resource ids of the stack's resources (not deleted), by node. */
function physicalIds(dir: string): Record<string, string> {
  const listed = JSON.parse(run(dir, ['instances', '-d', 'stack', '--json']).stdout) as {
    instances: { node: string; heatState: string; runtimeProperties: { resource_id?: string } }[];
  };
  return Object.fromEntries(
    listed.instances
      .filter((i) => i.heatState !== 'DELETE_COMPLETE')
      .map((i) => [i.node, String(i.runtimeProperties.resource_id)]),
  );
}

/** What a dot-separated path leads to in a JSON value. */
function at(data: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown>)?.[key], data);
}

/** The command a cancel step cancels, the process that runs it, and how that process ended. */
async function cancelled(dir: string, where: string, step: Step, background: Background | undefined) {
  assert.ok(background, `${where}: no create or update runs in the background`);
  const cancel = run(dir, ['cancel', '-d', 'stack', ...(step.rollback === false ? ['--no-rollback'] : [])]);
  assert.equal(cancel.code, 0, `${where}: weft cancel\n${cancel.stdout}\n${cancel.stderr}`);
  const code = await background.exit;
  return { code, stdout: background.lines.join('\n'), stderr: background.stderr() };
}

async function runCase(c: Case): Promise<void> {
  const dir = tempDir('weft-heat-');
  writeFiles(dir, c.files);
  let last: Record<string, unknown> = {};
  let lastIds: Record<string, string> = {};
  let background: Background | undefined;
  for (const [index, step] of c.steps.entries()) {
    writeFiles(dir, step.files ?? {});
    const where = `${c.name}, step ${index + 1} (${step.action})`;
    const command: Record<Step['action'], string[]> = {
      create: [
        'install',
        ...argsOf(step),
        '-d',
        'stack',
        ...(step.rollback ? ['--rollback-on-failure'] : []),
        ...(step.adopt ? ['--adopt', step.adopt] : []),
      ],
      update: [
        'update',
        ...argsOf(step),
        '-d',
        'stack',
        ...(step.rollback ? ['--rollback-on-failure'] : []),
        ...(step.existing ? ['--existing'] : []),
      ],
      preview: ['update', ...argsOf(step), '-d', 'stack', '--dry-run', '--json'],
      delete: ['uninstall', '-d', 'stack', '--yes'],
      validate: ['validate', ...argsOf(step)],
      suspend: ['exec', 'suspend', '-d', 'stack'],
      resume: ['exec', 'resume', '-d', 'stack'],
      check: ['exec', 'check', '-d', 'stack'],
      cancel: [],
      abandon: ['stack', 'abandon', '-d', 'stack'],
      'template-versions': ['stack', 'template-versions', '--json'],
    };
    if (step.background !== undefined) {
      background = weftInBackground(
        [...command[step.action], '--state-dir', join(dir, '.weft')],
        ENVIRONMENT,
        {
          cwd: dir,
        },
      );
      await background.line(new RegExp(step.background));
      continue;
    }
    const expect = step.expect ?? {};
    const membersBefore = expect.members && memberIds(dir, expect.members.group);
    let result: { code: number | null; stdout: string; stderr: string };
    if (step.action === 'cancel') result = await cancelled(dir, where, step, background);
    else if (background) {
      result = await runBeside(dir, command[step.action]);
      // The create or update in the background stopped for this one.
      await background.exit;
    } else result = run(dir, command[step.action], step.action === 'template-versions');
    if (step.action === 'cancel' || background) background = undefined;
    const output = `${result.stdout}\n${result.stderr}`;
    if (expect.error !== undefined) {
      assert.equal(result.code, expect.code ?? 2, `${where}: exit code\n${output}`);
      assert.ok(output.includes(expect.error), `${where}: expected "${expect.error}" in\n${output}`);
    } else assert.equal(result.code, expect.code ?? 0, `${where}: exit code\n${output}`);
    if (expect.preview) {
      const preview = JSON.parse(result.stdout) as Record<string, string[]>;
      for (const [category, names] of Object.entries(expect.preview))
        assert.deepEqual(preview[category], names, `${where}: ${category}`);
    }
    if (expect.members && membersBefore) {
      const after = memberIds(dir, expect.members.group);
      const kept = [...after].filter((id) => membersBefore.has(id)).length;
      assert.deepEqual(
        {
          updated: kept,
          created: after.size - kept,
          deleted: membersBefore.size - kept,
        },
        { updated: expect.members.updated, created: expect.members.created, deleted: expect.members.deleted },
        `${where}: members of ${expect.members.group}`,
      );
    }
    if (step.save) {
      const data = JSON.parse(result.stdout) as unknown;
      const { file, pick, with: given } = step.save;
      const saved = pick
        ? {
            ...Object.fromEntries(Object.entries(pick).map(([key, path]) => [key, at(data, path)])),
            ...given,
          }
        : data;
      writeFileSync(join(dir, file), JSON.stringify(saved));
    }
    if (expect.versions) {
      const listed = (JSON.parse(result.stdout) as { versions: { version: string }[] }).versions;
      assert.ok(listed.length > 0, `${where}: template versions listed`);
      for (const { version } of listed)
        assert.ok(expect.versions.includes(version.split('.')[1]!), `${where}: ${version} is supported`);
    }
    if (expect.sameIds) {
      const ids = physicalIds(dir);
      for (const [now, then] of Object.entries(expect.sameIds)) {
        assert.ok(lastIds[then] !== undefined, `${where}: ${then} had a physical id`);
        assert.equal(ids[now], lastIds[then], `${where}: physical id of ${now} (${then} before)`);
      }
    }
    if (expect.remember) lastIds = physicalIds(dir);
    if (expect.abandoned) {
      const data = JSON.parse(result.stdout) as unknown;
      for (const [path, name] of Object.entries(expect.abandoned)) {
        const held = at(data, path);
        const text = readFileSync(join(dir, name), 'utf8');
        const parsed = JSON.parse(JSON.stringify(parseYaml(text, name, new Diagnostics()))) as unknown;
        assert.deepEqual(held, parsed, `${where}: abandon data's ${path} is ${name}`);
      }
    }
    if (
      expect.stack ||
      expect.reason ||
      expect.resources ||
      expect.count !== undefined ||
      expect.types ||
      expect.nested
    ) {
      const listed = JSON.parse(run(dir, ['instances', '-d', 'stack', '--json']).stdout) as {
        stackState: string;
        stackStatusReason: string;
        instances: { node: string; heatState: string; heatType: string }[];
      };
      if (expect.stack) assert.equal(listed.stackState, expect.stack, `${where}: stack state`);
      if (expect.reason)
        assert.match(listed.stackStatusReason, new RegExp(expect.reason), `${where}: stack status reason`);
      const live = listed.instances.filter((i) => i.heatState !== 'DELETE_COMPLETE');
      for (const [node, state] of Object.entries(expect.resources ?? {})) {
        const found = listed.instances.find((i) => i.node === node);
        if (state === 'absent')
          assert.ok(!found || found.heatState === 'DELETE_COMPLETE', `${where}: ${node} is absent`);
        else if (state === 'present')
          assert.ok(found && found.heatState !== 'DELETE_COMPLETE', `${where}: ${node} is there`);
        else assert.equal(found?.heatState, state, `${where}: ${node}`);
      }
      if (expect.count !== undefined)
        assert.equal(live.filter((i) => !i.node.includes('.')).length, expect.count, `${where}: resources`);
      if (expect.types)
        assert.deepEqual(
          Object.fromEntries(live.filter((i) => !i.node.includes('.')).map((i) => [i.node, i.heatType])),
          expect.types,
          `${where}: the stack's resources and their types`,
        );
      for (const nested of [expect.nested ?? []].flat()) {
        const prefix = `${nested.of}.`;
        const members = live.filter(
          (i) => i.node.startsWith(prefix) && !i.node.slice(prefix.length).includes('.'),
        );
        assert.deepEqual(
          Object.fromEntries(members.map((i) => [i.node.slice(prefix.length), i.heatType])),
          nested.types,
          `${where}: resources of ${nested.of}`,
        );
      }
    }
    if (
      expect.outputs ||
      expect.lengths ||
      expect.changed ||
      expect.same ||
      expect.remember ||
      expect.equal ||
      expect.matches
    ) {
      const outputs = JSON.parse(run(dir, ['outputs', '-d', 'stack', '--json']).stdout).outputs as Record<
        string,
        unknown
      >;
      for (const name of expect.changed ?? [])
        assert.notDeepEqual(outputs[name], last[name], `${where}: output ${name} changed`);
      for (const name of expect.same ?? [])
        assert.deepEqual(outputs[name], last[name], `${where}: output ${name} stayed`);
      last = outputs;
      for (const group of expect.equal ?? [])
        for (const name of group.slice(1))
          assert.deepEqual(outputs[name], outputs[group[0]!], `${where}: output ${name} = ${group[0]}`);
      for (const [name, pattern] of Object.entries(expect.matches ?? {})) {
        const negated = pattern.startsWith('!');
        const found = new RegExp(negated ? pattern.slice(1) : pattern).test(String(outputs[name]));
        assert.equal(found, !negated, `${where}: output ${name} (${String(outputs[name])}) ${pattern}`);
      }
      for (const [name, value] of Object.entries(expect.outputs ?? {}))
        assert.deepEqual(outputs[name], value, `${where}: output ${name}`);
      for (const [name, length] of Object.entries(expect.lengths ?? {})) {
        const value = outputs[name];
        // Python's len(): characters of a string, items of a list, keys of a map.
        const size =
          typeof value === 'string' || Array.isArray(value)
            ? value.length
            : value && typeof value === 'object'
              ? Object.keys(value).length
              : undefined;
        assert.equal(size, length, `${where}: length of ${name}`);
      }
    }
  }
}

// A case with a step in the background runs after the others, alone: @weft/testing stops every
// background weft when any test ends, which would stop it when a case beside it ends.
const alone = (c: Case) => c.steps.some((step) => step.background !== undefined);

describe(`Heat functional tests (${cases.length} cases)`, { concurrency: 2 }, () => {
  for (const c of cases.filter((c) => !alone(c))) test(c.name, { timeout: 300_000 }, () => runCase(c));
});

describe('Heat functional tests with a step in the background', () => {
  for (const c of cases.filter(alone)) test(c.name, { timeout: 300_000 }, () => runCase(c));
});
