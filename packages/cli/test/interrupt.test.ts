/**
 * Ctrl-C during `weft install`, with real SIGINTs to a real weft process (synchronised on its
 * output, and on a gate file the test plugin waits for): the first lets the running operation
 * finish and marks the execution interrupted, the second stops it at once; both print the command
 * that continues, and that command finishes the install.
 */
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, describeRun as show } from '@weft/testing/cli';
import { fixtures, type RunResult, tempDir, weft, weftInBackground } from './helpers.js';

const LIMIT = { timeout: 60_000 };

interface ExecutionJson {
  id: string;
  workflow: string;
  status: string;
  error: { message: string; byUser?: boolean } | null;
}

/** A state directory, a gate directory, and the fixture blueprint (app's create waits at the gate). */
function setup(create = 'ex.gated') {
  const dir = tempDir();
  cpSync(join(fixtures, 'executions'), join(dir, 'bp'), { recursive: true });
  const blueprint = join(dir, 'bp', 'blueprint.yaml');
  writeFileSync(blueprint, readFileSync(blueprint, 'utf8').replace('create: ex.gated', `create: ${create}`));
  const stateDir = join(dir, 'state');
  const gate = tempDir();
  // No state, database or key from the environment running the tests.
  const env = { ...NO_WEFT_ENVIRONMENT, GATE_DIR: gate };
  return {
    blueprint,
    stateDir,
    openGate: () => writeFileSync(join(gate, 'open'), ''),
    start: (args: string[]) => weftInBackground([...args, '--state-dir', stateDir], env),
    run: (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
      weft([...args, '--state-dir', stateDir], { env: { ...env, ...extraEnv } }),
    executions: (r: RunResult = weft(['executions', '--json', '--state-dir', stateDir], { env })) =>
      (JSON.parse(r.stdout) as { executions: ExecutionJson[] }).executions,
  };
}

/** Starts the install and presses Ctrl-C `times` times once app's create waits at the gate. */
async function interruptedInstall(s: ReturnType<typeof setup>, times: 1 | 2) {
  const install = s.start(['install', s.blueprint, '-d', 'shop']);
  await install.line(/\[app_\w+ create\] waiting at the gate$/);
  install.child.kill('SIGINT');
  await install.errorLine(/^Interrupted: no new operations start; waiting for the running ones to finish/);
  if (times === 2) install.child.kill('SIGINT');
  return install;
}

describe('Ctrl-C during an execution', () => {
  test(
    'the first lets the running operation finish, marks it interrupted and prints how to continue',
    LIMIT,
    async () => {
      const s = setup();
      const install = await interruptedInstall(s, 1);
      s.openGate();
      assert.equal(await install.exit, 130, install.stderr());
      assert.ok(
        install.lines.some((l) =>
          /\[app_\w+ create\] cloudify\.interfaces\.lifecycle\.create succeeded$/.test(l),
        ),
      );
      assert.ok(!install.lines.some((l) => /\[app_\w+ configure\]/.test(l)), 'nothing new started');
      const [execution] = s.executions();
      assert.equal(execution!.status, 'interrupted');
      assert.equal(execution!.error!.message, 'interrupted by the user');
      assert.equal(
        install.stderr().split('\n').slice(-4).join('\n'),
        `Execution ${execution!.id} (install) interrupted: 3 of 5 operations had finished.\n  interrupted by the user\n  continue it with: weft resume ${execution!.id} --state-dir ${s.stateDir}\n`,
      );
      const resume = s.run(['resume', execution!.id]);
      assert.equal(resume.code, 0, show(resume));
      assert.ok(!/\[app_\w+ create\]/.test(resume.stdout), 'what finished does not run again');
      assert.match(resume.stdout, /\[app_\w+ start\] cloudify\.interfaces\.lifecycle\.start succeeded/);
      assert.equal(s.executions()[0]!.status, 'terminated');
    },
  );

  test(
    'the second stops at once; an operation that is not resumable runs again only with --retry-in-flight',
    LIMIT,
    async () => {
      const s = setup();
      const install = await interruptedInstall(s, 2);
      // The gate stays shut: it ends without the operation.
      assert.equal(await install.exit, 130, install.stderr());
      const [execution] = s.executions();
      assert.equal(execution!.status, 'interrupted');
      const lines = install.stderr().trim().split('\n');
      assert.match(
        lines.at(-2)!,
        /^ {2}interrupted by the user; stopped while running, not resumable: app_\w+ create \(they may have done part of their work: resume with --retry-in-flight to run them again\)$/,
      );
      assert.equal(
        lines.at(-1),
        `  continue it with: weft resume ${execution!.id} --state-dir ${s.stateDir} --retry-in-flight`,
      );

      const refused = s.run(['resume', execution!.id]);
      assert.equal(refused.code, 1, show(refused));
      assert.match(
        refused.stderr,
        /not resumable: app_\w+ cloudify\.interfaces\.lifecycle\.create\. Resume with --retry-in-flight/,
      );
      // install continues the interrupted install, and takes --retry-in-flight too.
      s.openGate();
      const again = s.run(['install', s.blueprint, '-d', 'shop', '--retry-in-flight']);
      assert.equal(again.code, 0, show(again));
      assert.match(again.stdout, new RegExp(`Continuing install execution ${execution!.id}`));
      assert.match(again.stdout, /\[app_\w+ create\] cloudify\.interfaces\.lifecycle\.create succeeded/);
      assert.deepEqual(
        s.executions().map((e) => [e.workflow, e.status]),
        [['install', 'terminated']],
      );
    },
  );

  test(
    'an operation the user stopped that is resumable runs again on resume without --retry-in-flight',
    LIMIT,
    async () => {
      const s = setup('ex.gatedResumable');
      const install = await interruptedInstall(s, 2);
      assert.equal(await install.exit, 130, install.stderr());
      const [execution] = s.executions();
      assert.match(
        execution!.error!.message,
        /stopped while running, resumable \(runs again on resume\): app_\w+ create$/,
      );
      assert.match(
        install.stderr(),
        new RegExp(`continue it with: weft resume ${execution!.id} --state-dir \\S+\\n$`),
      );
      s.openGate();
      const resume = s.run(['resume']);
      assert.equal(resume.code, 0, show(resume));
      assert.match(resume.stdout, /\[app_\w+ create\] cloudify\.interfaces\.lifecycle\.create succeeded/);
    },
  );

  test('while it runs, the deployment is listed as running', LIMIT, async () => {
    const s = setup();
    const install = s.start(['install', s.blueprint, '-d', 'shop']);
    await install.line(/waiting at the gate$/);
    const list = s.run(['deployments']);
    assert.match(list.stdout, /^shop +running +\S+ +install started /m, show(list));
    s.openGate();
    assert.equal(await install.exit, 0);
  });
});
