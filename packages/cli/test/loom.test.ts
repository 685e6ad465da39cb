// Loom plugins as Loom users write them, through the weft command: what the manifest requires is
// required of the blueprint.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { describeRun as show } from '@weft/testing/cli';
import Database from 'better-sqlite3';
import { repoRoot, tempDir, weft } from './helpers.js';

const MANIFEST = {
  name: 'shelly',
  automatortypes: ['shelly'],
  shelly: {
    name: 'shelly',
    classname: 'ShellyAutomator',
    resourceTypes: { scripts: { format: 'file', permissions: '0755' } },
    parameters: {
      admin: {
        fields: {
          script: { label: 'Script', type: 'text', override: false },
          args: { label: 'Arguments', type: 'text', override: false },
          // Overridable and sensitive, as Coopr's provider `url` in its tests: a user may give it.
          token: { label: 'Token', type: 'text', sensitive: true, default: '', override: true },
        },
        required: [['script']],
      },
    },
  },
};

const AUTOMATOR = `import { Automator } from '@weft/sdk';
export class ShellyAutomator extends Automator {
  install(_config, task) {
    if (task.properties.token) this.output('logging in with ' + task.properties.token);
    return { status: 0, stdout: 'ran ' + task.properties.script };
  }
}
`;

/** What puts a service on the machine every project has (a Loom service runs on a host). */
const ON_MACHINE = '    relationships: [{ type: cloudify.relationships.contained_in, target: machine }]\n';

/**
 * A project directory with the plugin under plugins/ and the blueprint's node templates, after a
 * `machine` (a Compute at 127.0.0.1) for them to be on.
 */
function project(nodeTemplates: string, env: NodeJS.ProcessEnv = {}) {
  const dir = tempDir('weft-loom-cli-');
  const plugin = join(dir, 'plugins', 'shelly');
  mkdirSync(plugin, { recursive: true });
  writeFileSync(join(plugin, 'shelly.json'), JSON.stringify(MANIFEST, null, 2));
  writeFileSync(join(plugin, 'index.js'), AUTOMATOR);
  writeFileSync(
    join(plugin, 'package.json'),
    JSON.stringify({ name: 'shelly', version: '1.0.0', type: 'module', main: 'index.js' }),
  );
  writeFileSync(
    join(dir, 'blueprint.yaml'),
    `tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
  - plugin:shelly
node_templates:
  machine: { type: cloudify.nodes.Compute, properties: { ip: 127.0.0.1, agent_config: { install_method: none } } }
${nodeTemplates}`,
  );
  const state = (...args: string[]) => weft([...args, '--state-dir', join(dir, '.weft')], { cwd: dir, env });
  const run = (...args: string[]) => state(...args, '--plugin-dir', join(dir, 'plugins'));
  return { dir, run, state };
}

describe('Loom manifests through the weft command', () => {
  test("a field the manifest's required names is a required property: missing, it is a problem at the node, exit 2", () => {
    const { run, state } = project(`  site:
    type: loom.automator.shelly
    properties:
      args: -v
${ON_MACHINE}`);
    for (const command of ['validate', 'install']) {
      const r = run(command, 'blueprint.yaml');
      assert.equal(r.code, 2, show(r));
      assert.equal(
        r.stderr,
        "blueprint.yaml:10:7 node_templates.site.properties.script: required property 'script' of type 'loom.automator.shelly' is not set\n1 problem found\n",
      );
      assert.equal(r.stdout, '');
    }
    const deployments = state('deployments', 'list', '--json');
    assert.equal(deployments.code, 0, show(deployments));
    assert.doesNotMatch(deployments.stdout, /blueprint/, 'nothing stored');

    const given = project(`  site:
    type: loom.automator.shelly
    properties:
      script: ./setup.sh
${ON_MACHINE}`);
    const install = given.run('install', 'blueprint.yaml', '-d', 'site');
    assert.equal(install.code, 0, show(install));
    const events = given.state('events', '--json', '-d', 'site');
    assert.match(events.stdout, /ran \.\/setup\.sh/);
  });

  test('a Loom service on no machine is refused at its place, exit 2: Coopr runs every service on a cluster node', () => {
    const { run, state } = project(`  site:
    type: loom.automator.shelly
    properties:
      script: ./setup.sh
  module:
    type: loom.automator.shelly
    properties:
      script: ./module.sh
    relationships: [{ type: cloudify.relationships.contained_in, target: holder }]
  holder:
    type: cloudify.nodes.Root
  inner:
    type: loom.automator.shelly
    properties:
      script: ./inner.sh
    relationships: [{ type: cloudify.relationships.contained_in, target: app }]
  app:
    type: cloudify.nodes.SoftwareComponent
${ON_MACHINE}`);
    const hint = (name: string) =>
      `'${name}' is a Loom service (loom.automator.shelly) on no machine: Coopr runs every service on a cluster node, whose BOOTSTRAP and provider results its tasks get; contain it in a host (a loom.provider node, or any cloudify.nodes.Compute) with cloudify.relationships.contained_in`;
    for (const args of [['validate'], ['install', '-d', 'site']]) {
      const r = run(args[0]!, 'blueprint.yaml', ...args.slice(1));
      assert.equal(r.code, 2, show(r));
      assert.equal(
        r.stderr,
        `blueprint.yaml:7:3 node_templates.site: ${hint('site')}\nblueprint.yaml:11:3 node_templates.module: ${hint('module')}\n2 problems found\n`,
        'inner is on the machine through app',
      );
    }
    assert.doesNotMatch(state('deployments', 'list', '--json').stdout, /site/, 'nothing stored');
  });

  test('the node types generated from a manifest are written nowhere: a problem in them names them beside the manifest', () => {
    const tmp = tempDir('weft-loom-tmpdir-');
    const { dir, run } = project(
      `  site:
    type: loom.automator.shelly
    properties:
      script: ./setup.sh
${ON_MACHINE}`,
      { TMPDIR: tmp },
    );
    const validate = run('validate', 'blueprint.yaml');
    assert.equal(validate.code, 0, show(validate));
    const install = run('install', 'blueprint.yaml', '-d', 'site');
    assert.equal(install.code, 0, show(install));
    const written = (at: string): string[] =>
      readdirSync(at, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? written(join(at, entry.name)) : [readFileSync(join(at, entry.name), 'latin1')],
      );
    assert.deepEqual(
      [...written(tmp), ...written(join(dir, 'plugins'))].filter((text) =>
        text.includes('loom.automator.shelly'),
      ),
      [],
      'no generated types file under TMPDIR or in the plugin',
    );
    // A password field defaults to a secret not set yet: the warning is at the generated types.
    const fields = {
      ...MANIFEST.shelly.parameters.admin.fields,
      token: { label: 'Token', type: 'password' },
    };
    const withToken = {
      ...MANIFEST.shelly,
      parameters: { admin: { ...MANIFEST.shelly.parameters.admin, fields } },
    };
    writeFileSync(
      join(dir, 'plugins', 'shelly', 'shelly.json'),
      JSON.stringify({ ...MANIFEST, shelly: withToken }),
    );
    const warned = run('validate', 'blueprint.yaml');
    assert.equal(warned.code, 0, show(warned));
    assert.match(
      warned.stderr,
      /^warning: plugins\/shelly\/\(node types generated from shelly\.json\)\.yaml:\d+:\d+ node_types\.loom\.automator\.shelly\.properties\.token\.default: get_secret: no secret 'shelly_token'/m,
    );
  });

  test('a sensitive field given from an input is sealed in the SQLite file, masked in every output, and reaches the automator in clear', () => {
    const token = `tok-${Date.now().toString(36)}-value`;
    const { run, state, dir } = project(`  site:
    type: loom.automator.shelly
    properties:
      script: ./setup.sh
      token: { get_input: token }
${ON_MACHINE}inputs:
  token:
    type: string
outputs:
  token:
    value: { get_property: [site, token] }
`);
    writeFileSync(join(dir, 'secret.yaml'), `token: ${token}\n`);
    const validate = run('validate', 'blueprint.yaml');
    assert.equal(validate.code, 0, show(validate));
    assert.equal(validate.stderr, '', 'nothing to warn of: the value is not stored in clear');
    const plan = run('plan', 'blueprint.yaml', '-i', 'secret.yaml', '--json');
    assert.equal(plan.code, 0, show(plan));
    assert.ok(!plan.stdout.includes(token), plan.stdout);
    assert.match(plan.stdout, /\*{6}/);
    const install = run('install', 'blueprint.yaml', '-d', 'site', '-i', 'secret.yaml');
    assert.equal(install.code, 0, show(install));
    assert.ok(!(install.stdout + install.stderr).includes(token), show(install));
    const events = state('events', '--json', '-d', 'site');
    assert.ok(!events.stdout.includes(token), events.stdout);
    assert.match(events.stdout, /logging in with \*{6}/, 'the automator got it');
    const outputs = state('outputs', '--json', '-d', 'site');
    assert.deepEqual(JSON.parse(outputs.stdout).outputs, { token: '******' });
    for (const command of [
      ['outputs', '-d', 'site'],
      ['instances', '-d', 'site', '--json'],
      ['events', '-d', 'site'],
      ['deployments', 'list', '--json'],
    ]) {
      const r = state(...command);
      assert.equal(r.code, 0, show(r));
      assert.ok(!(r.stdout + r.stderr).includes(token), `${command.join(' ')}: ${r.stdout}`);
    }

    // The file itself: the deployment's inputs and model hold it sealed, nowhere in clear.
    const db = new Database(join(dir, '.weft', 'weft.db'), { readonly: true });
    const row = db.prepare('SELECT inputs, model FROM deployments WHERE id = ?').get('site') as {
      inputs: string;
      model: string;
    };
    db.close();
    assert.match(JSON.parse(row.inputs).token, /^weft:sealed:1:/);
    assert.match(JSON.parse(row.model).nodes.site.properties.token, /^weft:sealed:1:/);
    const stored = readdirSync(join(dir, '.weft'))
      .filter((f) => f.startsWith('weft.db'))
      .map((f) => readFileSync(join(dir, '.weft', f), 'latin1'));
    assert.ok(stored.length > 0);
    for (const bytes of stored) assert.ok(!bytes.includes(token), 'not in clear in the database files');

    // Given again, the same value is the same deployment: install goes on, an update changes nothing.
    const again = run('install', 'blueprint.yaml', '-d', 'site', '-i', 'secret.yaml');
    assert.equal(again.code, 0, show(again));
    const same = run('plan', 'blueprint.yaml', '-d', 'site', '-i', 'secret.yaml', '--json');
    assert.equal(same.code, 0, show(same));
    assert.ok(!same.stdout.includes(token), same.stdout);
    assert.doesNotMatch(same.stdout, /"token"/, `no change of token: ${same.stdout}`);
    const changed = run('plan', 'blueprint.yaml', '-d', 'site', '-i', 'token=another-token-value', '--json');
    assert.equal(changed.code, 0, show(changed));
    assert.deepEqual(
      JSON.parse(changed.stdout).inputs,
      [{ name: 'token', change: 'modified', before: '******', after: '******' }],
      'the new value is masked too',
    );
    // An update to another value: stored sealed too, in the deployment and its versions.
    const second = `second-${token}`;
    const update = run('update', 'blueprint.yaml', '-d', 'site', '-i', `token=${second}`);
    assert.equal(update.code, 0, show(update));
    assert.ok(!(update.stdout + update.stderr).includes(second), show(update));
    const history = state('deployments', 'history', '-d', 'site', '--json');
    assert.ok(!history.stdout.includes(token) && !history.stdout.includes(second), history.stdout);
    for (const f of readdirSync(join(dir, '.weft')).filter((f) => f.startsWith('weft.db'))) {
      const bytes = readFileSync(join(dir, '.weft', f), 'latin1');
      assert.ok(!bytes.includes(token) && !bytes.includes(second), `${f}: not in clear after the update`);
    }
    const uninstall = run('uninstall', '-d', 'site', '--yes');
    assert.equal(uninstall.code, 0, show(uninstall));
  });

  test('sensitive numbers and booleans are sealed in the SQLite file too, and reach the automator, re-runs and update plans as they were', () => {
    const pin = 73915 + (Date.now() % 1000) * 100_000;
    const { run, state, dir } = project(`  site:
    type: loom.automator.shelly
    properties:
      script: ./setup.sh
      pin: { get_input: pin }
      secure: { get_input: secure }
${ON_MACHINE}inputs:
  pin:
    type: integer
  secure:
    type: boolean
`);
    const plugin = join(dir, 'plugins', 'shelly');
    const fields = {
      ...MANIFEST.shelly.parameters.admin.fields,
      pin: { label: 'PIN', type: 'number', sensitive: true, default: 0, override: true },
      secure: { label: 'Secure', type: 'checkbox', sensitive: true, default: false, override: true },
    };
    writeFileSync(
      join(plugin, 'shelly.json'),
      JSON.stringify({
        ...MANIFEST,
        shelly: {
          ...MANIFEST.shelly,
          parameters: { admin: { ...MANIFEST.shelly.parameters.admin, fields } },
        },
      }),
    );
    writeFileSync(
      join(plugin, 'index.js'),
      `import { Automator } from '@weft/sdk';
export class ShellyAutomator extends Automator {
  install(_config, task) {
    const { pin, secure } = task.properties;
    return { status: 0, stdout: 'got a ' + typeof pin + ' one less than ' + (pin + 1) + ' and a ' + typeof secure + ' not ' + !secure };
  }
}
`,
    );
    const inputs = ['-i', `pin=${pin}`, '-i', 'secure=true'];
    const plan = run('plan', 'blueprint.yaml', ...inputs, '--json');
    assert.equal(plan.code, 0, show(plan));
    assert.ok(!plan.stdout.includes(String(pin)), plan.stdout);
    assert.deepEqual(JSON.parse(plan.stdout).inputs, { pin: '******', secure: '******' });
    const install = run('install', 'blueprint.yaml', '-d', 'site', ...inputs);
    assert.equal(install.code, 0, show(install));
    const events = state('events', '-d', 'site');
    assert.match(events.stdout, new RegExp(`got a number one less than ${pin + 1} and a boolean not false`));
    const files = () =>
      readdirSync(join(dir, '.weft'))
        .filter((f) => f.startsWith('weft.db'))
        .map((f) => readFileSync(join(dir, '.weft', f), 'latin1'));
    const db = new Database(join(dir, '.weft', 'weft.db'), { readonly: true });
    const row = db.prepare('SELECT inputs, model FROM deployments WHERE id = ?').get('site') as {
      inputs: string;
      model: string;
    };
    db.close();
    const { properties } = JSON.parse(row.model).nodes.site;
    for (const value of [
      JSON.parse(row.inputs).pin,
      JSON.parse(row.inputs).secure,
      properties.pin,
      properties.secure,
    ])
      assert.match(value, /^weft:sealed:json:1:/);
    for (const bytes of files())
      assert.ok(!bytes.includes(String(pin)), 'not in clear in the database files');
    for (const command of [
      ['deployments', 'list', '--json'],
      ['instances', '-d', 'site', '--json'],
    ]) {
      const r = state(...command);
      assert.equal(r.code, 0, show(r));
      assert.ok(!r.stdout.includes(String(pin)), `${command.join(' ')}: ${r.stdout}`);
    }

    // Opened as they were given: the same inputs are the same deployment.
    const again = run('install', 'blueprint.yaml', '-d', 'site', ...inputs);
    assert.equal(again.code, 0, show(again));
    const same = run('plan', 'blueprint.yaml', '-d', 'site', ...inputs, '--json');
    assert.equal(same.code, 0, show(same));
    assert.deepEqual(JSON.parse(same.stdout).inputs, [], same.stdout);
    // Not pin + 1, which the automator printed.
    const other = pin + 7;
    const changed = run(
      'plan',
      'blueprint.yaml',
      '-d',
      'site',
      '-i',
      `pin=${other}`,
      '-i',
      'secure=true',
      '--json',
    );
    assert.equal(changed.code, 0, show(changed));
    assert.deepEqual(JSON.parse(changed.stdout).inputs, [
      { name: 'pin', change: 'modified', before: '******', after: '******' },
    ]);
    const update = run('update', 'blueprint.yaml', '-d', 'site', '-i', `pin=${other}`, '-i', 'secure=true');
    assert.equal(update.code, 0, show(update));
    assert.match(
      state('events', '-d', 'site').stdout,
      new RegExp(`one less than ${other + 1} and`),
      'reinstalled with it',
    );
    for (const bytes of files())
      assert.ok(
        !bytes.includes(String(pin)) && !bytes.includes(String(other)),
        'not in clear after the update',
      );
  });

  test('a saved update plan holds sensitive and secret-valued inputs sealed; update --plan applies them, and refuses a changed one', () => {
    const stamp = Date.now().toString(36);
    const first = `first-token-${stamp}`;
    const next = `next-token-${stamp}`;
    const motd = `secret-motd-${stamp}`;
    const { run, state, dir } = project(`  site:
    type: loom.automator.shelly
    properties:
      script: ./setup.sh
      token: { get_input: token }
${ON_MACHINE}inputs:
  token:
    type: string
  motd:
    type: string
    default: hello
`);
    writeFileSync(
      join(dir, 'plugins', 'shelly', 'index.js'),
      `import { Automator } from '@weft/sdk';
export class ShellyAutomator extends Automator {
  install(_config, task) {
    return { status: 0, stdout: 'token backwards: ' + [...task.properties.token].reverse().join('') };
  }
}
`,
    );
    const backwards = (text: string) => [...text].reverse().join('');
    const install = run('install', 'blueprint.yaml', '-d', 'site', '-i', `token=${first}`);
    assert.equal(install.code, 0, show(install));
    // An input that is not sensitive, given a secret's value: the plan masks it, the file seals it.
    assert.equal(state('secrets', 'set', 'motd', motd).code, 0);
    const file = join(dir, 'plan.json');
    const plan = run(
      'plan',
      'blueprint.yaml',
      '-d',
      'site',
      '-i',
      `token=${next}`,
      '-i',
      `motd=${motd}`,
      '--out',
      file,
      '--json',
    );
    assert.equal(plan.code, 0, show(plan));
    assert.ok(!plan.stdout.includes(next) && !plan.stdout.includes(motd), plan.stdout);
    const bytes = readFileSync(file, 'latin1');
    for (const value of [next, motd, first])
      assert.ok(!bytes.includes(value), `${value} is not in the saved plan in clear`);
    const saved = JSON.parse(bytes);
    assert.match(saved.next.inputs.token, /^weft:sealed:1:/);
    assert.match(saved.next.inputs.motd, /^weft:sealed:1:/);
    assert.match(saved.next.model.nodes.site.properties.token, /^weft:sealed:1:/);

    // A sealed value changed in the file does not open: refused, as a changed blueprint file is.
    const sealed = saved.next.inputs.token as string;
    const changed = { ...saved, next: { ...saved.next, inputs: { ...saved.next.inputs } } };
    changed.next.inputs.token = `${sealed.slice(0, -6)}${sealed.slice(-6, -2) === 'AAAA' ? 'BBBB' : 'AAAA'}${sealed.slice(-2)}`;
    writeFileSync(join(dir, 'changed.json'), JSON.stringify(changed));
    const refused = run('update', '-d', 'site', '--plan', join(dir, 'changed.json'));
    assert.equal(refused.code, 2, show(refused));
    assert.match(refused.stderr, /the saved plan's sealed values do not open with this secret key/);

    const update = run('update', '-d', 'site', '--plan', file);
    assert.equal(update.code, 0, show(update));
    const events = state('events', '-d', 'site');
    assert.match(
      events.stdout,
      new RegExp(`token backwards: ${backwards(next)}`),
      'the update got the new token',
    );
    const db = new Database(join(dir, '.weft', 'weft.db'), { readonly: true });
    const row = db.prepare('SELECT inputs FROM deployments WHERE id = ?').get('site') as { inputs: string };
    db.close();
    assert.match(JSON.parse(row.inputs).token, /^weft:sealed:1:/, 'stored sealed, as given');
  });

  test('override: a fixed field from a deployment input is refused at its place, and by execute_operation, exit 2', () => {
    const { run, state, dir } = project(`  site:
    type: loom.automator.shelly
    properties:
      script: { get_input: script }
      token: { get_input: token }
    interfaces:
      cloudify.interfaces.lifecycle:
        configure:
          inputs:
            args: { concat: [-v, { get_input: script }] }
${ON_MACHINE}inputs:
  script:
    default: ./setup.sh
  token:
    default: ''
`);
    for (const args of [['validate'], ['install', '-d', 'site']]) {
      const r = run(args[0]!, 'blueprint.yaml', ...args.slice(1));
      assert.equal(r.code, 2, show(r));
      assert.equal(
        r.stderr,
        [
          "blueprint.yaml:10:15 node_templates.site.properties.script: 'script' of loom.automator.shelly is fixed by the blueprint (a Loom field without override: true): it cannot be given by a deployment input",
          "blueprint.yaml:16:19 node_templates.site.interfaces.cloudify.interfaces.lifecycle.configure.inputs.args: 'args' of loom.automator.shelly is fixed by the blueprint (a Loom field without override: true): it cannot be given by a deployment input",
          '2 problems found',
          '',
        ].join('\n'),
        'token (override: true) may come from an input',
      );
    }
    assert.doesNotMatch(state('deployments', 'list', '--json').stdout, /site/, 'nothing stored');

    // Written by the blueprint, the fields are fixed; an execution may not replace them either.
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      readFileSync(join(dir, 'blueprint.yaml'), 'utf8')
        .replace('{ get_input: script }', './setup.sh')
        .replace('{ concat: [-v, { get_input: script }] }', '-v'),
    );
    const install = run('install', 'blueprint.yaml', '-d', 'site');
    assert.equal(install.code, 0, show(install));
    const exec = (kwargs: string) =>
      run(
        'exec',
        'execute_operation',
        '-d',
        'site',
        '-p',
        'operation=cloudify.interfaces.lifecycle.create',
        '-p',
        `operation_kwargs=${kwargs}`,
        '-p',
        'allow_kwargs_override=true',
      );
    const refused = exec('{"script": "./other.sh"}');
    assert.equal(refused.code, 2, show(refused));
    assert.equal(
      refused.stderr,
      "error: execute_operation: operation_kwargs: 'script' of loom.automator.shelly is fixed by the blueprint (a Loom field without override: true): it cannot be given by an execution's operation_kwargs\n",
    );
    const allowed = exec('{"token": "other"}');
    assert.equal(allowed.code, 0, show(allowed));
  });

  test("Loom's cluster-wide BOOTSTRAP: once per host for each automator its services use, before their tasks there, shown by weft plan", () => {
    const dir = tempDir('weft-loom-bootstrap-');
    const plugin = join(dir, 'plugins', 'farm');
    mkdirSync(plugin, { recursive: true });
    const automator = (classname: string) => ({ name: classname, classname, parameters: {} });
    writeFileSync(
      join(plugin, 'farm.json'),
      JSON.stringify({
        name: 'farm',
        providertypes: ['box'],
        automatortypes: ['chef', 'shell'],
        box: { name: 'box', classname: 'Box', parameters: {} },
        chef: automator('Chef'),
        shell: automator('Shell'),
      }),
    );
    writeFileSync(
      join(plugin, 'index.js'),
      `import { Automator, Provider } from '@weft/sdk';
export class Box extends Provider {
  create(_config, task) { return { status: 0, result: { providerid: task.instanceId, ipaddress: '127.0.0.1' } }; }
  confirm() { return { status: 0 }; }
  delete() { return { status: 0 }; }
}
const automator = (name) => class extends Automator {
  bootstrap(config) { this.output(name + ' bootstrap of ' + config.providerid); return { status: 0 }; }
  install(config, task) { this.output(name + ' install of ' + task.instanceId + ' on ' + config.providerid); return { status: 0 }; }
};
export class Chef extends automator('chef') {}
export class Shell extends automator('shell') {}
`,
    );
    writeFileSync(
      join(plugin, 'package.json'),
      JSON.stringify({ name: 'farm', version: '1.0.0', type: 'module', main: 'index.js' }),
    );
    const service = (name: string, type: string) => `  ${name}:
    type: loom.automator.${type}
    relationships: [{ type: cloudify.relationships.contained_in, target: box }]
`;
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
  - plugin:farm
node_templates:
  box:
    type: loom.provider.box
    capabilities: { scalable: { properties: { default_instances: 3 } } }
${service('db', 'chef')}${service('web', 'chef')}${service('agent', 'shell')}`,
    );
    const run = (...args: string[]) =>
      weft([...args, '--state-dir', join(dir, '.weft'), '--plugin-dir', join(dir, 'plugins')], { cwd: dir });

    const plan = run('plan', 'blueprint.yaml', '--json');
    assert.equal(plan.code, 0, show(plan));
    const steps = (
      JSON.parse(plan.stdout) as {
        install: { wave: number; instance: string; node: string; operation: string }[];
      }
    ).install;
    const hosts = steps.filter((s) => s.node === 'box' && s.operation.endsWith('lifecycle.create'));
    assert.equal(hosts.length, 3);
    const bootstraps = steps.filter((s) => s.operation === 'loom.interfaces.automator.bootstrap');
    assert.equal(bootstraps.length, 6, 'one per host (3) and automator (chef, shell)');
    const instances = (
      JSON.parse(plan.stdout) as { instances: { id: string; node: string; hostId?: string; host?: string }[] }
    ).instances;
    const hostOf = new Map(instances.map((i) => [i.id, i.hostId ?? i.host]));
    for (const host of hosts) {
      const here = bootstraps.filter((b) => hostOf.get(b.instance) === host.instance);
      assert.deepEqual(
        here.map((b) => (b.node === 'agent' ? 'shell' : 'chef')).sort(),
        ['chef', 'shell'],
        host.instance,
      );
      const started = Math.max(...here.map((b) => b.wave));
      for (const b of here) assert.ok(b.wave > host.wave, 'after the host is created');
      for (const s of steps.filter(
        (s) =>
          s.node !== 'box' &&
          s.operation !== 'loom.interfaces.automator.bootstrap' &&
          hostOf.get(s.instance) === host.instance,
      ))
        assert.ok(s.wave > started, `${s.instance} ${s.operation} after every BOOTSTRAP of its host`);
    }
    const text = run('plan', 'blueprint.yaml');
    assert.match(text.stdout, /loom\.interfaces\.automator\.bootstrap/);

    const install = run('install', 'blueprint.yaml', '-d', 'farm');
    assert.equal(install.code, 0, show(install));
    const events = weft(['events', '-d', 'farm', '--json', '--state-dir', join(dir, '.weft')], { cwd: dir });
    assert.equal(events.code, 0, show(events));
    const messages = events.stdout
      .trim()
      .split('\n')
      .map((line) => String((JSON.parse(line) as { message?: string }).message ?? ''));
    const ran = messages.filter((m) => / bootstrap of /.test(m)).sort();
    assert.equal(ran.length, 6, ran.join('\n'));
    assert.equal(new Set(ran).size, 6, 'never twice for a host and an automator');
    assert.equal(messages.filter((m) => / install of /.test(m)).length, 9);
    assert.equal(messages.filter((m) => /BOOTSTRAP of .* done before, not run again/.test(m)).length, 9);
  });

  test("a service's BOOTSTRAP results reach the later tasks of the other services on its host, as Coopr's node results", () => {
    const dir = tempDir('weft-loom-results-');
    const plugin = join(dir, 'plugins', 'pair');
    mkdirSync(plugin, { recursive: true });
    writeFileSync(
      join(plugin, 'pair.json'),
      JSON.stringify({
        name: 'pair',
        providertypes: ['box'],
        automatortypes: ['chef', 'shell'],
        box: { name: 'box', classname: 'Box', parameters: {} },
        chef: { name: 'chef', classname: 'Chef', parameters: {} },
        shell: { name: 'shell', classname: 'Shell', parameters: {} },
      }),
    );
    writeFileSync(
      join(plugin, 'index.js'),
      `import { Automator, Provider } from '@weft/sdk';
export class Box extends Provider {
  create(_config, task) { return { status: 0, result: { providerid: 'vm-' + task.instanceId, ipaddress: '127.0.0.1' } }; }
  confirm() { return { status: 0 }; }
  delete() { return { status: 0 }; }
}
export class Chef extends Automator {
  bootstrap(config) { return { status: 0, result: { chef_home: '/opt/chef/' + config.providerid } }; }
}
export class Shell extends Automator {
  install(config, task) { this.output(task.taskName + ' of ' + task.instanceId + ' sees chef_home=' + config.chef_home); return { status: 0 }; }
  configure(config, task) { return this.install(config, task); }
}
`,
    );
    writeFileSync(
      join(plugin, 'package.json'),
      JSON.stringify({ name: 'pair', version: '1.0.0', type: 'module', main: 'index.js' }),
    );
    const on = (host: string) =>
      `    relationships: [{ type: cloudify.relationships.contained_in, target: ${host} }]\n`;
    writeFileSync(
      join(dir, 'blueprint.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_5
imports:
  - cloudify/types/types.yaml
  - plugin:pair
node_templates:
  box:
    type: loom.provider.box
    capabilities: { scalable: { properties: { default_instances: 2 } } }
  cookbooks:
    type: loom.automator.chef
${on('box')}  agent:
    type: loom.automator.shell
${on('box')}`,
    );
    const run = (...args: string[]) =>
      weft([...args, '--state-dir', join(dir, '.weft'), '--plugin-dir', join(dir, 'plugins')], { cwd: dir });
    const state = (...args: string[]) => weft([...args, '--state-dir', join(dir, '.weft')], { cwd: dir });
    const install = run('install', 'blueprint.yaml', '-d', 'pair');
    assert.equal(install.code, 0, show(install));
    const { instances } = JSON.parse(state('instances', '-d', 'pair', '--json').stdout) as {
      instances: { id: string; node: string; hostId?: string }[];
    };
    const boxes = instances.filter((i) => i.node === 'box').map((i) => i.id);
    assert.equal(boxes.length, 2);
    const events = state('events', '-d', 'pair', '--json');
    const seen = events.stdout
      .trim()
      .split('\n')
      .map((line) => String((JSON.parse(line) as { message?: string }).message ?? ''))
      .filter((m) => / sees chef_home=/.test(m))
      .sort();
    const agents = instances.filter((i) => i.node === 'agent');
    assert.deepEqual(
      seen,
      agents
        .flatMap((agent) =>
          ['CONFIGURE', 'INSTALL'].map(
            (task) => `${task} of ${agent.id} sees chef_home=/opt/chef/vm-${agent.hostId}`,
          ),
        )
        .sort(),
      "each agent sees the chef BOOTSTRAP of its own machine's",
    );
    assert.ok(agents.every((agent) => boxes.includes(agent.hostId!)));
    const uninstall = run('uninstall', '-d', 'pair', '--yes');
    assert.equal(uninstall.code, 0, show(uninstall));
  });

  test("examples/loom-provider: the automator runs its scripts on the machine the provider made, whatever the machines' root", () => {
    const example = join(repoRoot, 'examples', 'loom-provider');
    const cwd = tempDir('weft-loom-example-');
    const root = join(cwd, 'machines');
    const state = (...args: string[]) => weft([...args, '--state-dir', join(cwd, '.weft')], { cwd });
    const run = (...args: string[]) => state(...args, '--plugin-dir', join(example, 'plugins'));
    assert.equal(state('secrets', 'set', 'localdir_api_token', 'example-token').code, 0);
    const install = run('install', join(example, 'blueprint.yaml'), '-d', 'machines', '-i', `root=${root}`);
    assert.equal(install.code, 0, show(install));
    const [machine] = readdirSync(root);
    assert.match(machine ?? '', /^machine_\w+-large$/);
    assert.equal(
      readFileSync(join(root, machine!, 'index.html'), 'utf8'),
      `hello from ${machine}.local (127.0.0.1)\n`,
      'written by the service, in the machine',
    );
    assert.ok(existsSync(join(root, machine!, 'index.bak')), 'configure ran there too');
    assert.deepEqual(readdirSync(cwd).sort(), ['.weft', 'machines'], 'nothing written where weft ran');
    const uninstall = run('uninstall', '-d', 'machines', '--yes');
    assert.equal(uninstall.code, 0, show(uninstall));
    assert.deepEqual(readdirSync(root), [], 'the machine is gone');
  });

  test("resourceTypes: the plugin's resources are staged into each task's work directory as Coopr's worker has them", () => {
    const { dir, run, state } = project(`  site:
    type: loom.automator.shelly
    properties:
      script: scripts/hello.sh
${ON_MACHINE}`);
    const plugin = join(dir, 'plugins', 'shelly');
    const manifest = structuredClone(MANIFEST);
    Object.assign(manifest.shelly.resourceTypes, { cookbooks: { format: 'archive' } });
    writeFileSync(join(plugin, 'shelly.json'), JSON.stringify(manifest));
    mkdirSync(join(plugin, 'resources', 'scripts'), { recursive: true });
    writeFileSync(join(plugin, 'resources', 'scripts', 'hello.sh'), '#!/bin/sh\necho "hello from $(pwd)"\n', {
      mode: 0o644,
    });
    // An archive as uploaded to Coopr (a .tar.gz holding NAME/...), and one already unpacked.
    const packed = join(dir, 'packed');
    mkdirSync(join(packed, 'web', 'recipes'), { recursive: true });
    writeFileSync(join(packed, 'web', 'recipes', 'default.rb'), 'package "nginx"\n');
    mkdirSync(join(plugin, 'resources', 'cookbooks', 'db'), { recursive: true });
    writeFileSync(join(plugin, 'resources', 'cookbooks', 'db', 'metadata.rb'), 'name "db"\n');
    execFileSync('tar', ['-czf', join(plugin, 'resources', 'cookbooks', 'web.tar.gz'), '-C', packed, 'web']);
    writeFileSync(
      join(plugin, 'index.js'),
      `import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Automator } from '@weft/sdk';
export class ShellyAutomator extends Automator {
  install(_config, task) {
    const out = execFileSync('./' + task.properties.script, { cwd: task.workdir, encoding: 'utf8' });
    const web = readFileSync(task.resources.cookbooks.web + '/recipes/default.rb', 'utf8');
    const db = readFileSync(task.workdir + '/cookbooks/db/metadata.rb', 'utf8');
    return { status: 0, stdout: out + 'web: ' + web + 'db: ' + db + 'staged: ' + JSON.stringify(Object.keys(task.resources).sort()) };
  }
}
`,
    );
    const install = run('install', 'blueprint.yaml', '-d', 'site');
    assert.equal(install.code, 0, show(install));
    const events = state('events', '-d', 'site');
    assert.match(
      events.stdout,
      /hello from \S+\/automatortypes\/shelly\/site_\w+/,
      'run where Coopr runs it, executable as declared',
    );
    assert.match(events.stdout, /web: package "nginx"/);
    assert.match(events.stdout, /db: name "db"/);
    assert.match(events.stdout, /staged: \["cookbooks","scripts"\]/);
    const plan = run('plan', 'blueprint.yaml', '--json');
    assert.match(plan.stdout, /"loom_resource_types"/, 'shown with the node');
  });
});
