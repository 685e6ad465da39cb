/**
 * What a hostile user or a careless environment must not get from Weft through the CLI: a
 * readable state database, files outside the blueprint directory, secrets in plain text,
 * polluted objects shared between operations.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openStore } from '@weft/engine';
import { fixtures, type RunResult, tempDir, weft, weftBin } from './helpers.js';

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const LIMIT = { timeout: 60_000 };

const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** `weft ARGS` run by a shell with umask 000, as a careless environment would start it. */
function weftWithUmask000(args: string[]): RunResult {
  const started = performance.now();
  const quoted = [process.execPath, weftBin, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  const child = spawnSync('/bin/sh', ['-c', `umask 000 && exec ${quoted.join(' ')}`], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1', WEFT_HOME: undefined, WEFT_DATABASE_URL: undefined },
  });
  return { code: child.status, stdout: child.stdout, stderr: child.stderr, ms: performance.now() - started };
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe('the state directory', () => {
  test('is created 0700 and its database files 0600, whatever the umask', LIMIT, () => {
    const state = join(tempDir(), 'state');
    const r = weftWithUmask000(['install', BLUEPRINT, '-d', 'web', '--state-dir', state]);
    assert.equal(r.code, 0, show(r));
    assert.equal(mode(state), '700');
    assert.equal(mode(join(state, 'weft.db')), '600');
  });

  test('the -wal and -shm files are 0600 too, whatever the umask', LIMIT, async () => {
    const path = join(tempDir(), 'weft.db');
    const before = process.umask(0);
    try {
      // They exist while a connection is open.
      const store = await openStore(path);
      await store.migrate();
      for (const file of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(file), '600', file);
      await store.close();
    } finally {
      process.umask(before);
    }
  });

  test('an existing directory keeps its mode; the database files Weft creates in it are 0600', LIMIT, () => {
    const state = join(tempDir(), 'shared');
    mkdirSync(state);
    chmodSync(state, 0o755);
    const r = weftWithUmask000(['install', BLUEPRINT, '-d', 'web', '--state-dir', state]);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stderr, '');
    assert.equal(mode(state), '755');
    assert.equal(mode(join(state, 'weft.db')), '600');
  });
});

describe('imports', () => {
  test(
    'a symbolic link out of the blueprint directory is refused at the import, showing nothing of its target',
    LIMIT,
    () => {
      const root = tempDir();
      const outside = join(root, 'outside');
      mkdirSync(outside);
      // Not YAML: a parser error would quote it.
      writeFileSync(join(outside, 'private.txt'), 'private: [key: "TOP-SECRET-LINE\n');
      const dir = join(root, 'bp');
      mkdirSync(dir);
      symlinkSync(join(outside, 'private.txt'), join(dir, 'common.yaml'));
      symlinkSync(outside, join(dir, 'lib'));
      const blueprint = join(dir, 'blueprint.yaml');
      writeFileSync(
        blueprint,
        'tosca_definitions_version: cloudify_dsl_1_4\nimports:\n  - common.yaml\n  - lib/private.txt\nnode_templates: {}\n',
      );
      for (const command of ['validate', 'install']) {
        const r = weft([command, blueprint, '--state-dir', join(root, 'state')]);
        assert.equal(r.code, 2, show(r));
        assert.doesNotMatch(r.stdout + r.stderr, /TOP-SECRET|private:/);
        assert.match(
          r.stderr,
          /blueprint\.yaml:3:5 imports\[0\]: import 'common\.yaml' leads outside the blueprint's directory \(a symbolic link\)\n/,
        );
        assert.match(
          r.stderr,
          /blueprint\.yaml:4:5 imports\[1\]: import 'lib\/private\.txt' leads outside the blueprint's directory \(a symbolic link\)\n/,
        );
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      }
    },
  );
});

describe('prototype keys', () => {
  test('a script cannot reach the prototype objects share through ctx paths', LIMIT, () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'pollute.sh'),
      [
        '#!/bin/sh',
        'for path in __proto__.polluted constructor.prototype.polluted; do',
        '  ctx instance runtime-properties "$path" yes || echo "refused $path"',
        'done',
        `ctx instance runtime-properties update @'{"__proto__": {"polluted": "yes"}}' || echo 'refused update'`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'read.sh'),
      '#!/bin/sh\nctx instance runtime-properties seen "$(ctx instance runtime-properties get polluted none)"\n',
    );
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  first:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: pollute.sh}
  second:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: read.sh}
    relationships: [{type: cloudify.relationships.depends_on, target: first}]
`,
    );
    const state = join(dir, 'state');
    const r = weft(['install', join(dir, 'blueprint.yaml'), '--state-dir', state]);
    assert.equal(r.code, 0, show(r));
    const reason = 'cannot be a key: it would reach the prototype every object shares';
    assert.match(r.stdout + r.stderr, new RegExp(`ctx: '__proto__\\.polluted': '__proto__' ${reason}`));
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`ctx: 'constructor\\.prototype\\.polluted': 'constructor' ${reason}`),
    );
    assert.match(r.stdout + r.stderr, new RegExp(`ctx: runtime properties: '__proto__' ${reason}`));
    for (const refused of ['__proto__.polluted', 'constructor.prototype.polluted', 'update'])
      assert.match(r.stdout, new RegExp(`refused ${refused.replaceAll('.', '\\.')}`));
    const instances = weft(['instances', '--json', '--state-dir', state]);
    assert.equal(instances.code, 0, show(instances));
    const second = (
      JSON.parse(instances.stdout).instances as { node: string; runtimeProperties: object }[]
    ).find((i) => i.node === 'second');
    assert.deepEqual(second?.runtimeProperties, { seen: 'none' });
  });

  test('-i and -p refuse them as names, exit 2', LIMIT, () => {
    const state = tempDir();
    const bad = weft(['install', BLUEPRINT, '-d', 'web', '-i', '__proto__=1', '--state-dir', state]);
    assert.equal(bad.code, 2, show(bad));
    assert.match(bad.stderr, /-i __proto__=1: '__proto__' cannot be a key/);
    assert.equal(weft(['install', BLUEPRINT, '-d', 'web', '--state-dir', state]).code, 0);
    const param = weft(['exec', 'install', '-p', 'constructor=1', '--state-dir', state]);
    assert.equal(param.code, 2, show(param));
    assert.equal(
      param.stderr,
      "error: -p constructor=1: 'constructor' cannot be a key: it would reach the prototype every object shares\n",
    );
  });
});
