/**
 * What the CLI did differently with a server than locally, each against a real `weft serve` in
 * another process on a PostgreSQL database of its own and compared with the local command on the
 * same files: `-e` environment files (and the templates they name) for install, plan and update;
 * a HOT stack update's parameters not given going back to their defaults; `update --refresh -i`
 * without a blueprint refused; `weft exec update` run as the deployment update.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, ok, parityRig, writeFiles } from './parity.js';

const TEMPLATE = `heat_template_version: 2018-08-31
parameters:
  name: {type: string, default: anon}
  length: {type: number, default: 12}
  region: {type: string, default: one, immutable: true}
  token: {type: string, default: first-token-value, hidden: true}
resources:
  password:
    type: My::Password
    properties: {length: {get_param: length}}
  greeting:
    type: OS::Heat::Value
    properties:
      value:
        str_replace:
          template: hello NAME in REGION
          params: {NAME: {get_param: name}, REGION: {get_param: region}}
outputs:
  greeting: {value: {get_attr: [greeting, value]}}
  length: {value: {get_attr: [password, length]}}
`;

// The template the environment's resource_registry maps My::Password to, next to it.
const PASSWORD = `heat_template_version: 2018-08-31
parameters:
  length: {type: number}
resources:
  value: {type: OS::Heat::Value, properties: {value: {get_param: length}}}
outputs:
  length: {value: {get_attr: [value, value]}}
`;

const ENV = `parameters: {name: env}
resource_registry:
  My::Password: templates/password.yaml
`;

test('the CLI with a server does what it does locally', async (t) => {
  const { root, url, env, local, remote, api } = await parityRig(t, {
    'stack/template.yaml': TEMPLATE,
    'envs/env.yaml': ENV,
    'envs/templates/password.yaml': PASSWORD,
    'envs/bad.yaml': 'resource_registry:\n  My::Password: templates/broken.yaml\n',
    'envs/templates/broken.yaml':
      'heat_template_version: 2018-08-31\nresources:\n  value: {type: OS::Heat::Vaule}\n',
    'envs/outside.yaml': 'resource_registry:\n  My::Password: /etc/weft-no-such/password.yaml\n',
    // An environment next to the template, naming a template there that reads a file next to it.
    'files/template.yaml':
      'heat_template_version: 2018-08-31\nresources:\n  thing: {type: My::Thing}\noutputs:\n  text: {value: {get_attr: [thing, text]}}\n',
    'files/thing.yaml':
      'heat_template_version: 2018-08-31\nresources:\n  v: {type: OS::Heat::Value, properties: {value: {get_file: config.txt}}}\noutputs:\n  text: {value: {get_attr: [v, value]}}\n',
    'files/config.txt': 'from a file',
    'files/env.yaml': 'resource_registry:\n  My::Thing: thing.yaml\n',
    'app/blueprint.yaml': APP(''),
    'app-v2/blueprint.yaml': APP('  cache: {type: cloudify.nodes.Root}\n'),
  });
  const outputs = async (where: 'local' | 'remote', deployment: string) => {
    const r =
      where === 'local'
        ? local(['outputs', '-d', deployment, '--json'])
        : await remote(['outputs', '-d', deployment, '--json']);
    ok(r, `${where} outputs`);
    return JSON.parse(r.stdout).outputs;
  };

  await t.test(
    '-e: install, plan and update with environment files and the templates they name',
    async () => {
      const install = ['install', 'stack/template.yaml', '-d', 'stack', '-e', 'envs/env.yaml'];
      ok(local(install), 'local install');
      ok(await remote(install), 'remote install');
      assert.deepEqual(await outputs('remote', 'stack'), { greeting: 'hello env in one', length: 12 });
      assert.deepEqual(await outputs('remote', 'stack'), await outputs('local', 'stack'));

      // The plan: the same document (instance ids aside) as the local one, as text and JSON,
      // the hidden parameter masked in both.
      const ids = (text: string) => text.replace(/_[0-9a-z]{6}\b/g, '_*');
      for (const json of [[], ['--json']]) {
        const plan = [
          '-d',
          'stack',
          '-e',
          'envs/env.yaml',
          '-p',
          'length=30',
          '-p',
          'token=second-token-value',
        ];
        const ownPlan = local(['plan', 'stack/template.yaml', ...plan, ...json]);
        const serverPlan = await remote(['plan', ...plan, ...json]);
        ok(ownPlan, 'local plan');
        ok(serverPlan, 'remote plan');
        assert.equal(ids(serverPlan.stdout), ids(ownPlan.stdout));
        assert.ok(!serverPlan.stdout.includes('token-value'), serverPlan.stdout);
        if (json.length > 0)
          assert.deepEqual(
            JSON.parse(serverPlan.stdout).inputs.map((i: { name: string }) => i.name),
            ['length', 'token'],
            'the environment is applied again: its name is unchanged',
          );
      }

      const update = ['-d', 'stack', '-e', 'envs/env.yaml', '-p', 'length=20'];
      ok(local(['update', 'stack/template.yaml', ...update]), 'local update');
      ok(await remote(['update', ...update]), 'remote update');
      assert.deepEqual(await outputs('remote', 'stack'), { greeting: 'hello env in one', length: 20 });

      // A saved plan is applied with the environment it was planned with.
      const saved = join(root, 'saved-plan.json');
      ok(
        await remote(['plan', '-d', 'stack', '-e', 'envs/env.yaml', '-p', 'length=25', '--out', saved]),
        'plan --out',
      );
      ok(await remote(['update', '-d', 'stack', '--plan', saved]), 'update --plan');
      assert.deepEqual(await outputs('remote', 'stack'), { greeting: 'hello env in one', length: 25 });

      // A problem in a template the environment names: reported where it is, as locally.
      const bad = ['-d', 'stack', '-e', 'envs/bad.yaml'];
      const ownBad = local(['update', 'stack/template.yaml', ...bad]);
      const serverBad = await remote(['update', ...bad]);
      assert.equal(ownBad.code, 2, ownBad.stderr);
      assert.equal(serverBad.code, 2, serverBad.stderr);
      assert.match(serverBad.stderr, /^envs\/templates\/broken\.yaml:3:\d+ /);
      // The deployment's own template is on the server: named as it is stored.
      assert.equal(serverBad.stderr.replace(/^template\.yaml/gm, 'stack/template.yaml'), ownBad.stderr);
      // Uploaded with an environment, a template is checked with it as weft validate -e checks it.
      const ownCheck = local(['validate', 'stack/template.yaml', '-e', 'envs/bad.yaml']);
      const upload = await remote([
        'blueprints',
        'upload',
        'stack/template.yaml',
        '--id',
        'checked',
        '-e',
        'envs/bad.yaml',
      ]);
      assert.equal(upload.code, 2, upload.stderr);
      assert.equal(upload.stderr, ownCheck.stderr);
      ok(
        await remote([
          'blueprints',
          'upload',
          'stack/template.yaml',
          '--id',
          'checked',
          '-e',
          'envs/env.yaml',
        ]),
        'upload -e',
      );
      // Stored without the environment file (it holds parameter values), with the template it names.
      const download = await fetch(`${url}/api/v1/blueprints/checked/archive`, {
        headers: { authorization: `Bearer ${env.WEFT_TOKEN}` },
      });
      const archived = join(root, 'checked.tar.gz');
      writeFileSync(archived, Buffer.from(await download.arrayBuffer()));
      assert.deepEqual(
        execFileSync('tar', ['tzf', archived], { encoding: 'utf8' }).trim().split('\n').sort(),
        ['.weft-environment/templates/password.yaml', 'template.yaml'],
      );

      // An environment file that is not there: refused before anything is sent, with the local
      // command's message (which goes on with what the template then lacks).
      const missing = ['-d', 'stack', '-e', 'envs/none.yaml'];
      const ownMissing = local(['update', 'stack/template.yaml', ...missing]);
      const serverMissing = await remote(['update', ...missing]);
      assert.equal(ownMissing.code, 2);
      assert.equal(serverMissing.code, 2);
      assert.equal(serverMissing.stderr, `${ownMissing.stderr.split('\n')[0]}\n1 problem found\n`);
      // Nothing of the refused updates ran.
      const executions = JSON.parse((await remote(['executions', '-d', 'stack', '--json'])).stdout);
      assert.deepEqual(
        executions.executions.map((e: { workflow: string }) => e.workflow),
        ['install', 'update', 'update'],
      );
    },
  );

  await t.test('-e: a template the environment names reads a file next to it, as locally', async () => {
    const install = ['install', 'files/template.yaml', '-d', 'files', '-e', 'files/env.yaml'];
    ok(local(install), 'local install');
    ok(await remote(install), 'remote install');
    assert.deepEqual(await outputs('remote', 'files'), { text: 'from a file' });
    assert.deepEqual(await outputs('remote', 'files'), await outputs('local', 'files'));
    writeFiles(root, { 'files/config.txt': 'changed' });
    const update = ['-d', 'files', '-e', 'files/env.yaml'];
    ok(local(['update', 'files/template.yaml', ...update]), 'local update');
    ok(await remote(['update', ...update]), 'remote update');
    assert.deepEqual(await outputs('remote', 'files'), { text: 'changed' });
  });

  await t.test('-e through the API: validated, and confined to the files sent', async () => {
    const file = (text: string) => Buffer.from(text).toString('base64');
    const outside = await api('POST', '/deployments/stack/update-plan', {
      environment: {
        files: { 'env.yaml': file('resource_registry:\n  My::Password: ../../../etc/password.yaml\n') },
        order: ['env.yaml'],
      },
    });
    assert.equal(outside.status, 422);
    assert.deepEqual(Object.keys(outside.body).sort(), ['code', 'details', 'message']);
    assert.match(String(outside.body.message), /the environment names files it was not sent with/);
    for (const [files, why] of [
      [{ '../env.yaml': file('{}') }, /environment.files '..\/env.yaml' leads out of/],
      [{ '/env.yaml': file('{}') }, /environment.files '\/env.yaml' is an absolute path/],
    ] as const) {
      const unsafe = await api('POST', '/deployments/stack/update-plan', {
        environment: { files, order: Object.keys(files) },
      });
      assert.equal(unsafe.status, 422, JSON.stringify(unsafe.body));
      assert.match(String(unsafe.body.message), why);
    }
    const unlisted = await api('POST', '/deployments/stack/update-plan', {
      environment: { files: { 'env.yaml': file('{}') }, order: ['other.yaml'] },
    });
    assert.equal(unlisted.status, 422);
    assert.match(String(unlisted.body.message), /'other.yaml' is not among environment.files/);
    const shapeless = await api('POST', '/deployments/stack/update-plan', {
      environment: { files: { 'env.yaml': 'not base64!' } },
    });
    assert.equal(shapeless.status, 400);
    assert.equal(shapeless.body.code, 'bad_request');
    // The OpenAPI document describes it.
    const openapi = (await (await fetch(`${url}/api/v1/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<string, { requestBody: { content: Record<string, { schema: unknown }> } }>
      >;
    };
    for (const [path, method] of [
      ['/api/v1/deployments/{id}', 'put'],
      ['/api/v1/deployments/{id}/update-plan', 'post'],
      ['/api/v1/deployments/{id}/updates', 'post'],
    ] as const) {
      const schema = JSON.stringify(
        openapi.paths[path]?.[method]?.requestBody.content['application/json']?.schema,
      );
      assert.match(schema, /"environment"/, `${method} ${path}`);
    }
    // With the CLI: an environment naming a file by an absolute path, refused by name (exit 2).
    const r = await remote(['update', '-d', 'stack', '-e', 'envs/outside.yaml']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /the environment names files it was not sent with/);
  });

  await t.test(
    "a HOT stack update: the parameters not given take their defaults again, as Heat's",
    async () => {
      const install = [
        'install',
        'stack/template.yaml',
        '-d',
        'named',
        '-e',
        'envs/env.yaml',
        '-p',
        'name=bob',
      ];
      ok(local(install), 'local install');
      ok(await remote(install), 'remote install');
      assert.equal((await outputs('remote', 'named')).greeting, 'hello bob in one');
      // Neither -e nor name given again: the name goes back to the template's default.
      writeFiles(root, { 'envs/plain.yaml': ENV.replace('parameters: {name: env}\n', '') });
      const update = ['-d', 'named', '-e', 'envs/plain.yaml', '-p', 'length=16'];
      ok(local(['update', 'stack/template.yaml', ...update]), 'local update');
      ok(await remote(['update', ...update]), 'remote update');
      assert.deepEqual(await outputs('remote', 'named'), { greeting: 'hello anon in one', length: 16 });
      assert.deepEqual(await outputs('remote', 'named'), await outputs('local', 'named'));
      // An immutable parameter is refused with the same message, nothing started.
      const immutable = ['-d', 'named', '-e', 'envs/plain.yaml', '-p', 'region=two'];
      const own = local(['update', 'stack/template.yaml', ...immutable]);
      const server = await remote(['update', ...immutable]);
      assert.equal(own.code, 2);
      assert.equal(server.code, 2, server.stderr);
      assert.match(server.stderr, /The following parameters are immutable and may not be updated: region/);
      assert.equal(server.stderr, own.stderr);
    },
  );

  await t.test('update --refresh -i without a blueprint is refused as locally (exit 2)', async () => {
    ok(local(['install', 'app/blueprint.yaml', '-d', 'app']), 'local install');
    ok(await remote(['install', 'app/blueprint.yaml', '-d', 'app']), 'remote install');
    const args = ['update', '-d', 'app', '--refresh', '-i', 'port=81'];
    const own = local(args);
    const server = await remote(args);
    assert.equal(own.code, 2, own.stderr);
    assert.equal(server.code, 2, server.stderr);
    assert.equal(server.stderr, own.stderr);
    assert.match(server.stderr, /name the blueprint to update the inputs with/);
    const executions = JSON.parse((await remote(['executions', '-d', 'app', '--json'])).stdout);
    assert.deepEqual(
      executions.executions.map((e: { workflow: string }) => e.workflow),
      ['install'],
      'no check ran, nothing was updated',
    );
  });

  await t.test('exec update runs the deployment update with the same parameters', async () => {
    const inputs = ['exec', 'update', '-d', 'app', '-p', 'inputs={port: 8080}', '-p', 'skip_reinstall=true'];
    ok(local(inputs), 'local exec update');
    const r = await remote(inputs);
    ok(r, 'remote exec update');
    assert.match(r.stdout, /^update succeeded: /m);
    assert.deepEqual(await outputs('remote', 'app'), { port: 8080 });
    assert.deepEqual(await outputs('remote', 'app'), await outputs('local', 'app'));
    const last = JSON.parse((await remote(['executions', '-d', 'app', '--json'])).stdout).executions.at(-1);
    assert.equal(last.workflow, 'update');
    assert.equal(last.parameters.skip_reinstall, true);

    // A parameter the workflow does not have, or of the wrong type: the local refusal.
    for (const wrong of ['skip_everything=true', 'skip_install=maybe', 'inputs=[1]']) {
      const args = ['exec', 'update', '-d', 'app', '-p', wrong];
      const own = local(args);
      const server = await remote(args);
      assert.equal(own.code, 2, own.stderr);
      assert.equal(server.code, 2, server.stderr);
      assert.equal(server.stderr, own.stderr);
    }

    // blueprint: a stored blueprint's id with a server; a path here is refused with the way to store it.
    const path = await remote(['exec', 'update', '-d', 'app', '-p', 'blueprint=app-v2/blueprint.yaml']);
    assert.equal(path.code, 2);
    assert.match(path.stderr, /weft blueprints upload app-v2\/blueprint.yaml --id ID, then weft exec update/);
    ok(await remote(['blueprints', 'upload', 'app-v2', '--id', 'app-v2']), 'upload');
    ok(
      await remote(['exec', 'update', '-d', 'app', '-p', 'blueprint=app-v2']),
      'remote exec update -p blueprint',
    );
    const nodes = JSON.parse((await remote(['instances', '-d', 'app', '--json'])).stdout).instances.map(
      (i: { node: string }) => i.node,
    );
    assert.deepEqual(nodes.sort(), ['cache', 'db']);
    assert.deepEqual(await outputs('remote', 'app'), { port: 8080 }, 'the inputs kept');
  });
});
