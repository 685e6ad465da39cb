/**
 * A deployment and its blueprint through the CLI: what `weft install` does with a file given for
 * a deployment that exists, directories as blueprints, the deployments list, outputs and
 * capabilities, deleting and uninstalling (with their confirmation), read-only commands that
 * leave no state behind, and how `weft exec` reads its parameters and names its workflows.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixtures, type RunResult, tempDir, weft } from './helpers.js';

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const LIMIT = { timeout: 60_000 };

const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** `weft` against a fresh state directory, with nothing in the environment pointing elsewhere. */
function fresh() {
  const stateDir = tempDir();
  // Undefined leaves the variable out of the child's environment.
  const env = {
    WEFT_HOME: undefined,
    WEFT_DATABASE_URL: undefined,
    WEFT_SECRET_KEY: undefined,
    GATE_DIR: undefined,
  };
  return {
    stateDir,
    run: (args: string[], cwd?: string) =>
      weft([...args, '--state-dir', stateDir], { env, ...(cwd ? { cwd } : {}) }),
  };
}

describe('weft exec', () => {
  test('-p values are read as YAML: quotes are YAML quotes, not part of the value', LIMIT, () => {
    const s = fresh();
    assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
    const r = s.run([
      'exec',
      'execute_operation',
      '-p',
      'operation="cloudify.interfaces.lifecycle.start"',
      '-p',
      "node_ids=['server']",
    ]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /\[server_\w+ start\] cloudify\.interfaces\.lifecycle\.start succeeded/);
  });

  test(
    'an unknown workflow, or one only Cloudify manager runs, names only the workflows that can run',
    LIMIT,
    () => {
      const s = fresh();
      assert.equal(s.run(['install', BLUEPRINT, '-d', 'web']).code, 0);
      const runnable = 'execute_operation, heal, install, reinstall, restart, scale, start, stop, uninstall';
      const unknown = s.run(['exec', 'deploy']);
      assert.equal(unknown.code, 2, show(unknown));
      assert.equal(unknown.stderr, `error: unknown workflow 'deploy'; this deployment can run ${runnable}\n`);
      for (const workflow of ['check_drift', 'pull', 'rollback']) {
        const r = s.run(['exec', workflow]);
        assert.equal(r.code, 2, show(r));
        assert.equal(
          r.stderr,
          `error: workflow '${workflow}' is declared by the blueprint's types, but Weft does not run it; this deployment can run ${runnable}\n`,
        );
      }
    },
  );
});
