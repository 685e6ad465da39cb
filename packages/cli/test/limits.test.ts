/**
 * Size limits on what an operation hands back, through the real `weft`: a TypeScript plugin
 * returning more than 16 MiB, a plugin and a script writing more than 16 MiB of runtime
 * properties. Each fails the operation at once with a message naming the limit and the variable
 * that raises it; the instance keeps what it had; raised, the same install goes through.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, describeRun as show } from '@weft/testing/cli';
import { type RunResult, tempDir, weft as weftRaw } from './helpers.js';

const LIMIT = { timeout: 120_000 };
const MIB = 1024 * 1024;

const PLUGIN = `import { NonRecoverableError, type OperationContext, operation } from '@weft/sdk';

const big = () => 'a'.repeat(17 * 1024 * 1024);

export const create = operation((ctx: OperationContext) => {
  ctx.instance.runtimeProperties.created = 'yes';
});

export const returnBig = operation(() => big());

export const writeBig = operation((ctx: OperationContext) => {
  ctx.instance.runtimeProperties.created = 'changed';
  ctx.instance.runtimeProperties.big = big();
});

/** Saves at once; refused, it says how it was told, and goes on without the value. */
export const updateBig = operation(async (ctx: OperationContext) => {
  try {
    await ctx.instance.update({ big: big() });
  } catch (error) {
    delete ctx.instance.runtimeProperties.big;
    ctx.instance.runtimeProperties.refused = \`\${(error as Error).name} \${error instanceof NonRecoverableError}\`;
  }
});
`;

/** Two writes of 9 MB (one ctx request carries at most 16 MiB): the second takes them over the limit. */
const SCRIPT = `set -e
half=$(head -c 9000000 /dev/zero | tr '\\0' a)
ctx instance runtime-properties one "$half"
ctx instance runtime-properties two "$half" || { echo "ctx exited $?"; exit 1; }
`;

/** Catches the refusal and ends well: the operation fails all the same. */
const PYTHON = `from cloudify import ctx
try:
    ctx.instance.runtime_properties['big'] = 'a' * 200000
except Exception as error:
    ctx.logger.info('refused: %s' % error)
ctx.logger.info('keys: %s' % sorted(ctx.instance.runtime_properties.keys()))
`;

/** A deployment of one instance: `create` then `configure` as given. */
function project(configure: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'plugin.ts'), PLUGIN);
  writeFileSync(join(dir, 'big.sh'), SCRIPT);
  writeFileSync(join(dir, 'big.py'), PYTHON);
  writeFileSync(
    join(dir, 'blueprint.yaml'),
    `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  big: {executor: central_deployment_agent, source: plugin.ts}
node_templates:
  app:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: big.create
        configure: {implementation: ${configure}, max_retries: 2, retry_interval: 0}
`,
  );
  return dir;
}

function weft(args: string[], dir: string, env: NodeJS.ProcessEnv = {}): RunResult {
  return weftRaw(args, { cwd: dir, env: { ...NO_WEFT_ENVIRONMENT, ...env }, timeoutMs: 100_000 });
}

function runtimeProperties(dir: string): Record<string, unknown> {
  const r = weft(['instances', '--json'], dir);
  assert.equal(r.code, 0, show(r));
  const [instance] = (JSON.parse(r.stdout) as { instances: { runtimeProperties: Record<string, unknown> }[] })
    .instances;
  return instance!.runtimeProperties;
}

/** Which keys there are, and how long each value is (some are 17 MiB). */
const shape = (props: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(props).map(([k, v]) => [k, String(v).length]));

/** The install fails at configure, at its first attempt, with `message` in the failure report. */
function failsWith(r: RunResult, message: RegExp): string {
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, /failed task: cloudify\.interfaces\.lifecycle\.configure on app_\w+\n/);
  const line = /^ {2}error: (.*)$/m.exec(r.stderr)?.[1];
  assert.ok(line, show(r));
  assert.match(line, message);
  assert.doesNotMatch(r.stdout, /configure failed: .* \[retry/, 'not retried');
  return /weft resume (\S+)/.exec(r.stderr)![1]!;
}

const overRuntimeProperties = (bytes: string) =>
  new RegExp(
    `^the runtime properties of app_\\w+ would be ${bytes} bytes of JSON: over the 16,777,216-byte limit for one instance's runtime properties; WEFT_MAX_RUNTIME_PROPERTIES_BYTES raises it$`,
  );

describe('size limits on what operations hand back', () => {
  test('a plugin returning more than 16 MiB fails; WEFT_MAX_RESULT_BYTES raises the limit', LIMIT, () => {
    const dir = project('big.returnBig');
    const id = failsWith(
      weft(['install', 'blueprint.yaml'], dir),
      /^the value it returned is 17,825,794 bytes of JSON: over the 16,777,216-byte limit for an operation's result; WEFT_MAX_RESULT_BYTES raises it$/,
    );
    assert.deepEqual(runtimeProperties(dir), { created: 'yes' });
    const resumed = weft(['resume', id], dir, { WEFT_MAX_RESULT_BYTES: String(32 * MIB) });
    assert.equal(resumed.code, 0, show(resumed));
  });

  test(
    'a plugin writing more than 16 MiB of runtime properties fails; the instance keeps what it had',
    LIMIT,
    () => {
      const dir = project('big.writeBig');
      const id = failsWith(weft(['install', 'blueprint.yaml'], dir), overRuntimeProperties('17,825,822'));
      assert.deepEqual(runtimeProperties(dir), { created: 'yes' });
      const resumed = weft(['resume', id], dir, { WEFT_MAX_RUNTIME_PROPERTIES_BYTES: String(32 * MIB) });
      assert.equal(resumed.code, 0, show(resumed));
      assert.deepEqual(shape(runtimeProperties(dir)), { created: 7, big: 17 * MIB });
    },
  );

  test(
    'ctx.instance.update() over the limit is refused with a NonRecoverableError the plugin can handle',
    LIMIT,
    () => {
      const dir = project('big.updateBig');
      const r = weft(['install', 'blueprint.yaml'], dir);
      assert.equal(r.code, 0, show(r));
      assert.deepEqual(runtimeProperties(dir), { created: 'yes', refused: 'LimitError true' });
    },
  );

  test(
    'a script writing past the limit: its ctx command fails with one line, the operation fails; the variable raises it',
    LIMIT,
    () => {
      const dir = project('big.sh');
      const r = weft(['install', 'blueprint.yaml'], dir);
      const id = failsWith(r, overRuntimeProperties('18,000,035'));
      const said = r.stdout.split('\n').filter((line) => /<err> ctx: |ctx exited/.test(line));
      assert.equal(said.length, 2, show(r));
      assert.match(
        said[0]!,
        / <err> ctx: the runtime properties of app_\w+ would be 18,000,035 bytes of JSON: over /,
      );
      assert.match(said[1]!, /ctx exited 1$/);
      // The first write of the operation stands, as any write of a failed script does; the refused one does not.
      assert.deepEqual(shape(runtimeProperties(dir)), { created: 3, one: 9_000_000 });
      const resumed = weft(['resume', id], dir, { WEFT_MAX_RUNTIME_PROPERTIES_BYTES: String(32 * MIB) });
      assert.equal(resumed.code, 0, show(resumed));
      assert.deepEqual(shape(runtimeProperties(dir)), { created: 3, one: 9_000_000, two: 9_000_000 });
    },
  );

  test(
    "a Python script's write past the limit raises there, is not kept, and fails the operation",
    LIMIT,
    () => {
      const dir = project('big.py');
      const r = weft(['install', 'blueprint.yaml'], dir, { WEFT_MAX_RUNTIME_PROPERTIES_BYTES: '100000' });
      const message =
        /^the runtime properties of app_\w+ would be 200,026 bytes of JSON: over the 100,000-byte limit for one instance's runtime properties; WEFT_MAX_RUNTIME_PROPERTIES_BYTES raises it$/;
      failsWith(r, message);
      assert.match(
        r.stdout,
        /\] refused: the runtime properties of app_\w+ would be 200,026 bytes of JSON: over /,
      );
      assert.match(r.stdout, /\] keys: \['created'\]\n/);
      assert.doesNotMatch(r.stdout, /Traceback/);
      assert.deepEqual(runtimeProperties(dir), { created: 'yes' });
    },
  );

  test('a limit that is not a whole number of bytes is refused, exit 2', LIMIT, () => {
    const dir = project('big.create');
    for (const name of ['WEFT_MAX_RESULT_BYTES', 'WEFT_MAX_RUNTIME_PROPERTIES_BYTES']) {
      const r = weft(['install', 'blueprint.yaml'], dir, { [name]: '16MB' });
      assert.equal(r.code, 2, show(r));
      assert.equal(r.stderr, `error: ${name} must be a whole number of bytes, 1 or more, not '16MB'\n`);
    }
  });
});
