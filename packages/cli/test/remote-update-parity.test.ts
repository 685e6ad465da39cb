/**
 * The deployment update and install with a server as locally, against a real `weft serve` in
 * another process on a PostgreSQL database of its own, compared with the local command on the same
 * files: a suspended HOT stack is not updated (whichever way the update is asked for); the update
 * and rollback started through POST /executions as the updates and rollback routes start them;
 * install on an existing deployment with another blueprint or inputs refused, naming weft update.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { APP, ok, parityRig, writeFiles } from './parity.js';

const STACK = `heat_template_version: 2018-08-31
parameters:
  name: {type: string, default: anon}
resources:
  greeting:
    type: OS::Heat::Value
    properties: {value: {str_replace: {template: hello NAME, params: {NAME: {get_param: name}}}}}
outputs:
  greeting: {value: {get_attr: [greeting, value]}}
`;

// A node whose create fails until the file its input names exists (max_retries 0: at once).
const GATED = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  marker: {type: string}
node_templates:
  gate:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create:
          implementation: scripts/create.sh
          inputs: {marker: {get_input: marker}}
          max_retries: 0
`;

test('the deployment update and install with a server do what they do locally', async (t) => {
  const { root, url, local, remote, api } = await parityRig(t, {
    'stack/template.yaml': STACK,
    'app/blueprint.yaml': APP(''),
    'app-v2/blueprint.yaml': APP('  cache: {type: cloudify.nodes.Root}\n'),
    'gated/blueprint.yaml': GATED,
    // A template whose environment maps a type to a template next to the environment.
    'hot/template.yaml':
      'heat_template_version: 2018-08-31\nresources:\n  thing: {type: My::Thing}\noutputs:\n  text: {value: {get_attr: [thing, text]}}\n',
    'envs/thing.yaml':
      'heat_template_version: 2018-08-31\nparameters:\n  text: {type: string, default: hi}\nresources:\n  v: {type: OS::Heat::Value, properties: {value: {get_param: text}}}\noutputs:\n  text: {value: {get_attr: [v, value]}}\n',
    'envs/env.yaml': 'resource_registry:\n  My::Thing: thing.yaml\n',
    'gated/scripts/create.sh': '#!/bin/sh\ntest -f "$marker" || { echo "no $marker" >&2; exit 1; }\n',
  });
  const both = async (args: string[]) => {
    ok(local(args), `local ${args.join(' ')}`);
    ok(await remote(args), `remote ${args.join(' ')}`);
  };
  const workflows = async (deployment: string) =>
    JSON.parse((await remote(['executions', '-d', deployment, '--json'])).stdout).executions.map(
      (e: { workflow: string }) => e.workflow,
    );
  const outputs = async (deployment: string) => {
    const r = await remote(['outputs', '-d', deployment, '--json']);
    ok(r, 'remote outputs');
    return JSON.parse(r.stdout).outputs;
  };
  /** Follows an execution the API started to its end (the CLI's events --follow returns then). */
  const ended = async (id: string) => {
    ok(await remote(['events', '-e', id, '--follow']), 'events --follow');
    return (await api('GET', `/executions/${id}`, undefined)).body;
  };

  await t.test('a suspended HOT stack is not updated: refused as locally, by every route', async () => {
    await both(['install', 'stack/template.yaml', '-d', 'stack']);
    await both(['exec', 'suspend', '-d', 'stack']);
    const own = local(['update', 'stack/template.yaml', '-d', 'stack', '-p', 'name=bob']);
    const server = await remote(['update', '-d', 'stack', '-p', 'name=bob']);
    assert.equal(own.code, 2, own.stderr);
    assert.equal(server.code, 2, server.stderr);
    assert.match(
      server.stderr,
      /^error: Updating a stack when it is suspended is not supported: resume it first/,
    );
    assert.equal(server.stderr, own.stderr);
    const ownExec = local(['exec', 'update', '-d', 'stack']);
    const serverExec = await remote(['exec', 'update', '-d', 'stack']);
    assert.equal(ownExec.code, 2, ownExec.stderr);
    assert.equal(serverExec.code, 2, serverExec.stderr);
    assert.equal(serverExec.stderr, ownExec.stderr);
    // --refresh: refused before the check runs, as locally.
    const ownRefresh = local(['update', 'stack/template.yaml', '-d', 'stack', '--refresh']);
    const serverRefresh = await remote(['update', '-d', 'stack', '--refresh']);
    assert.equal(ownRefresh.code, 2, ownRefresh.stderr);
    assert.equal(serverRefresh.code, 2, serverRefresh.stderr);
    assert.equal(serverRefresh.stderr, ownRefresh.stderr);
    assert.equal((await api('GET', '/deployments/stack', undefined)).body.stackStatus, 'SUSPEND_COMPLETE');
    // Through the API: a conflict with the deployment's state, for both routes.
    for (const [path, body] of [
      ['/deployments/stack/updates', {}],
      ['/executions', { deploymentId: 'stack', workflowId: 'update' }],
    ] as const) {
      const refused = await api('POST', path, body);
      assert.equal(refused.status, 409, `${path}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.code, 'stack_suspended');
      assert.match(String(refused.body.message), /resume it first \(weft exec resume -d stack\)/);
    }
    assert.deepEqual(await workflows('stack'), ['install', 'suspend'], 'no update was started');
    // A plan changes nothing: it is shown for a suspended stack, as locally.
    ok(await remote(['plan', '-d', 'stack', '-p', 'name=bob']), 'remote plan');
    // Resumed, it is updated.
    await both(['exec', 'resume', '-d', 'stack']);
    ok(await remote(['update', '-d', 'stack', '-p', 'name=bob']), 'remote update after resume');
    assert.deepEqual(await outputs('stack'), { greeting: 'hello bob' });
  });

  await t.test(
    'POST /executions update and rollback start what the updates and rollback routes start',
    async () => {
      await both(['install', 'app/blueprint.yaml', '-d', 'app']);
      ok(await remote(['blueprints', 'upload', 'app-v2', '--id', 'app-v2']), 'upload');
      // As Cloudify's `cfy executions start update -d app -p blueprint=... -p inputs=... -p skip_reinstall=true`.
      const started = await api('POST', '/executions', {
        deploymentId: 'app',
        workflowId: 'update',
        parameters: { blueprint: 'app-v2', inputs: { port: 8080 }, skip_reinstall: true },
      });
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.workflow, 'update');
      const done = await ended(String(started.body.id));
      assert.equal(done.status, 'terminated', JSON.stringify(done));
      assert.equal((done.parameters as Record<string, unknown>).skip_reinstall, true);
      assert.deepEqual(await outputs('app'), { port: 8080 });
      const nodes = JSON.parse((await remote(['instances', '-d', 'app', '--json'])).stdout).instances.map(
        (i: { node: string }) => i.node,
      );
      assert.deepEqual(nodes.sort(), ['cache', 'db']);
      const shown = await api('GET', '/deployments/app', undefined);
      assert.equal(shown.body.blueprintId, 'app-v2', 'the deployment is of the blueprint it was updated to');
      // The same deployment locally, with the same parameters (a file for the blueprint).
      ok(
        local([
          'exec',
          'update',
          '-d',
          'app',
          '-p',
          'blueprint=app-v2/blueprint.yaml',
          '-p',
          'inputs={port: 8080}',
        ]),
        'local exec update',
      );
      const localOutputs = JSON.parse(local(['outputs', '-d', 'app', '--json']).stdout).outputs;
      assert.deepEqual(await outputs('app'), localOutputs);

      // Parameters the update does not have, or of the wrong type: 422 with the local message.
      for (const wrong of [{ skip_everything: true }, { skip_install: 'maybe' }, { inputs: [1] }]) {
        const refused = await api('POST', '/executions', {
          deploymentId: 'app',
          workflowId: 'update',
          parameters: wrong,
        });
        assert.equal(refused.status, 422, JSON.stringify(refused.body));
        const [key, value] = Object.entries(wrong)[0]!;
        const own = local(['exec', 'update', '-d', 'app', '-p', `${key}=${JSON.stringify(value)}`]);
        assert.equal(own.code, 2, own.stderr);
        assert.equal(`${refused.body.message}\n`, own.stderr.replace(/^error: /, ''));
      }
      const missing = await api('POST', '/executions', {
        deploymentId: 'app',
        workflowId: 'update',
        parameters: { blueprint: 'no-such-blueprint' },
      });
      assert.equal(missing.status, 404, JSON.stringify(missing.body));

      // The rollback: back to the version before the update.
      const rollback = await api('POST', '/executions', { deploymentId: 'app', workflowId: 'rollback' });
      assert.equal(rollback.status, 201, JSON.stringify(rollback.body));
      assert.equal(rollback.body.workflow, 'rollback');
      assert.equal((await ended(String(rollback.body.id))).status, 'terminated');
      assert.deepEqual(await outputs('app'), { port: 80 });
      assert.deepEqual(await workflows('app'), ['install', 'update', 'rollback']);

      // The OpenAPI document says what update and rollback take.
      const openapi = (await (await fetch(`${url}/api/v1/openapi.json`)).json()) as {
        paths: Record<
          string,
          Record<string, { requestBody: { content: Record<string, { schema: unknown }> } }>
        >;
      };
      const schema = JSON.stringify(
        openapi.paths['/api/v1/executions']?.post?.requestBody.content['application/json']?.schema,
      );
      assert.match(schema, /start the deployment update/);
      assert.match(schema, /blueprint \(a stored blueprint's id/);
    },
  );

  await t.test(
    'install on an existing deployment: another blueprint or other inputs refused, naming weft update',
    async () => {
      await both(['install', 'app/blueprint.yaml', '-d', 'web', '-i', 'port=81']);
      const stored = async () =>
        ((await api('GET', '/blueprints', undefined)).body as unknown as { id: string }[])
          .map((b) => b.id)
          .sort();
      const storedBefore = await stored();
      // The same blueprint and inputs (those not given: the deployment's): nothing to run.
      for (const inputs of [['-i', 'port=81'], []]) {
        const args = ['install', 'app/blueprint.yaml', '-d', 'web', ...inputs];
        ok(local(args), 'local install again');
        const server = await remote(args);
        ok(server, 'remote install again');
        assert.match(server.stdout + server.stderr, /Deployment 'web' is already installed/);
      }
      // Another blueprint, or other inputs: refused with what differs, as locally (the way to change
      // it aside: a file locally, a stored blueprint with a server).
      for (const [args, differs] of [
        [
          ['install', 'app-v2/blueprint.yaml', '-d', 'web'],
          /^ {2}files: changed blueprint\.yaml\n {2}nodes: added cache$/m,
        ],
        [['install', 'app/blueprint.yaml', '-d', 'web', '-i', 'port=82'], /^ {2}inputs changed: port$/m],
      ] as const) {
        const own = local([...args]);
        const server = await remote([...args]);
        assert.equal(own.code, 2, own.stderr);
        assert.equal(server.code, 2, server.stderr);
        assert.match(server.stderr, differs);
        const lines = (text: string) => text.trimEnd().split('\n');
        assert.deepEqual(lines(server.stderr).slice(0, -1), lines(own.stderr).slice(0, -1));
        assert.match(
          lines(server.stderr).at(-1)!,
          /^To change the deployment: weft blueprints upload \S+ --id ID, then weft update -b ID -d web /,
        );
      }
      assert.deepEqual(await workflows('web'), ['install'], 'nothing ran');
      // A HOT template with an environment naming a template: the same again, or the template changed.
      const hot = ['install', 'hot/template.yaml', '-d', 'hot', '-e', 'envs/env.yaml'];
      await both(hot);
      await both(hot);
      writeFiles(root, {
        'envs/thing.yaml': readFileSync(join(root, 'envs/thing.yaml'), 'utf8').replace('hi', 'ho'),
      });
      const ownHot = local(hot);
      const serverHot = await remote(hot);
      assert.equal(ownHot.code, 2, ownHot.stderr);
      assert.equal(serverHot.code, 2, serverHot.stderr);
      // The template the environment names is among the files sent to the server (not locally).
      assert.match(serverHot.stderr, /^ {2}nodes: changed thing\.v$/m);
      assert.match(ownHot.stderr, /^ {2}nodes: changed thing\.v$/m);
      assert.deepEqual(await workflows('hot'), ['install']);
      assert.deepEqual(await outputs('web'), { port: 81 }, 'nothing changed');
      // The blueprints are compared without being stored: only the one hot's install made is added.
      assert.deepEqual(await stored(), [...storedBefore, 'hot'].sort());
      // Through the API: PUT of the deployment again is answered unchanged, or refused with what differs.
      const same = await api('PUT', '/deployments/web', { blueprintId: 'web', inputs: { port: 81 } });
      assert.equal(same.status, 200, JSON.stringify(same.body));
      const other = await api('PUT', '/deployments/web', { blueprintId: 'web', inputs: { port: 82 } });
      assert.equal(other.status, 409);
      assert.deepEqual((other.body.details as { inputs: string[] }).inputs, ['port']);

      // An install that failed is continued with the same blueprint and inputs, remotely as locally.
      const marker = join(root, 'marker');
      const gated = ['install', 'gated/blueprint.yaml', '-d', 'gated', '-i', `marker=${marker}`];
      assert.equal(local(gated).code, 1);
      assert.equal((await remote(gated)).code, 1);
      const changed = await remote([
        'install',
        'gated/blueprint.yaml',
        '-d',
        'gated',
        '-i',
        'marker=/elsewhere',
      ]);
      assert.equal(changed.code, 2, changed.stderr);
      assert.match(changed.stderr, /inputs changed: marker/);
      writeFileSync(marker, '');
      ok(local(gated), 'local install continued');
      ok(await remote(gated), 'remote install continued');
      assert.deepEqual(await workflows('gated'), ['install'], 'the same install, continued');
    },
  );

  await t.test(
    'exec rollback after an install that failed uninstalls what it created, remotely (CLI and API) as locally',
    async () => {
      const failing = [
        'install',
        'gated/blueprint.yaml',
        '-d',
        'undone',
        '-i',
        `marker=${join(root, 'none')}`,
      ];
      assert.equal(local(failing).code, 1);
      assert.equal((await remote(failing)).code, 1);
      const own = local(['exec', 'rollback', '-d', 'undone']);
      ok(own, 'local rollback');
      const server = await remote(['exec', 'rollback', '-d', 'undone']);
      ok(server, 'remote rollback');
      for (const run of [own, server])
        assert.match(
          run.stdout + run.stderr,
          /Rolling back the unfinished install of deployment 'undone': uninstalling what it created/,
        );
      assert.deepEqual(await workflows('undone'), ['install', 'uninstall']);
      // The API's rollback route decides the same: the install is still the last one that failed.
      const started = await api('POST', '/deployments/undone/rollback', {});
      assert.equal(started.status, 201, JSON.stringify(started.body));
      assert.equal(started.body.workflow, 'uninstall');
      assert.equal((await ended(started.body.id as string)).status, 'terminated');
      assert.deepEqual(await workflows('undone'), ['install', 'uninstall', 'uninstall']);
    },
  );
});
