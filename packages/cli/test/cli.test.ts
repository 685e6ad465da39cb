import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cliReference, REFERENCE_END, REFERENCE_START } from '../src/reference.js';
import { fixtures, repoRoot, tempDir, weft } from './helpers.js';

const threeTier = join('examples', 'three-tier', 'blueprint.yaml');

const webBlueprint = `tosca_definitions_version: cloudify_dsl_1_3
imports: [cloudify/types/types.yaml]
inputs:
  port:
    type: integer
    constraints: [{in_range: [1024, 65535]}]
  name: {type: string, default: shop}
node_types:
  Web:
    derived_from: cloudify.nodes.WebServer
    properties:
      port: {type: integer}
node_templates:
  web:
    type: Web
    properties: {port: {get_input: port}}
`;

describe('weft validate', () => {
  test('prints valid and exits 0 for a good blueprint', () => {
    const r = weft(['validate', threeTier]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'valid\n');
  });

  test('prints every problem with file:line:col and exits 2, without a stack trace', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'bp.yaml'),
      'tosca_definitions_version: cloudify_dsl_1_3\nimports: [cloudify/types/types.yaml]\nnode_templates:\n  a: {type: cloudify.nodes.Roots}\n  b:\n    type: cloudify.nodes.Root\n    relationships: [{type: cloudify.relationships.depends_on, target: nope}]\n',
    );
    const r = weft(['validate', 'bp.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines, [
      "bp.yaml:4:13 node_templates.a.type: unknown type 'cloudify.nodes.Roots'; did you mean 'cloudify.nodes.Root'?",
      "bp.yaml:7:71 node_templates.b.relationships[0].target: relationship target 'nope' is not a node template",
      '2 problems found',
    ]);
    assert.doesNotMatch(r.stderr, /\s+at \S+ \(/);
  });

  test('-i values are read as YAML scalars and checked against the declared type', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bp.yaml'), webBlueprint);
    assert.equal(weft(['validate', 'bp.yaml', '-i', 'port=8080'], { cwd: dir }).code, 0);
    const wrong = weft(['validate', 'bp.yaml', '-i', 'port=80a'], { cwd: dir });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /inputs\.port: expected integer, got "80a"/);
    const range = weft(['validate', 'bp.yaml', '-i', 'port=80'], { cwd: dir });
    assert.match(range.stderr, /inputs\.port: 80 is not in range \[1024, 65535\] \(constraint in_range\)/);
    const unknown = weft(['validate', 'bp.yaml', '-i', 'port=8080', '-i', 'nmae=x'], { cwd: dir });
    assert.match(
      unknown.stderr,
      /inputs\.nmae: the blueprint declares no input 'nmae'; did you mean 'name'\?/,
    );
  });

  test('-i FILE points problems into the inputs file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bp.yaml'), webBlueprint);
    writeFileSync(join(dir, 'inputs.yaml'), '# inputs\nname: web\nport: high\n');
    const r = weft(['validate', 'bp.yaml', '-i', 'inputs.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^inputs\.yaml:3:7 inputs\.port: expected integer, got "high"$/m);
  });

  test('without -i, a missing required input is not a problem; planning reports it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bp.yaml'), webBlueprint);
    assert.equal(weft(['validate', 'bp.yaml'], { cwd: dir }).code, 0);
    const plan = weft(['plan', 'bp.yaml'], { cwd: dir });
    assert.equal(plan.code, 2);
    assert.match(
      plan.stderr,
      /bp\.yaml:4:3 inputs\.port: required input 'port' has no value \(pass it with -i port=VALUE\)/,
    );
  });

  test('--json reports problems as data', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bp.yaml'), 'tosca_definitions_version: cloudify_dsl_9\n');
    const r = weft(['validate', 'bp.yaml', '--json'], { cwd: dir });
    assert.equal(r.code, 2);
    const body = JSON.parse(r.stdout) as { valid: boolean; problems: { line: number; message: string }[] };
    assert.equal(body.valid, false);
    assert.equal(body.problems[0]!.line, 1);
    assert.match(
      body.problems[0]!.message,
      /unknown version 'cloudify_dsl_9'; known versions are cloudify_dsl_1_0, .*cloudify_dsl_1_5/,
    );
  });

  test('a secret the state does not hold is a warning at its get_secret, until it is set', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'bp.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_types:
  Db:
    derived_from: cloudify.nodes.Root
    properties: {password: {}, user: {}}
node_templates:
  db:
    type: Db
    properties:
      password: {get_secret: db_password}
      user: {get_secret: [db_credentials, user]}
outputs:
  again: {value: {get_secret: db_password}}
`,
    );
    const state = ['--state-dir', join(dir, 'state')];
    for (const command of ['validate', 'plan']) {
      const r = weft([command, 'bp.yaml', ...state], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        r.stderr.trim().split('\n'),
        [
          `warning: bp.yaml:11:17 node_templates.db.properties.password: get_secret: no secret 'db_password' in ${join(dir, 'state')}; set it before installing (weft secrets set db_password VALUE)`,
          `warning: bp.yaml:12:13 node_templates.db.properties.user: get_secret: no secret 'db_credentials' in ${join(dir, 'state')}; set it before installing (weft secrets set db_credentials VALUE)`,
        ],
        command,
      );
    }
    assert.equal(existsSync(join(dir, 'state')), false, 'validate and plan create no state');
    assert.equal(weft(['secrets', 'set', 'db_password', 'pw', ...state]).code, 0);
    const json = JSON.parse(weft(['validate', 'bp.yaml', '--json', ...state], { cwd: dir }).stdout) as {
      warnings: { message: string }[];
    };
    assert.deepEqual(
      json.warnings.map((w) => w.message),
      [
        `get_secret: no secret 'db_credentials' in ${join(dir, 'state')}; set it before installing (weft secrets set db_credentials VALUE)`,
      ],
    );
  });
});

describe('weft plan', () => {
  test('plans the three-tier example with hosts, dependencies and install order', () => {
    const r = weft(['plan', threeTier, '-i', 'app_instances=3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app_host +cloudify\.nodes\.Compute +x3/);
    assert.match(r.stdout, /Install order \(12 operations in 6 waves/);
  });

  test('--json has the documented shape and stable ids for a deployment id', () => {
    const first = JSON.parse(weft(['plan', threeTier, '--json', '-d', 'prod']).stdout);
    const again = JSON.parse(weft(['plan', threeTier, '--json', '-d', 'prod']).stdout);
    const other = JSON.parse(weft(['plan', threeTier, '--json', '-d', 'staging']).stdout);
    assert.deepEqual(Object.keys(first), [
      'schemaVersion',
      'blueprint',
      'dslVersion',
      'deploymentId',
      'inputs',
      'nodes',
      'instances',
      'groups',
      'install',
      'outputs',
    ]);
    assert.deepEqual(first.instances, again.instances);
    assert.notDeepEqual(
      first.instances.map((i: { id: string }) => i.id),
      other.instances.map((i: { id: string }) => i.id),
    );
    for (const instance of first.instances)
      assert.match(instance.id, new RegExp(`^${instance.node}_[a-z0-9]{6}$`));
    const app = first.instances.find((i: { node: string }) => i.node === 'app');
    const db = first.instances.find((i: { node: string }) => i.node === 'database');
    assert.ok(app.dependsOn.includes(db.id));
    assert.equal(first.inputs.web_port, 8080);
    assert.deepEqual(first.outputs.database_url, { get_attribute: ['database', 'url'] });
    const first3 = first.install.slice(0, 2).map((s: { operation: string }) => s.operation);
    assert.deepEqual(first3, ['cloudify.interfaces.lifecycle.create', 'cloudify.interfaces.lifecycle.start']);
  });
});

describe('the blueprints of seed 000', () => {
  test('haproxy and rest validate with the built-in fabric and REST plugins, whatever version they pin', () => {
    for (const name of ['haproxy', 'rest']) {
      const r = weft(['validate', join(fixtures, 'seed000', name, 'blueprint.yaml')]);
      assert.equal(r.code, 0, r.stderr);
    }
    const dir = tempDir();
    for (const pin of ['?version= >=1.22.1', '?version=1.25.0']) {
      const blueprint = join(dir, 'blueprint.yaml');
      writeFileSync(
        blueprint,
        `tosca_definitions_version: cloudify_dsl_1_3\nimports:\n  - http://cloudify.co/spec/cloudify/5.0.0/types.yaml\n  - plugin:cloudify-utilities-plugin${pin}\nnode_templates:\n  r:\n    type: cloudify.rest.Requests\n    properties: {hosts: [127.0.0.1]}\n`,
      );
      const r = weft(['validate', blueprint]);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  const cases: [string, RegExp[]][] = [
    [
      'kube-type',
      [
        /import 'plugins:cloudify-kubernetes-plugin' not found .*did you mean 'plugin:cloudify-kubernetes-plugin'\?/,
        /derived_from: expected the name of the parent type, got a mapping \(operations belong under 'interfaces:'\)/,
      ],
    ],
    [
      'kube-use',
      [
        /no stored blueprint 'awesome-new-type' to import \('custom--blueprint:awesome-new-type'\)/,
        /unknown type 'custom--cloudify\.CustomKubernetes\.Sequence'/,
      ],
    ],
  ];
  for (const [name, expected] of cases) {
    test(`${name}: reported clearly`, () => {
      const r = weft(['validate', join(fixtures, 'seed000', name, 'blueprint.yaml')]);
      assert.equal(r.code, 2);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, expected.length + 1, r.stderr);
      expected.forEach((pattern, i) => {
        assert.match(lines[i]!, pattern);
      });
    });
  }
});

describe('hostile input', () => {
  test('a huge log line is stored cut, saying how much was dropped (WEFT_MAX_LOG_BYTES)', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'scripts'));
    writeFileSync(join(dir, 'scripts', 'loud.sh'), "head -c 3000000 /dev/zero | tr '\\0' a\necho\n");
    writeFileSync(
      join(dir, 'bp.yaml'),
      `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  app:
    type: cloudify.nodes.Root
    interfaces: {cloudify.interfaces.lifecycle: {configure: scripts/loud.sh}}
`,
    );
    for (const [limit, kept] of [
      [undefined, 64 * 1024],
      ['1000', 1000],
    ] as const) {
      const state = join(dir, `state-${kept}`);
      const env = limit ? { WEFT_MAX_LOG_BYTES: limit } : {};
      assert.equal(
        weft(['install', 'bp.yaml', '--state-dir', state], { cwd: dir, env, timeoutMs: 60_000 }).code,
        0,
      );
      const events = weft(['events', '--json', '--state-dir', state], { cwd: dir }).stdout.trim().split('\n');
      const loud = events
        .map((line) => JSON.parse(line) as { message: string })
        .find((e) => e.message.startsWith('aaa'));
      assert.ok(loud, 'the line is stored');
      assert.equal(
        loud.message,
        `${'a'.repeat(kept)}... [${3_000_000 - kept} more bytes dropped: over the ${kept}-byte limit for one message; WEFT_MAX_LOG_BYTES raises it]`,
      );
    }
  });

  test('instance counts have a ceiling (WEFT_MAX_INSTANCES) at validate, plan, install and scale; inputs files a size cap', () => {
    const dir = tempDir();
    const blueprint = (count: number) => `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
node_templates:
  vm:
    type: cloudify.nodes.Compute
    capabilities: {scalable: {properties: {default_instances: ${count}}}}
  app:
    type: cloudify.nodes.Root
    capabilities: {scalable: {properties: {default_instances: 1000}}}
    relationships: [{type: cloudify.relationships.contained_in, target: vm}]
`;
    writeFileSync(join(dir, 'huge.yaml'), blueprint(1_000_000_000));
    for (const command of ['validate', 'plan', 'install']) {
      const r = weft([command, 'huge.yaml', '--state-dir', join(dir, 'state')], {
        cwd: dir,
        timeoutMs: 20_000,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /^huge\.yaml:4:3 node_templates\.vm: vm would make the deployment 1,000,000,000 node instances, over the ceiling of 100,000 per deployment \(raise it with WEFT_MAX_INSTANCES\)$/m,
      );
    }
    writeFileSync(join(dir, 'small.yaml'), blueprint(2));
    const low = weft(['plan', 'small.yaml'], { cwd: dir, env: { WEFT_MAX_INSTANCES: '100' } });
    assert.match(
      low.stderr,
      /app would make the deployment 2,002 node instances, over the ceiling of 100 per deployment/,
    );
    assert.equal(weft(['plan', 'small.yaml'], { cwd: dir, env: { WEFT_MAX_INSTANCES: '2002' } }).code, 0);
    const state = ['--state-dir', join(dir, 'state'), '-d', 'small'];
    assert.equal(weft(['install', 'small.yaml', ...state], { cwd: dir }).code, 0);
    const scale = weft(
      ['exec', 'scale', ...state, '-p', 'scalable_entity_name=vm', '-p', 'delta=100000000'],
      {
        cwd: dir,
        timeoutMs: 20_000,
      },
    );
    assert.equal(scale.code, 2, scale.stderr);
    assert.match(
      scale.stderr,
      /scale: the deployment would have at least 100,002,002 node instances, over the ceiling of 100,000/,
    );
    const zero = weft(['validate', 'small.yaml', '-i', '/dev/zero'], { cwd: dir, timeoutMs: 20_000 });
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /-i \/dev\/zero: is not a regular file/);
    writeFileSync(join(dir, 'big.yaml'), `x: ${'a'.repeat(9 * 1024 * 1024)}\n`);
    const big = weft(['validate', 'small.yaml', '-i', 'big.yaml'], { cwd: dir });
    assert.match(big.stderr, /-i big\.yaml: file is 9\.0 MiB, over the 8\.0 MiB limit for an inputs file/);
  });

  const hostile: [string, () => string | Buffer, RegExp][] = [
    [
      'an alias bomb',
      () =>
        `tosca_definitions_version: cloudify_dsl_1_3\ndsl_definitions:\n  a: &a ["x","x","x","x","x","x","x","x","x","x"]\n${Array.from(
          { length: 9 },
          (_, i) =>
            `  ${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
              .fill(`*${String.fromCharCode(97 + i)}`)
              .join(',')}]`,
        ).join('\n')}\n`,
      /aliases expand to more than \d+ values \(an alias bomb\?\)/,
    ],
    [
      'deep nesting',
      () => `tosca_definitions_version: cloudify_dsl_1_3\nx: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
      /nesting deeper than 200 levels/,
    ],
    [
      'binary garbage',
      () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
      /not a text file/,
    ],
    [
      'a 10 MB file',
      () => `tosca_definitions_version: cloudify_dsl_1_3\ndescription: "${'x'.repeat(10 * 1024 * 1024)}"\n`,
      /file is 10\.0 MiB, over the 8\.0 MiB limit/,
    ],
    [
      'a pattern that backtracks exponentially',
      () =>
        `tosca_definitions_version: cloudify_dsl_1_3\ninputs:\n  name:\n    default: "${'a'.repeat(40)}!"\n    constraints: [{pattern: "(a+)+$"}]\n`,
      /inputs\.name\.default: "a{40}!" does not match pattern "\(a\+\)\+\$"/,
    ],
    [
      'malformed YAML',
      () => 'tosca_definitions_version: cloudify_dsl_1_3\nnode_templates:\n  a: {type: [unclosed\n',
      /^bp\.yaml:\d+:\d+ invalid YAML: /m,
    ],
    [
      'an import escaping the blueprint directory',
      () => 'tosca_definitions_version: cloudify_dsl_1_3\nimports: [../../../../etc/passwd]\n',
      /imports\[0\]: import '..\/..\/..\/..\/etc\/passwd' points outside the blueprint's directory/,
    ],
  ];
  for (const [name, content, pattern] of hostile) {
    test(`${name} gets a clear error quickly`, () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'bp.yaml'), content());
      const r = weft(['validate', 'bp.yaml'], { cwd: dir, timeoutMs: 20_000 });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, pattern);
      assert.doesNotMatch(r.stderr, /\s+at \S+ \(/, 'no stack trace');
      assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    });
  }
});

describe('the command line', () => {
  test('--version prints the version', () => {
    const r = weft(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  test('an unknown command exits 2 with a suggestion', () => {
    const r = weft(['valdate', 'x.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command 'valdate'/);
    assert.match(r.stderr, /validate/);
  });

  test('usage errors of any command, subcommands included, exit 2', () => {
    for (const [args, message] of [
      [['outputs', '--nope'], /unknown option '--nope'/],
      [['validate'], /missing required argument 'blueprint'/],
      [['plugins', 'list', '--nope'], /unknown option '--nope'/],
      [['secrets', 'set'], /missing required argument/],
    ] as const) {
      const r = weft([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  test('a missing blueprint file is a one-line error, exit 2', () => {
    const r = weft(['validate', 'no/such/blueprint.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read '.*no\/such\/blueprint\.yaml': file not found/);
  });

  test('the README CLI reference matches the commands', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const block = readme
      .slice(readme.indexOf(REFERENCE_START) + REFERENCE_START.length, readme.indexOf(REFERENCE_END))
      .trim();
    assert.equal(block, await cliReference(), 'README is out of date: run `npm run docs:cli`');
  });

  test('the README quick start is exactly two commands', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Quick start'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const commands = block.trim().split('\n');
    assert.equal(commands.length, 2);
    assert.equal(commands[1], 'npm test');
    assert.match(commands[0]!, /^npm ci && npx weft /);
  });
});

describe('plugin functions', () => {
  test('an operation naming a function its plugin module does not export is a validation problem', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plugin.mjs'), 'export function create() {}\nexport function start() {}\n');
    writeFileSync(
      join(dir, 'bp.yaml'),
      'tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\nplugins:\n  p: {executor: central_deployment_agent, source: plugin.mjs}\nnode_templates:\n  a:\n    type: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle: {create: p.create, start: p.strat}\n',
    );
    const validate = weft(['validate', 'bp.yaml'], { cwd: dir });
    assert.equal(validate.code, 2);
    assert.match(
      validate.stderr,
      /^bp\.yaml:9:64 node_templates\.a\.interfaces\.cloudify\.interfaces\.lifecycle\.start: plugin 'p' has no function 'strat'; did you mean 'start'\?$/m,
    );
    const install = weft(['install', 'bp.yaml', '--state-dir', join(dir, 'state')], { cwd: dir });
    assert.equal(install.code, 2, 'refused before anything is stored');
    assert.match(
      weft(['deployments', '--state-dir', join(dir, 'state')], { cwd: dir }).stdout,
      /^No deployments/,
    );
  });

  test('unknown functions are reported with the other problems; a missing module at its source', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plugin.mjs'), 'export function create() {}\n');
    const blueprint = (source: string) =>
      `tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\nplugins:\n  p: {executor: central_deployment_agent, source: ${source}}\nnode_templates:\n  a:\n    type: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle: {create: p.creat, start: nosuch.start}\nworkflows:\n  wf: p.creat\n`;
    writeFileSync(join(dir, 'bp.yaml'), blueprint('plugin.mjs'));
    let validate = weft(['validate', 'bp.yaml'], { cwd: dir });
    assert.equal(validate.code, 2);
    assert.deepEqual(validate.stderr.trim().split('\n'), [
      "bp.yaml:9:47 node_templates.a.interfaces.cloudify.interfaces.lifecycle.create: plugin 'p' has no function 'creat'; did you mean 'create'?",
      "bp.yaml:9:63 node_templates.a.interfaces.cloudify.interfaces.lifecycle.start: 'nosuch.start' names no declared plugin 'nosuch'",
      "bp.yaml:11:7 workflows.wf: plugin 'p' has no function 'creat'; did you mean 'create'?",
      '3 problems found',
    ]);
    writeFileSync(join(dir, 'bp.yaml'), blueprint('missing.mjs'));
    validate = weft(['validate', 'bp.yaml'], { cwd: dir });
    assert.equal(validate.code, 2, 'the other problems still count');
    assert.match(
      validate.stderr,
      /^warning: bp\.yaml:4:51 plugins\.p\.source: plugin 'p' is not here \(its module .*missing\.mjs does not exist\)/m,
    );
  });

  test('validate and plan accept a blueprint whose plugins are not here, with a warning naming them; install refuses it', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'bp.yaml'),
      'tosca_definitions_version: cloudify_dsl_1_4\nimports: [cloudify/types/types.yaml]\nplugins:\n  p: {executor: central_deployment_agent, source: missing.mjs}\n  q: {executor: central_deployment_agent, package_name: q-plugin}\nnode_templates:\n  a:\n    type: cloudify.nodes.Root\n    interfaces:\n      cloudify.interfaces.lifecycle: {create: p.create, start: q.start}\n',
    );
    const state = ['--state-dir', join(dir, 'state')];
    for (const command of ['validate', 'plan']) {
      const result = weft([command, 'bp.yaml', ...state], { cwd: dir });
      assert.equal(result.code, 0, `${command}: ${result.stderr}`);
      const warnings = result.stderr.trim().split('\n');
      assert.equal(warnings.length, 2, result.stderr);
      assert.match(
        warnings[0]!,
        /^warning: bp\.yaml:4:51 plugins\.p\.source: plugin 'p' is not here \(its module .*missing\.mjs does not exist\): .*install and exec refuse/,
      );
      assert.match(
        warnings[1]!,
        /^warning: bp\.yaml:5:6 plugins\.q: plugin 'q' is not installed here \(weft plugins install\)/,
      );
    }
    const json = JSON.parse(weft(['validate', 'bp.yaml', '--json', ...state], { cwd: dir }).stdout);
    assert.deepEqual(
      json.warnings.map((w: { path: string }) => w.path),
      ['plugins.p.source', 'plugins.q'],
    );
    const install = weft(['install', 'bp.yaml', ...state], { cwd: dir });
    assert.equal(install.code, 2);
    assert.match(install.stderr, /plugins\.p\.source: the plugin's module .*missing\.mjs does not exist/);
  });
});
