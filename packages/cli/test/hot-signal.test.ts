// HOT wait conditions and software deployments through the CLI: a WaitCondition signalled by
// `weft signal` from the test and by a SoftwareDeployment's script (through the handle's
// curl_cli), a FAILURE signal, a timeout, count > 1; a SoftwareDeployment's inputs, outputs,
// status code and actions. Real scripts and processes on a real SQLite state directory.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { NO_WEFT_ENVIRONMENT, ok, weftAsync } from '@weft/testing/cli';
import { tempDir, weftBin, weftInBackground } from './helpers.js';

const LIMIT = { timeout: 120_000 };

/** A directory with a `weft` command, for scripts that run a handle's curl_cli. */
function weftOnPath(): string {
  const dir = tempDir('weft-bin-');
  const file = join(dir, 'weft');
  writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" "${weftBin}" "$@"\n`);
  chmodSync(file, 0o755);
  return dir;
}

function project() {
  const dir = tempDir('weft-hot-signal-');
  const state = join(dir, '.weft');
  const env = { ...NO_WEFT_ENVIRONMENT, CI: 'true', PATH: `${weftOnPath()}:${process.env.PATH}` };
  const file = (name: string, text: string) => writeFileSync(join(dir, name), text);
  // Never a blocking run: the tests run at once, and one's background install must keep going.
  const run = (args: string[]) => weftAsync([...args, '--state-dir', state], { cwd: dir, env });
  // In the test's own directory: a file it names is given with its full path.
  const background = (args: string[]) => weftInBackground([...args, '--state-dir', state], env);
  const outputs = async () =>
    JSON.parse(ok(await run(['outputs', '-d', 'stack', '--json'])).stdout).outputs as Record<string, unknown>;
  return { dir, state, file, run, background, outputs };
}

const WAIT = (count: number, timeout = 60) => `heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      timeout: ${timeout}
      count: ${count}
  after:
    type: OS::Heat::Value
    depends_on: wait
    properties: {value: done}
outputs:
  data: {value: {get_attr: [wait, data]}}
  after: {value: {get_attr: [after, value]}}
`;

/** The number of the last poll the wait condition announced, in the install's output so far. */
function lastRetry(lines: string[]): number {
  let last = 0;
  for (const line of lines) {
    const found = /\[wait_\w+ create\].*asked to be retried.*\[retry (\d+) in/.exec(line);
    if (found) last = Number(found[1]);
  }
  return last;
}

// One at a time: after each test, @weft/testing stops every background weft of the file.
describe('HOT wait conditions signalled with weft signal while an install waits', () => {
  test('weft signal from outside: count 2 waits for both, data by id, Heat default ids', LIMIT, async () => {
    const p = project();
    p.file('template.yaml', WAIT(2));
    const install = p.background(['install', join(p.dir, 'template.yaml'), '-d', 'stack']);
    await install.line(/waits up to 60 s for 2 signals/);
    ok(await p.run(['signal', '-d', 'stack', 'handle', '--data', '{"data": "first"}']));
    // A poll that began after the signal saw one success of two: the install goes on waiting.
    const seen = lastRetry(install.lines);
    await install.line(new RegExp(`\\[retry ${seen + 2} in`));
    assert.equal(install.child.exitCode, null, install.lines.join('\n'));
    ok(
      await p.run([
        'signal',
        '-d',
        'stack',
        'handle',
        '--data-binary',
        '{"status": "SUCCESS", "id": "web", "reason": "up", "data": {"ip": "10.0.0.5"}}',
      ]),
    );
    assert.equal(await install.exit, 0, install.stderr());
    const outputs = await p.outputs();
    assert.equal(outputs.data, '{"1": "first", "web": {"ip": "10.0.0.5"}}');
    assert.equal(outputs.after, 'done');
  });

  test(
    "signals after the wait condition completed update its data for later readers, as Heat's get_attr reads the handle afresh",
    LIMIT,
    async () => {
      const p = project();
      p.file('template.yaml', WAIT(1));
      const install = p.background(['install', join(p.dir, 'template.yaml'), '-d', 'stack']);
      await install.line(/waits up to 60 s for 1 signal\b/);
      ok(await p.run(['signal', '-d', 'stack', 'handle', '--data', '{"data": "first"}']));
      assert.equal(await install.exit, 0, install.stderr());
      assert.equal((await p.outputs()).data, '{"1": "first"}');
      // Signalled again by node: a new id adds its data, a known id replaces its entry.
      ok(await p.run(['signal', '-d', 'stack', 'handle', '--data', '{"id": "web", "data": "10.0.0.5"}']));
      ok(await p.run(['signal', '-d', 'stack', 'handle', '--data', '{"id": "1", "data": "again"}']));
      assert.equal((await p.outputs()).data, '{"1": "again", "web": "10.0.0.5"}');
      // And by its endpoint, as a script given curl_cli does.
      const listed = JSON.parse(ok(await p.run(['instances', '-d', 'stack', '--json'])).stdout) as {
        instances: { node: string; runtimeProperties: Record<string, string> }[];
      };
      const handle = listed.instances.find((i) => i.node === 'handle')!.runtimeProperties;
      ok(
        await p.run([
          'signal',
          '--endpoint',
          handle.endpoint!,
          '--token',
          handle.token!,
          '--data-binary',
          '{"data": "third"}',
        ]),
      );
      assert.equal((await p.outputs()).data, '{"1": "again", "3": "third", "web": "10.0.0.5"}');
    },
  );

  test(
    'a FAILURE signal fails the wait condition with its reason; nothing after it runs',
    LIMIT,
    async () => {
      const p = project();
      p.file('template.yaml', WAIT(1));
      const install = p.background(['install', join(p.dir, 'template.yaml'), '-d', 'stack']);
      await install.line(/waits up to 60 s for 1 signal\b/);
      ok(
        await p.run([
          'signal',
          '-d',
          'stack',
          'handle',
          '--data',
          '{"status": "FAILURE", "reason": "disk full"}',
        ]),
      );
      assert.equal(await install.exit, 1);
      const all = `${install.lines.join('\n')}\n${install.stderr()}`;
      assert.match(all, /WaitConditionFailure: resources\.wait: disk full/);
      const listed = JSON.parse(ok(await p.run(['instances', '-d', 'stack', '--json'])).stdout) as {
        instances: { node: string; heatState: string }[];
      };
      const states = Object.fromEntries(listed.instances.map((i) => [i.node, i.heatState]));
      assert.equal(states.wait, 'CREATE_FAILED');
      assert.notEqual(states.after, 'CREATE_COMPLETE');
    },
  );
});

describe('HOT wait conditions and software deployments through the CLI', { concurrency: true }, () => {
  test("a timeout fails it with Heat's message, counting the successes received", LIMIT, async () => {
    const p = project();
    // The wait condition starts once the deployment's script has signalled once: 1 of 2.
    p.file(
      'template.yaml',
      `heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      inputs: [{name: notify}]
      config: |
        #!/bin/sh
        $notify --data-binary '{"reason": "one is up"}'
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      input_values: {notify: {get_attr: [handle, curl_cli]}}
  wait:
    type: OS::Heat::WaitCondition
    depends_on: deployment
    properties: {handle: {get_resource: handle}, timeout: 1, count: 2}
`,
    );
    const install = await p.run(['install', 'template.yaml', '-d', 'stack']);
    assert.equal(install.code, 1, install.stdout + install.stderr);
    assert.match(
      install.stdout + install.stderr,
      /WaitConditionTimeout: resources\.wait: 1 of 2 received - one is up/,
    );
  });

  test('a SoftwareDeployment script signals through curl_cli, three at once (count 3)', LIMIT, async () => {
    const p = project();
    p.file(
      'template.yaml',
      `heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config:
        str_replace:
          template: |
            #!/bin/sh
            for name in a b c; do
              wc_notify --data-binary "{\\"status\\": \\"SUCCESS\\", \\"data\\": \\"$name\\"}" &
            done
            wait
          params:
            wc_notify: {get_attr: [handle, curl_cli]}
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
  wait:
    type: OS::Heat::WaitCondition
    properties:
      handle: {get_resource: handle}
      timeout: 60
      count: 3
outputs:
  data: {value: {get_attr: [wait, data]}}
`,
    );
    ok(await p.run(['install', 'template.yaml', '-d', 'stack']));
    const data = JSON.parse(String((await p.outputs()).data)) as Record<string, string>;
    assert.deepEqual(Object.keys(data).sort(), ['1', '2', '3']);
    assert.deepEqual(Object.values(data).sort(), ['a', 'b', 'c']);
  });

  test(
    'a SoftwareDeployment: inputs as variables, outputs as attributes, actions run in turn',
    LIMIT,
    async () => {
      const p = project();
      const log = join(p.dir, 'actions.log');
      p.file(
        'template.yaml',
        `heat_template_version: 2018-08-31
parameters:
  who: {type: string, default: world}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      inputs:
      - name: who
      - name: settings
        type: Json
      - name: unset
        default: fallback
      outputs:
      - name: greeting
      - name: missing
      config: |
        #!/bin/sh
        echo "$deploy_action $deploy_resource_name $unset $extra" >> "${log}"
        echo "to stdout"
        echo "to stderr" >&2
        printf 'hello %s %s' "$who" "$settings" > "$heat_outputs_path.greeting"
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      actions: [CREATE, DELETE]
      input_values:
        who: {get_param: who}
        settings: {a: [1, 2]}
        extra: 3
outputs:
  greeting: {value: {get_attr: [deployment, greeting]}}
  missing: {value: {get_attr: [deployment, missing]}}
  stdout: {value: {get_attr: [deployment, deploy_stdout]}}
  stderr: {value: {get_attr: [deployment, deploy_stderr]}}
  code: {value: {get_attr: [deployment, deploy_status_code]}}
`,
      );
      ok(await p.run(['install', 'template.yaml', '-d', 'stack']));
      assert.deepEqual(await p.outputs(), {
        greeting: 'hello world {"a": [1, 2]}',
        missing: null,
        stdout: 'to stdout\n',
        stderr: 'to stderr\n',
        code: 0,
      });
      assert.equal(readFileSync(log, 'utf8'), 'CREATE deployment fallback 3\n');
      ok(await p.run(['uninstall', '-d', 'stack']));
      assert.equal(readFileSync(log, 'utf8'), 'CREATE deployment fallback 3\nDELETE deployment fallback 3\n');
      // Its working files are gone with it.
      assert.deepEqual(readdirSync(join(p.state, 'work', 'stack', 'script', 'heat-config')), []);
    },
  );

  test(
    'a deployment runs for each of its actions; a new config updates it, a replace_on_change input replaces it',
    LIMIT,
    async () => {
      const p = project();
      const log = join(p.dir, 'actions.log');
      p.file(
        'template.yaml',
        `heat_template_version: 2018-08-31
parameters:
  version: {type: string, default: '1'}
  note: {type: string, default: a}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      inputs: [{name: version, replace_on_change: true}, {name: note}]
      outputs: [{name: seen}]
      config:
        str_replace:
          template: |
            #!/bin/sh
            echo "$deploy_action $version $note" >> "${log}"
            printf 'NOTE' > "$heat_outputs_path.seen"
          params: {NOTE: {get_param: note}}
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      actions: [CREATE, UPDATE, DELETE, SUSPEND, RESUME]
      input_values: {version: {get_param: version}, note: {get_param: note}}
outputs:
  seen: {value: {get_attr: [deployment, seen]}}
`,
      );
      ok(await p.run(['install', 'template.yaml', '-d', 'stack']));
      // A new note is a new config (replaced) and a new input: the deployment is updated in place.
      const preview = ok(
        await p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'note=b', '--dry-run']),
      ).stdout;
      assert.match(preview, /updated: +deployment/);
      assert.match(preview, /replaced: +config/);
      ok(await p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'note=b']));
      assert.equal((await p.outputs()).seen, 'b');
      // A new version is replace_on_change: a new deployment first, then the old one's DELETE.
      ok(await p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'note=b', '-p', 'version=2']));
      ok(await p.run(['exec', 'suspend', '-d', 'stack']));
      ok(await p.run(['exec', 'resume', '-d', 'stack']));
      ok(await p.run(['uninstall', '-d', 'stack']));
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
        'CREATE 1 a',
        'UPDATE 1 b',
        'CREATE 2 b',
        'DELETE 1 b',
        'SUSPEND 2 b',
        'RESUME 2 b',
        'DELETE 2 b',
      ]);
    },
  );

  test(
    'a non-zero status code or a written error_output fails the deployment, as Heat says',
    LIMIT,
    async () => {
      const p = project();
      const template = (script: string) => `heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      outputs: [{name: problem, error_output: true}]
      config: |
        #!/bin/sh
        ${script}
  deployment:
    type: OS::Heat::SoftwareDeployment
    properties: {config: {get_resource: config}}
`;
      p.file('exits.yaml', template('echo broken >&2; exit 3'));
      const exits = await p.run(['install', 'exits.yaml', '-d', 'exits']);
      assert.equal(exits.code, 1);
      assert.match(
        exits.stdout + exits.stderr,
        /Deployment to server failed: deploy_status_code : Deployment exited with non-zero status code: 3/,
      );
      p.file('errors.yaml', template('printf "no quota" > "$heat_outputs_path.problem"'));
      const errors = await p.run(['install', 'errors.yaml', '-d', 'errors']);
      assert.equal(errors.code, 1);
      assert.match(errors.stdout + errors.stderr, /Deployment to server failed: problem : no quota/);
    },
  );

  test(
    'a replaced handle has a new id and directory; the old one goes, signals reach the new one',
    LIMIT,
    async () => {
      const p = project();
      p.file(
        'template.yaml',
        `heat_template_version: 2018-08-31
parameters:
  salt: {type: string, default: one}
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
    properties: {signal_transport: {if: [{equals: [{get_param: salt}, one]}, TOKEN_SIGNAL, NO_SIGNAL]}}
  reader:
    type: OS::Heat::Value
    properties: {value: {get_resource: handle}}
outputs:
  id: {value: {get_attr: [reader, value]}}
`,
      );
      const handleOf = async () =>
        JSON.parse(ok(await p.run(['instances', '-d', 'stack', '--json'])).stdout).instances.find(
          (i: { node: string }) => i.node === 'handle',
        ).runtimeProperties as { signal_dir: string; resource_id: string };
      ok(await p.run(['install', 'template.yaml', '-d', 'stack']));
      const before = await handleOf();
      assert.equal((await p.outputs()).id, before.resource_id);
      ok(await p.run(['update', 'template.yaml', '-d', 'stack', '-p', 'salt=two']));
      const after = await handleOf();
      assert.notEqual(after.resource_id, before.resource_id);
      assert.equal((await p.outputs()).id, after.resource_id);
      assert.equal(existsSync(before.signal_dir), false);
      ok(await p.run(['signal', '-d', 'stack', 'handle']));
      assert.ok(existsSync(join(after.signal_dir, '0.json')));
    },
  );

  test('weft signal refuses what is not a signal or not a handle, exit 2', LIMIT, async () => {
    const p = project();
    p.file('template.yaml', WAIT(1, 1));
    // The wait times out: the handle stays, signals can still be sent to it.
    assert.equal((await p.run(['install', 'template.yaml', '-d', 'stack'])).code, 1);
    const refused = async (args: string[], message: RegExp) => {
      const result = await p.run(['signal', '-d', 'stack', ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}\n${result.stdout}${result.stderr}`);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    };
    await refused(
      ['nothing'],
      /deployment 'stack' has no node 'nothing' \(its wait condition handles: handle\)/,
    );
    await refused(['wait'], /'wait' is a OS::Heat::WaitCondition, not a wait condition handle/);
    await refused(['handle', '--data', '{"status": "DONE"}'], /status is SUCCESS or FAILURE, not "DONE"/);
    await refused(
      ['handle', '--data', '{"state": "SUCCESS"}'],
      /only the keys data, reason, status, id \(not state\)/,
    );
    await refused(['handle', '--data', 'SUCCESS'], /the signal is not JSON/);
    const endpoint = JSON.parse(
      ok(await p.run(['instances', '-d', 'stack', '--json'])).stdout,
    ).instances.find((i: { node: string }) => i.node === 'handle').runtimeProperties.endpoint as string;
    assert.ok(existsSync(endpoint));
    const wrong = await p.run(['signal', '--endpoint', endpoint, '--token', 'guess']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--token is not the token of the handle at/);
    const gone = join(p.dir, 'nowhere');
    mkdirSync(gone);
    const none = await p.run(['signal', '--endpoint', gone, '--token', 'guess']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no wait condition handle at .*nowhere/);
    // Signals are files on this machine: with a server in use, the command says so, not acts here.
    const remote = await weftAsync(['signal', '-d', 'stack', 'handle'], {
      cwd: p.dir,
      env: { ...NO_WEFT_ENVIRONMENT, WEFT_SERVER: 'http://127.0.0.1:9', WEFT_TOKEN: 'weft_token' },
    });
    assert.equal(remote.code, 2, remote.stderr);
    assert.match(remote.stderr, /weft signal does not act on a server \(WEFT_SERVER is set\)/);
  });

  test(
    'cloud-only signal transports and config groups are validation errors at their place',
    LIMIT,
    async () => {
      const p = project();
      p.file(
        'template.yaml',
        `heat_template_version: 2018-08-31
resources:
  handle:
    type: OS::Heat::WaitConditionHandle
    properties: {signal_transport: ZAQAR_SIGNAL}
  config:
    type: OS::Heat::SoftwareConfig
    properties: {group: ansible, config: 'x', inputs: [{name: 'a=b'}]}
`,
      );
      const result = await p.run(['validate', 'template.yaml']);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      const text = result.stdout + result.stderr;
      assert.match(text, /template\.yaml:\d+:\d+ .*ZAQAR_SIGNAL needs OpenStack/);
      assert.match(text, /template\.yaml:\d+:\d+ .*no hook for group 'ansible'/);
      assert.match(text, /template\.yaml:\d+:\d+ .*inputs\[0\]\.name: an input is an environment variable/);
    },
  );
});
