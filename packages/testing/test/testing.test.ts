import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { InProcessOperation, Json } from '@weft/engine';
import { NonRecoverableError, type OperationContext, OperationRetry, operation, WeftError } from '@weft/sdk';
import {
  findPluginYaml,
  mockContext,
  type WorkflowTestEnv,
  WorkflowTestError,
  type WorkflowTestOptions,
  workflowTest,
} from '../src/index.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');
const inprocess = join(fixtures, 'inprocess', 'blueprint.yaml');
const moduleBlueprint = join(fixtures, 'module', 'blueprint.yaml');
const pluginPkg = join(fixtures, 'plugin-pkg');

/** Test directories this file created, removed at the end whatever happened. */
const scratch: string[] = [];
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-testing-scratch-'));
  scratch.push(dir);
  return dir;
}

/** Runs `body` with a workflowTest environment that is always closed. */
async function withEnv<T>(
  blueprint: string,
  options: WorkflowTestOptions,
  body: (env: WorkflowTestEnv) => Promise<T>,
): Promise<T> {
  const env = await workflowTest(blueprint, options);
  scratch.push(env.dir);
  try {
    return await body(env);
  } finally {
    await env.close();
  }
}

/** In-process operations for the inprocess fixture, recording `node.operation` calls. */
function demoOperations(calls: string[]): Record<string, InProcessOperation> {
  const record = (fn: InProcessOperation): InProcessOperation => {
    return (ctx, inputs) => {
      calls.push(`${ctx.node.name}.${ctx.operation.name.split('.').pop()}`);
      return fn(ctx, inputs);
    };
  };
  return {
    'demo.create': record((ctx) => {
      ctx.instance.runtimeProperties.config = readFileSync(
        join(ctx.blueprint.dir, 'files', 'config.txt'),
        'utf8',
      ).trim();
    }),
    'demo.start': record((ctx) => {
      ctx.instance.runtimeProperties.started = true;
      ctx.logger.info(`listening on ${ctx.node.properties.port}`);
    }),
    'demo.stop': record((ctx) => {
      ctx.instance.runtimeProperties.started = false;
    }),
    'demo.delete': record(() => undefined),
    'demo.link': record((ctx) => {
      ctx.source!.instance.runtimeProperties.server = ctx.target!.instance.id;
    }),
    'demo.configure': record((ctx, inputs) => {
      ctx.instance.runtimeProperties.message = inputs.message as Json;
    }),
    'demo.touch': record((ctx, inputs) => {
      ctx.instance.runtimeProperties.mark = inputs.mark as Json;
    }),
  };
}

describe('mockContext', () => {
  test('gives a full context with the options and defaults', () => {
    const properties = { port: 8080, tags: ['a'] };
    const ctx = mockContext({
      nodeId: 'web',
      nodeType: 'my.nodes.Web',
      properties,
      runtimeProperties: { pid: 1 },
      instanceId: 'web_x1',
      deploymentId: 'dep1',
      executionId: 'ex1',
      operation: 'cloudify.interfaces.lifecycle.start',
      retryNumber: 2,
      maxRetries: 7,
    });
    const plain: OperationContext = ctx;
    assert.equal(plain.node.id, 'web');
    assert.equal(ctx.node.name, 'web');
    assert.equal(ctx.node.type, 'my.nodes.Web');
    assert.deepEqual(ctx.node.typeHierarchy, ['cloudify.nodes.Root', 'my.nodes.Web']);
    assert.deepEqual(ctx.node.properties, properties);
    assert.equal(ctx.instance.id, 'web_x1');
    assert.equal(ctx.instance.node, 'web');
    assert.equal(ctx.instance.index, 1);
    assert.deepEqual(ctx.instance.runtimeProperties, { pid: 1 });
    assert.equal(ctx.deployment.id, 'dep1');
    assert.deepEqual(ctx.execution, { id: 'ex1', workflow: 'install' });
    assert.equal(ctx.operation.name, 'cloudify.interfaces.lifecycle.start');
    assert.equal(ctx.operation.retryNumber, 2);
    assert.equal(ctx.operation.maxRetries, 7);
    assert.equal(ctx.source, undefined);
    assert.equal(ctx.target, undefined);
    assert.equal(ctx.signal.aborted, false);
    // Copies: the operation cannot change the test's own objects.
    (ctx.node.properties.tags as string[]).push('b');
    assert.deepEqual(properties.tags, ['a']);

    const bare = mockContext();
    assert.equal(bare.node.name, 'test_node');
    assert.equal(bare.node.id, 'test_node');
    assert.deepEqual(bare.node.typeHierarchy, ['cloudify.nodes.Root']);
    assert.equal(bare.instance.id, 'test_node_1');
    assert.equal(bare.operation.name, 'cloudify.interfaces.lifecycle.create');
    assert.equal(bare.operation.retryNumber, 0);
    assert.equal(bare.blueprint.dir, process.cwd());
  });

  test('ctx.instance.update refuses keys that reach the shared prototypes, saving nothing', async () => {
    const ctx = mockContext({ runtimeProperties: { keep: true } });
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const changes = JSON.parse(`{"${key}": {"polluted": "yes"}}`) as Record<string, Json>;
      await assert.rejects(
        async () => operation(async (c) => c.instance.update(changes))(ctx, {}),
        (error: Error) =>
          error instanceof NonRecoverableError &&
          error.message ===
            `ctx.instance.update: '${key}' cannot be a key: it would reach the prototype every object shares`,
      );
    }
    assert.deepEqual(ctx.mock.updates, []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('records logs, update snapshots and the final runtime properties', async () => {
    const op = operation(async (ctx) => {
      ctx.logger.debug('starting');
      ctx.instance.runtimeProperties.step = 1;
      await ctx.instance.update();
      ctx.instance.runtimeProperties.nested = { list: [1] };
      await ctx.instance.update({ step: 2 }); // merged, then saved
      (ctx.instance.runtimeProperties.nested as { list: number[] }).list.push(2);
      ctx.logger.info(`port ${ctx.node.properties.port}`);
      ctx.logger.warning('careful');
      ctx.logger.error('oops');
      return 'done';
    });
    const ctx = mockContext({ nodeName: 'web', properties: { port: 80 }, runtimeProperties: { keep: true } });
    assert.equal(await op(ctx, {}), 'done');
    assert.deepEqual(ctx.mock.logs, [
      { level: 'debug', message: 'starting' },
      { level: 'info', message: 'port 80' },
      { level: 'warning', message: 'careful' },
      { level: 'error', message: 'oops' },
    ]);
    assert.deepEqual(ctx.mock.messages('info'), ['port 80']);
    assert.equal(ctx.mock.messages().length, 4);
    assert.deepEqual(ctx.mock.updates, [
      { instanceId: 'web_1', runtimeProperties: { keep: true, step: 1 } },
      { instanceId: 'web_1', runtimeProperties: { keep: true, step: 2, nested: { list: [1] } } },
    ]);
    assert.deepEqual(ctx.mock.runtimeProperties, { keep: true, step: 2, nested: { list: [1, 2] } });
    assert.equal(ctx.mock.retried, undefined);
  });

  test('retry throws OperationRetry and is recorded', async () => {
    const poll = operation(async (ctx) => {
      if (ctx.operation.retryNumber < 3) ctx.operation.retry(`not ready (${ctx.operation.retryNumber})`, 10);
      ctx.instance.runtimeProperties.ready = true;
    });
    const first = mockContext();
    await assert.rejects(
      async () => poll(first, {}),
      (error: unknown) => error instanceof OperationRetry && error.after === 10,
    );
    assert.deepEqual(first.mock.retried, { message: 'not ready (0)', afterSeconds: 10 });
    assert.equal(first.mock.runtimeProperties.ready, undefined);

    const noDelay = mockContext();
    assert.throws(() => noDelay.operation.retry('again'), OperationRetry);
    assert.deepEqual(noDelay.mock.retried, { message: 'again', afterSeconds: undefined });

    const last = mockContext({ retryNumber: 3 });
    await poll(last, {});
    assert.equal(last.mock.retried, undefined);
    assert.equal(last.mock.runtimeProperties.ready, true);
  });

  test('relationship operations get both ends; the operation runs on the source by default', async () => {
    const link = async (ctx: OperationContext) => {
      ctx.source!.instance.runtimeProperties.db = ctx.target!.node.properties.host as Json;
      ctx.target!.instance.runtimeProperties.clients = [ctx.source!.instance.id];
      await ctx.target!.instance.update();
    };
    const ctx = mockContext({
      relationship: {
        source: { nodeName: 'app', properties: { name: 'a' } },
        target: {
          nodeName: 'db',
          nodeType: 'my.Db',
          instanceId: 'db_7',
          properties: { host: '10.0.0.1' },
          runtimeProperties: { up: true },
        },
      },
    });
    await link(ctx);
    assert.equal(ctx.operation.name, 'cloudify.interfaces.relationship_lifecycle.establish');
    assert.equal(ctx.node, ctx.source!.node);
    assert.equal(ctx.instance, ctx.source!.instance);
    assert.equal(ctx.node.name, 'app');
    assert.equal(ctx.target!.node.type, 'my.Db');
    assert.deepEqual(ctx.mock.runtimeProperties, { db: '10.0.0.1' });
    assert.deepEqual(ctx.target!.instance.runtimeProperties, { up: true, clients: ['app_1'] });
    assert.deepEqual(ctx.mock.updates, [
      { instanceId: 'db_7', runtimeProperties: { up: true, clients: ['app_1'] } },
    ]);

    // On the target side, top-level options describe the target end.
    const onTarget = mockContext({
      nodeName: 'db',
      runtimeProperties: { port: 5432 },
      operation: 'cloudify.interfaces.relationship_lifecycle.postconfigure',
      relationship: { side: 'target', source: { nodeName: 'app' }, target: { instanceId: 'db_9' } },
    });
    assert.equal(onTarget.instance, onTarget.target!.instance);
    assert.equal(onTarget.node.name, 'db');
    assert.equal(onTarget.instance.id, 'db_9');
    assert.deepEqual(onTarget.instance.runtimeProperties, { port: 5432 });
    assert.equal(onTarget.source!.node.name, 'app');
    assert.equal(onTarget.operation.name, 'cloudify.interfaces.relationship_lifecycle.postconfigure');
  });

  test('host gives ctx.host, whose instance saves as the others do', async () => {
    const ctx = mockContext({
      nodeName: 'app',
      containedIn: 'vm_1',
      host: { nodeName: 'vm', nodeType: 'cloudify.nodes.Compute', runtimeProperties: { ip: '10.0.0.9' } },
    });
    assert.equal(ctx.host?.node.name, 'vm');
    assert.deepEqual(ctx.host?.node.typeHierarchy, ['cloudify.nodes.Root', 'cloudify.nodes.Compute']);
    assert.equal(ctx.host?.instance.id, 'vm_1');
    await ctx.host?.instance.update({ seen: true });
    assert.deepEqual(ctx.mock.updates, [
      { instanceId: 'vm_1', runtimeProperties: { ip: '10.0.0.9', seen: true } },
    ]);
    assert.equal(mockContext().host, undefined);
  });

  test('abort fires the signal', () => {
    const ctx = mockContext();
    ctx.mock.abort();
    assert.equal(ctx.signal.aborted, true);
    const controller = new AbortController();
    assert.equal(mockContext({ signal: controller.signal }).signal, controller.signal);
  });

  test('unit-tests a plugin module function', async () => {
    const plugin = (await import(pathToFileURL(join(fixtures, 'module', 'plugin', 'index.mjs')).href)) as {
      create: (ctx: OperationContext) => void;
    };
    const ok = mockContext({ nodeName: 'greeting', properties: { name: 'Ada', fail: false } });
    plugin.create(ok);
    assert.deepEqual(ok.mock.runtimeProperties, { text: 'hello, Ada' });
    assert.deepEqual(ok.mock.logs, [{ level: 'info', message: 'greeted Ada' }]);
    const bad = mockContext({ properties: { name: 'Ada', fail: true } });
    assert.throws(() => plugin.create(bad), NonRecoverableError);
  });
});

describe('workflowTest', () => {
  test('runs install and uninstall with in-process operations', async () => {
    const calls: string[] = [];
    const events: string[] = [];
    await withEnv(
      inprocess,
      { inputs: { name: 'Ada' }, operations: demoOperations(calls), onEvent: (e) => events.push(e.type) },
      async (env) => {
        assert.ok(existsSync(join(env.dir, 'blueprint.yaml')));
        assert.equal(env.blueprintPath, join(env.dir, 'blueprint.yaml'));
        assert.equal(env.deploymentId, 'test');
        // The whole blueprint directory was copied.
        assert.ok(existsSync(join(env.dir, 'extra.txt')));
        assert.ok(existsSync(join(env.dir, 'files', 'config.txt')));

        const install = await env.execute('install');
        assert.equal(install.status, 'terminated', JSON.stringify(install.error));
        assert.equal(install.workflow, 'install');
        assert.deepEqual(calls, ['server.create', 'server.start', 'app.preconfigure', 'app.configure']);
        const [server] = await env.instances('server');
        const [app] = await env.instances('app');
        assert.equal(server?.state, 'started');
        assert.deepEqual(server?.runtimeProperties, { config: 'setting=from-files', started: true });
        assert.deepEqual(app?.runtimeProperties, { server: server!.id, message: 'Hello, Ada' });
        assert.equal((await env.instances()).length, 2);
        assert.deepEqual(await env.outputs(), {
          url: 'http://localhost:8080',
          message: 'Hello, Ada',
          server_started: true,
        });
        const installEvents = await env.events(install.id);
        assert.ok(installEvents.some((e) => e.type === 'log' && e.message === 'listening on 8080'));
        assert.ok(installEvents.every((e) => e.executionId === install.id));
        assert.ok(events.includes('task_succeeded'));

        calls.length = 0;
        const uninstall = await env.execute('uninstall');
        assert.equal(uninstall.status, 'terminated', JSON.stringify(uninstall.error));
        assert.deepEqual(calls, ['server.stop', 'server.delete']);
        for (const instance of await env.instances()) assert.equal(instance.state, 'deleted');
        const all = await env.events();
        assert.ok(all.some((e) => e.executionId === install.id));
        assert.ok(all.some((e) => e.executionId === uninstall.id));
        assert.deepEqual((await env.store.listExecutions(env.deploymentId)).map((e) => e.workflow).sort(), [
          'install',
          'uninstall',
        ]);
      },
    );
  });

  test('close removes the directory and can be called twice', async () => {
    const env = await workflowTest(inprocess, { inputs: { name: 'x' }, operations: {} });
    assert.ok(existsSync(env.dir));
    await env.close();
    assert.equal(existsSync(env.dir), false);
    await env.close();
  });

  test('inputs may be an async function, called with the test directory', async () => {
    let seen: { dir: string; blueprintPath: string } | undefined;
    await withEnv(
      inprocess,
      {
        operations: demoOperations([]),
        inputs: async (context) => {
          seen = context;
          assert.ok(existsSync(context.blueprintPath));
          await new Promise((r) => setTimeout(r, 5));
          return { name: 'Grace', greeting: 'Hi' };
        },
      },
      async (env) => {
        assert.deepEqual(seen, { dir: env.dir, blueprintPath: env.blueprintPath });
        assert.equal((await env.execute('install')).status, 'terminated');
        assert.equal((await env.outputs()).message, 'Hi, Grace');
        const stored = await env.store.getDeployment(env.deploymentId);
        assert.deepEqual(stored?.inputs, { name: 'Grace', greeting: 'Hi' });
      },
    );
    await withEnv(inprocess, { operations: {}, inputs: () => ({ name: 'sync' }) }, async (env) => {
      assert.equal((await env.store.getDeployment(env.deploymentId))?.inputs.name, 'sync');
    });
  });

  test('a blueprint that cannot be deployed is an error, and leaves no directory behind', async () => {
    const parent = scratchDir();
    const prefix = join(parent, 'bad-');
    await assert.rejects(
      workflowTest(inprocess, { tempDirPrefix: prefix, operations: {} }),
      (error: unknown) =>
        error instanceof WorkflowTestError &&
        error instanceof WeftError &&
        error.code === 'workflow_test' &&
        error.kind === 'usage' &&
        /cannot deploy/.test(error.message) &&
        /name/.test(error.message) &&
        error.problems.length > 0,
    );
    assert.deepEqual(readdirSync(parent), []);
    await assert.rejects(workflowTest(join(fixtures, 'nope.yaml')), /blueprint .*nope\.yaml not found/);
  });

  test('tempDirPrefix names the directory', async () => {
    await withEnv(
      inprocess,
      { inputs: { name: 'x' }, operations: {}, tempDirPrefix: 'my-plugin-' },
      async (env) => {
        assert.match(basename(env.dir), /^my-plugin-/);
        assert.equal(dirname(env.dir), tmpdir());
      },
    );
    const parent = scratchDir();
    await withEnv(
      inprocess,
      { inputs: { name: 'x' }, operations: {}, tempDirPrefix: join(parent, 'abs-') },
      async (env) => {
        assert.equal(dirname(env.dir), parent);
        assert.match(basename(env.dir), /^abs-/);
      },
    );
  });

  test('resourcesToCopy copies only the blueprint and the listed files, in both forms', async () => {
    await withEnv(
      inprocess,
      {
        inputs: { name: 'x' },
        operations: demoOperations([]),
        resourcesToCopy: [
          'extra.txt',
          join(fixtures, 'inprocess', 'files'),
          ['files/config.txt', 'nested/deeper/config-copy.txt'],
          [join(fixtures, 'module', 'plugin'), 'vendor/plugin'],
        ],
      },
      async (env) => {
        assert.deepEqual(readdirSync(env.dir).sort(), [
          '.weft',
          'blueprint.yaml',
          'extra.txt',
          'files',
          'nested',
          'vendor',
        ]);
        assert.equal(readFileSync(join(env.dir, 'extra.txt'), 'utf8'), 'extra\n');
        assert.ok(existsSync(join(env.dir, 'files', 'config.txt')));
        assert.equal(
          readFileSync(join(env.dir, 'nested', 'deeper', 'config-copy.txt'), 'utf8'),
          'setting=from-files\n',
        );
        assert.ok(existsSync(join(env.dir, 'vendor', 'plugin', 'index.mjs')));
        assert.equal((await env.execute('install')).status, 'terminated');
      },
    );
    // Without files/ the create operation cannot read its config: the copy really is selective.
    await withEnv(
      inprocess,
      { inputs: { name: 'x' }, operations: demoOperations([]), resourcesToCopy: [], taskRetries: 0 },
      async (env) => {
        assert.deepEqual(readdirSync(env.dir).sort(), ['.weft', 'blueprint.yaml']);
        const run = await env.execute('install');
        assert.equal(run.status, 'failed');
        assert.match(JSON.stringify(run.error), /config\.txt/);
      },
    );
  });

  test('resourcesToCopy refuses a destination outside the test directory or a missing source', async () => {
    await assert.rejects(
      workflowTest(inprocess, { inputs: { name: 'x' }, resourcesToCopy: [['extra.txt', '../escaped.txt']] }),
      /outside the test directory/,
    );
    await assert.rejects(
      workflowTest(inprocess, { inputs: { name: 'x' }, resourcesToCopy: ['missing.txt'] }),
      /missing\.txt: it does not exist/,
    );
  });

  test('copying the blueprint directory leaves out node_modules and .git', async () => {
    const source = scratchDir();
    writeFileSync(join(source, 'bp.yaml'), readFileSync(moduleBlueprint));
    mkdirSync(join(source, 'plugin'));
    writeFileSync(
      join(source, 'plugin', 'index.mjs'),
      'export function create() {}\nexport function remove() {}\n',
    );
    for (const skipped of ['node_modules', '.git']) {
      mkdirSync(join(source, skipped));
      writeFileSync(join(source, skipped, 'big'), 'x');
    }
    await withEnv(join(source, 'bp.yaml'), {}, async (env) => {
      assert.deepEqual(readdirSync(env.dir).sort(), ['.weft', 'bp.yaml', 'plugin']);
      assert.equal((await env.execute('install')).status, 'terminated');
    });
  });

  test('runs operations through the blueprint plugin module', async () => {
    await withEnv(moduleBlueprint, { inputs: { name: 'Ada' } }, async (env) => {
      const install = await env.execute('install');
      assert.equal(install.status, 'terminated', JSON.stringify(install.error));
      assert.deepEqual(await env.outputs(), { text: 'hello, Ada' });
      const logs = (await env.events(install.id)).filter((e) => e.type === 'log').map((e) => e.message);
      assert.deepEqual(logs, ['greeted Ada']);
      const uninstall = await env.execute('uninstall');
      assert.equal(uninstall.status, 'terminated');
      const [greeting] = await env.instances('greeting');
      assert.equal(greeting?.state, 'deleted');
      assert.deepEqual(greeting?.runtimeProperties, {});
    });
  });

  test('a failing operation gives a failed execution', async () => {
    // A NonRecoverableError from a plugin module fails at once.
    await withEnv(moduleBlueprint, { inputs: { fail: true } }, async (env) => {
      const run = await env.execute('install');
      assert.equal(run.status, 'failed');
      const error = run.error as { message: string; causes: { message: string }[] };
      assert.match(error.message, /greeting refused/);
      assert.deepEqual(
        error.causes.map((c) => c.message),
        ['fail was set'],
      );
      const failed = (await env.events(run.id)).filter((e) => e.type === 'task_failed');
      assert.equal(failed.length, 1);
      assert.equal((await env.instances('greeting'))[0]?.state, 'creating');
    });
    // A plain error is retried taskRetries times (without waiting), then fails.
    let attempts = 0;
    await withEnv(
      inprocess,
      {
        inputs: { name: 'x' },
        taskRetries: 2,
        operations: {
          ...demoOperations([]),
          'demo.start': () => {
            attempts++;
            throw new Error('port in use');
          },
        },
      },
      async (env) => {
        const started = Date.now();
        const run = await env.execute('install');
        assert.equal(run.status, 'failed');
        assert.match((run.error as { message: string }).message, /port in use/);
        assert.equal(attempts, 3);
        assert.ok(Date.now() - started < 2500, 'retries do not wait by default');
        const rescheduled = (await env.events(run.id)).filter((e) => e.type === 'task_rescheduled');
        assert.equal(rescheduled.length, 2);
        // Parameters given to execute win over the defaults.
        attempts = 0;
        const again = await env.execute('install', { task_retries: 0 });
        assert.equal(again.status, 'failed');
        assert.equal(attempts, 1);
      },
    );
  });

  test('an operation missing from `operations` fails its task', async () => {
    await withEnv(inprocess, { inputs: { name: 'x' }, operations: {} }, async (env) => {
      const run = await env.execute('install');
      assert.equal(run.status, 'failed');
      assert.match(JSON.stringify(run.error), /no in-process function 'demo\.create'/);
    });
  });

  test('runs a custom workflow given in `workflows`', async () => {
    await withEnv(
      inprocess,
      {
        inputs: { name: 'x' },
        operations: demoOperations([]),
        workflows: {
          'demo.touch_all': (ctx) => {
            const server = ctx.node('server')!.instances[0]!;
            server.executeOperation('demo.ops.touch', { kwargs: { mark: ctx.parameters.mark as Json } });
          },
        },
      },
      async (env) => {
        const run = await env.execute('touch_all', { mark: 'custom' });
        assert.equal(run.status, 'terminated', JSON.stringify(run.error));
        assert.equal((await env.instances('server'))[0]?.runtimeProperties.mark, 'custom');
      },
    );
  });

  test('copyPluginYaml finds plugin.yaml above the calling test file', async () => {
    const { setUp } = (await import(pathToFileURL(join(pluginPkg, 'tests', 'setup.mjs')).href)) as {
      setUp: (options?: WorkflowTestOptions) => Promise<WorkflowTestEnv>;
    };
    const env = await setUp({ inputs: { content: 'written by a test' } });
    scratch.push(env.dir);
    try {
      assert.equal(
        readFileSync(join(env.dir, 'plugin.yaml'), 'utf8'),
        readFileSync(join(pluginPkg, 'plugin.yaml'), 'utf8'),
      );
      assert.ok(existsSync(join(env.dir, 'blueprint.yaml')));
      const install = await env.execute('install');
      assert.equal(install.status, 'terminated', JSON.stringify(install.error));
      const note = join(env.dir, 'note.txt');
      assert.equal(readFileSync(note, 'utf8'), 'written by a test');
      assert.deepEqual(await env.outputs(), { path: note });
      assert.equal((await env.execute('uninstall')).status, 'terminated');
      assert.equal(existsSync(note), false);
    } finally {
      await env.close();
    }
  });

  test('copyPluginYaml with pluginYamlFrom, together with resourcesToCopy', async () => {
    await withEnv(
      join(pluginPkg, 'tests', 'blueprint.yaml'),
      { copyPluginYaml: true, pluginYamlFrom: join(pluginPkg, 'tests'), resourcesToCopy: [] },
      async (env) => {
        assert.deepEqual(readdirSync(env.dir).sort(), ['.weft', 'blueprint.yaml', 'plugin.yaml']);
        assert.equal((await env.execute('install')).status, 'terminated');
        assert.equal(readFileSync(join(env.dir, 'note.txt'), 'utf8'), 'hi');
      },
    );
  });

  test('copyPluginYaml without a plugin.yaml is an error; without it the import is missing', async () => {
    const empty = scratchDir();
    await assert.rejects(
      workflowTest(join(pluginPkg, 'tests', 'blueprint.yaml'), {
        copyPluginYaml: true,
        pluginYamlFrom: empty,
      }),
      /copyPluginYaml: no plugin\.yaml in .* or any directory above it/,
    );
    // This test file has no plugin.yaml above it either.
    assert.equal(findPluginYaml(dirname(fileURLToPath(import.meta.url))), undefined);
    await assert.rejects(
      workflowTest(join(pluginPkg, 'tests', 'blueprint.yaml'), { copyPluginYaml: true }),
      /no plugin\.yaml/,
    );
    await assert.rejects(
      workflowTest(join(pluginPkg, 'tests', 'blueprint.yaml')),
      (error: unknown) => error instanceof WorkflowTestError && /plugin\.yaml/.test(error.message),
    );
    assert.equal(findPluginYaml(join(pluginPkg, 'tests', 'blueprint.yaml')), join(pluginPkg, 'plugin.yaml'));
  });
});

test('mockContext serves the blueprint directory as resources, rendered with ctx', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-mock-res-'));
  writeFileSync(
    join(dir, 'conf.tpl'),
    'port={{ctx.node.properties.port}} id={{ctx.instance.id}} bp={{ctx.blueprint.id}} x={{x}}',
  );
  const ctx = mockContext({
    nodeName: 'web',
    properties: { port: 8080 },
    blueprintDir: dir,
    plugin: { name: 'webserver' },
    blueprintId: 'site',
  });
  // The engine's ctx: templates see what they see under the engine (the blueprint too).
  assert.equal(await ctx.getResourceAndRender('conf.tpl', { x: 1 }), 'port=8080 id=web_1 bp=site x=1');
  assert.equal(ctx.plugin.name, 'webserver');
  assert.ok(existsSync(ctx.plugin.workdir));
  await assert.rejects(ctx.getResource('../outside'), /outside the blueprint's directory/);
});
