/**
 * What a hostile user or a careless environment must not get from Weft through the CLI: a
 * readable state database, files outside the blueprint directory, secrets in plain text,
 * polluted objects shared between operations.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openStore } from '@weft/engine';
import { describeRun as show } from '@weft/testing/cli';
import { fixtures, type RunResult, tempDir, weft, weftBin } from './helpers.js';

const BLUEPRINT = join(fixtures, 'executions', 'blueprint.yaml');
const LIMIT = { timeout: 60_000 };

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

  test(
    'a __proto__ key in a blueprint, its inputs files and runtime properties stays data through merges',
    LIMIT,
    () => {
      const dir = tempDir();
      // JSON text, as a document written by hand or by another tool would have it.
      const hostile = '{"__proto__": {"polluted": "yes"}}';
      writeFileSync(
        join(dir, 'write.sh'),
        `#!/bin/sh\nctx instance runtime-properties result @'{"nested": ${hostile}}'\n`,
      );
      writeFileSync(
        join(dir, 'read.sh'),
        '#!/bin/sh\nctx instance runtime-properties seen "$(ctx instance runtime-properties get polluted none)"\n',
      );
      writeFileSync(
        join(dir, 'blueprint.yaml'),
        `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
data_types:
  settings:
    properties:
      options: {}
inputs:
  first: {default: {}}
  second: {default: {}}
node_types:
  app:
    derived_from: cloudify.nodes.Root
    properties:
      settings: {type: settings, default: {options: {color: blue}}}
node_templates:
  app:
    type: app
    properties:
      settings: {options: ${hostile}}
    interfaces:
      cloudify.interfaces.lifecycle: {create: write.sh}
  reader:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: read.sh}
    relationships: [{type: cloudify.relationships.depends_on, target: app}]
outputs:
  settings: {value: {get_property: [app, settings]}}
  merged: {value: {merge: [{color: blue}, ${hostile}]}}
  second: {value: {get_input: second}}
  result: {value: {get_attribute: [app, result]}}
`,
      );
      writeFileSync(join(dir, 'first.json'), '{"first": {"a": 1}}');
      writeFileSync(join(dir, 'second.json'), `{"second": ${hostile}}`);
      const state = join(dir, 'state');
      const install = weft([
        'install',
        join(dir, 'blueprint.yaml'),
        '-i',
        join(dir, 'first.json'),
        '-i',
        join(dir, 'second.json'),
        '--state-dir',
        state,
      ]);
      assert.equal(install.code, 0, show(install));
      const outputs = weft(['outputs', '--json', '--state-dir', state]);
      assert.equal(outputs.code, 0, show(outputs));
      // What the document said, key for key: the data-typed property laid over its default, the
      // merge function, the second inputs file laid over the first, what the script saved.
      const polluter = JSON.parse(hostile);
      assert.deepEqual(JSON.parse(outputs.stdout).outputs, {
        settings: { options: { color: 'blue', ...polluter } },
        merged: { color: 'blue', ...polluter },
        second: polluter,
        result: { nested: polluter },
      });
      const instances = weft(['instances', '--json', '--state-dir', state]);
      assert.equal(instances.code, 0, show(instances));
      const reader = (
        JSON.parse(instances.stdout).instances as { node: string; runtimeProperties: object }[]
      ).find((i) => i.node === 'reader');
      assert.deepEqual(
        reader?.runtimeProperties,
        { seen: 'none' },
        "the worker's objects have no polluted key",
      );
    },
  );
  test(
    'nodes named __proto__ and constructor run like any other; names of Object members are unknown names',
    LIMIT,
    () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'mark.sh'), '#!/bin/sh\nctx instance runtime-properties ran yes\n');
      writeFileSync(
        join(dir, 'blueprint.yaml'),
        `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  __proto__:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: mark.sh}
  constructor:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle: {create: mark.sh}
    relationships: [{type: cloudify.relationships.depends_on, target: __proto__}]
outputs:
  proto: {value: {get_attribute: [__proto__, ran]}}
`,
      );
      const state = join(dir, 'state');
      const install = weft(['install', join(dir, 'blueprint.yaml'), '-d', 'd', '--state-dir', state]);
      assert.equal(install.code, 0, show(install));
      const instances = weft(['instances', '--json', '-d', 'd', '--state-dir', state]);
      assert.equal(instances.code, 0, show(instances));
      const listed = JSON.parse(instances.stdout).instances as {
        node: string;
        state: string;
        runtimeProperties: object;
      }[];
      assert.deepEqual(
        listed.map((i) => [i.node, i.state, i.runtimeProperties]).sort(),
        [
          ['__proto__', 'started', { ran: 'yes' }],
          ['constructor', 'started', { ran: 'yes' }],
        ],
        `${show(install)}\n${show(instances)}`,
      );
      const outputs = weft(['outputs', 'proto', '--raw', '-d', 'd', '--state-dir', state]);
      assert.equal(outputs.stdout.trim(), 'yes', show(outputs));
      for (const [args, message] of [
        [['-p', 'operation=x', '-p', 'node_ids=[toString]'], /node_ids names unknown node 'toString'/],
        [['-p', 'scalable_entity_name=valueOf'], /'valueOf' is neither a node nor a scaling group/],
      ] as const) {
        const workflow = args[1] === 'operation=x' ? 'execute_operation' : 'scale';
        const r = weft(['exec', workflow, '-d', 'd', ...args, '--state-dir', state]);
        assert.equal(r.code, 2, show(r));
        assert.match(r.stderr, message);
      }
    },
  );

  test(
    'a second inputs file cannot give an input named __proto__: it is reported as unknown, exit 2',
    LIMIT,
    () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'first.json'), '{}');
      writeFileSync(join(dir, 'second.json'), '{"__proto__": {"polluted": "yes"}}');
      const r = weft([
        'install',
        BLUEPRINT,
        '-d',
        'web',
        '-i',
        join(dir, 'first.json'),
        '-i',
        join(dir, 'second.json'),
        '--state-dir',
        join(dir, 'state'),
      ]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /the blueprint declares no input '__proto__'/);
    },
  );

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

describe('a multi-line secret', () => {
  const KEY = [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
    'QyNTUxOQAAACBqjB5Yq0x8m3QhLr2mV7d1xFJp0a6e4QJq8l0o5yq1bwAAAJgVw2TcFcNk',
    '',
    '3AAAAAtzc2gtZWQyNTUxOQAAACBqjB5Yq0x8m3QhLr2mV7d1xFJp0a6e4QJq8l0o5yq1bw',
    '-----END OPENSSH PRIVATE KEY-----',
  ].join('\n');
  const bodyLines = KEY.split('\n').filter((line) => line.length > 0);
  /** The lines of the key as they could appear anywhere: as they are, and base64 encoded. */
  const leaks = (text: string) => {
    const found = bodyLines.filter((line) => text.includes(line));
    const encoded = Buffer.from(`${KEY}\n`).toString('base64');
    for (let at = 0; at + 76 <= encoded.length; at += 76)
      if (text.includes(encoded.slice(at, at + 76))) found.push(`base64 ${encoded.slice(at, at + 76)}`);
    return found;
  };

  function deployment() {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'use-key.sh'),
      [
        '#!/bin/sh',
        'echo "the key is:"',
        'echo "$key"',
        'echo "$key" | base64',
        'ctx instance runtime-properties private_key "$key"',
        'ctx instance runtime-properties user admin',
        'if [ "$fail" = true ]; then echo "$key" >&2; exit 1; fi',
        'echo "done with the key"',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'check-key.sh'),
      '#!/bin/sh\n[ "$(ctx instance runtime-properties private_key)" = "$key" ] && ctx instance runtime-properties same_key yes\n',
    );
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  fail: {default: false}
node_types:
  keyed:
    derived_from: cloudify.nodes.Root
    interfaces:
      checks: {verify: {implementation: check-key.sh, inputs: {key: {default: {get_secret: ssh_key}}}}}
node_templates:
  server:
    type: keyed
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: use-key.sh
          inputs: {key: {get_secret: ssh_key}, fail: {get_input: fail}}
outputs:
  key: {value: {get_attribute: [server, private_key]}}
`,
    );
    const state = join(dir, 'state');
    const run = (args: string[], input?: string) => {
      const started = performance.now();
      const child = spawnSync(process.execPath, [weftBin, ...args, '--state-dir', state], {
        encoding: 'utf8',
        input,
        timeout: 60_000,
        env: {
          ...process.env,
          NO_COLOR: '1',
          WEFT_HOME: undefined,
          WEFT_DATABASE_URL: undefined,
          WEFT_SECRET_KEY: undefined,
        },
      });
      return {
        code: child.status,
        stdout: child.stdout,
        stderr: child.stderr,
        ms: performance.now() - started,
      };
    };
    assert.equal(run(['secrets', 'set', 'ssh_key', '-'], `${KEY}\n`).code, 0);
    return { dir, state, run, blueprint: join(dir, 'blueprint.yaml') };
  }

  test('is masked line by line, and base64 encoded, in the output, events and the database', LIMIT, () => {
    const d = deployment();
    const install = d.run(['install', d.blueprint, '-d', 'keys']);
    assert.equal(install.code, 0, show(install));
    assert.deepEqual(leaks(install.stdout + install.stderr), [], show(install));
    // A blank line of the key does not mask everything.
    assert.match(install.stdout, /the key is:/);
    assert.match(install.stdout, /done with the key/);
    assert.match(install.stdout, /\*{6}/);
    const events = d.run(['events', '--json', '-d', 'keys']);
    assert.equal(events.code, 0, show(events));
    assert.deepEqual(leaks(events.stdout), []);
    const stored = ['weft.db', 'weft.db-wal']
      .map((f) => join(d.state, f))
      .filter((f) => existsSync(f))
      .map((f) => readFileSync(f).toString('latin1'))
      .join('');
    assert.deepEqual(leaks(stored), [], 'the database holds none of the key');
  });

  test(
    'in a runtime property is stored sealed, shown masked, and given back to operations as written',
    LIMIT,
    () => {
      const d = deployment();
      assert.equal(d.run(['install', d.blueprint, '-d', 'keys']).code, 0);
      for (const args of [['instances'], ['instances', '--json'], ['outputs'], ['outputs', '--json']]) {
        const r = d.run([...args, '-d', 'keys']);
        assert.equal(r.code, 0, show(r));
        assert.deepEqual(leaks(r.stdout), [], args.join(' '));
        assert.doesNotMatch(r.stdout, /weft:sealed/, args.join(' '));
        assert.match(r.stdout, /\*{6}/, args.join(' '));
        if (args[0] === 'instances') assert.match(r.stdout, /admin/, 'what holds no secret shows');
      }
      const verify = d.run(['exec', 'execute_operation', '-d', 'keys', '-p', 'operation=checks.verify']);
      assert.equal(verify.code, 0, show(verify));
      const instances = JSON.parse(d.run(['instances', '--json', '-d', 'keys']).stdout).instances as {
        runtimeProperties: Record<string, unknown>;
      }[];
      assert.deepEqual(instances[0]?.runtimeProperties, {
        private_key: '******',
        user: 'admin',
        same_key: 'yes',
      });
    },
  );

  test('written to stderr by a failing script is masked in the failure report', LIMIT, () => {
    const d = deployment();
    const install = d.run(['install', d.blueprint, '-d', 'keys', '-i', 'fail=true', '--task-retries', '0']);
    assert.equal(install.code, 1, show(install));
    assert.deepEqual(leaks(install.stdout + install.stderr), [], show(install));
    assert.match(install.stderr, /\*{6}/);
  });
});
