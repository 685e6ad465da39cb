import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createDeployment, startExecution } from '../src/deployment/deployments.js';
import { Executor } from '../src/executor/executor.js';
import { fileSystemReader } from '../src/io/fs-reader.js';
import type { DeploymentModel } from '../src/model/deployment-model.js';
import { WorkerDispatcher } from '../src/runtime/worker-dispatcher.js';
import { openStore } from '../src/store/index.js';
import type { EventRecord } from '../src/store/types.js';

const fixture = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'misbehaving');
const dispatchers: WorkerDispatcher[] = [];
after(async () => {
  await Promise.all(dispatchers.map((d) => d.close()));
});

/** A deployment with one instance per given operation, each run as its node's create. */
/**
 * Whether process `pid` ends (or is a zombie: nothing here reaps orphans) within `ms`. SIGKILL
 * takes effect a moment after it is sent, so the process table is watched until then.
 */
async function ended(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    let state: string | undefined;
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    } catch {
      return true;
    }
    if (state === 'Z') return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Per node, the function its create runs, with a timeout of its own where given (seconds). */
async function run(
  operations: Record<string, string | { fn: string; timeout: number }>,
  options: {
    timeout?: number;
    memoryLimitMb?: number;
    operationsPerWorker?: number;
    pluginMemoryMb?: number;
  } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'weft-host-'));
  cpSync(join(fixture, 'plugin.mjs'), join(dir, 'plugin.mjs'));
  writeFileSync(join(dir, 'greeting.txt'), 'hello {{who}} from {{ctx.deployment.id}}');
  const templates = Object.entries(operations)
    .map(([node, operation]) => {
      const { fn, timeout } =
        typeof operation === 'string' ? { fn: operation, timeout: options.timeout } : operation;
      return `  ${node}:
    type: cloudify.nodes.Root
    interfaces:
      cloudify.interfaces.lifecycle:
        create: {implementation: bad.${fn}${timeout ? `, timeout: ${timeout}` : ''}, inputs: {value: 7}}`;
    })
    .join('\n');
  writeFileSync(
    join(dir, 'blueprint.yaml'),
    `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  bad: {executor: central_deployment_agent, source: plugin.mjs}
node_templates:
${templates}
`,
  );
  const store = await openStore(join(dir, 'weft.db'));
  await store.migrate();
  const created = await createDeployment({
    store,
    reader: fileSystemReader(),
    blueprintPath: join(dir, 'blueprint.yaml'),
    deploymentId: 'dep',
  });
  assert.ok(created.deployment, JSON.stringify(created.problems.problems));
  const dispatcher = new WorkerDispatcher(created.deployment.model as unknown as DeploymentModel, {
    memoryLimitMb: options.memoryLimitMb ?? 256,
    plugins: new Map([
      [
        'bad',
        {
          operationsPerWorker: options.operationsPerWorker ?? 1,
          ...(options.pluginMemoryMb !== undefined && { memoryLimitMb: options.pluginMemoryMb }),
        },
      ],
    ]),
  });
  dispatchers.push(dispatcher);
  await dispatcher.load();
  const events: EventRecord[] = [];
  const executor = new Executor({ store, dispatcher, onEvent: (e) => events.push(e) });
  const execution = await startExecution({
    store,
    dispatcher,
    deploymentId: 'dep',
    workflow: 'install',
    parameters: { task_retries: 0, ignore_failure: false },
    allowCustomParameters: true,
  });
  const result = await executor.run(execution.id);
  const failures = new Map(events.filter((e) => e.type === 'task_failed').map((e) => [e.node!, e]));
  return { result, events, failures, store, dispatcher };
}

describe('plugin host: operations run in worker processes', () => {
  test('an operation runs in another process; ctx updates, logs and printed lines reach the engine', async () => {
    const loadLog = join(mkdtempSync(join(tmpdir(), 'weft-load-')), 'pids');
    process.env.WEFT_TEST_LOAD_LOG = loadLog;
    let ran: Awaited<ReturnType<typeof run>>;
    try {
      ran = await run({ good: 'ok' });
    } finally {
      delete process.env.WEFT_TEST_LOAD_LOG;
    }
    const { result, events, store } = ran;
    // The plugin module was imported by its worker only: the engine never ran its top-level code.
    const loadedIn = readFileSync(loadLog, 'utf8').trim().split('\n').map(Number);
    assert.equal(loadedIn.length, 1);
    assert.notEqual(loadedIn[0], process.pid);
    assert.equal(result.status, 'terminated', JSON.stringify(result.error));
    const [instance] = await store.listInstances('dep');
    assert.notEqual(instance!.runtimeProperties.pid, process.pid);
    // Where util-linux's chrt is, the worker runs as SCHED_BATCH (policy 3; 0 is SCHED_OTHER), so
    // that waking it does not take the engine's processor from the engine in mid-turn.
    const stat = readFileSync(`/proc/${instance!.runtimeProperties.pid}/stat`, 'utf8');
    const policy = Number(stat.replace(/^.*\) /s, '').split(' ')[38]);
    assert.equal(policy, ['/usr/bin/chrt', '/bin/chrt'].some((path) => existsSync(path)) ? 3 : 0);
    assert.deepEqual(instance!.runtimeProperties.nested, { value: 7 });
    assert.equal(instance!.runtimeProperties.after, true);
    const logs = events.filter((e) => e.type === 'log').map((e) => e.message);
    assert.ok(logs.includes(`pid ${instance!.runtimeProperties.pid}`), logs.join(' | '));
    assert.ok(
      logs.some((l) => l.startsWith('stdout line from good_')),
      logs.join(' | '),
    );
  });

  test('a throw, a rejection, process.exit and a crash in a timer fail only their own tasks', async () => {
    const { result, failures, store } = await run({
      t: 'throws',
      r: 'rejects',
      e: 'exits',
      c: 'timerCrash',
      fine: 'ok',
    });
    assert.equal(result.status, 'failed');
    assert.match(failures.get('t')?.message ?? '', /bad argument/);
    assert.match(failures.get('r')?.message ?? '', /rejected later/);
    assert.match(
      failures.get('e')?.message ?? '',
      /the plugin process exited with code 3 during cloudify\.interfaces\.lifecycle\.create/,
    );
    assert.match(failures.get('c')?.message ?? '', /the plugin process exited with code 1/);
    assert.match(JSON.stringify(failures.get('c')?.data), /thrown from a timer/);
    // The engine lived on, and a healthy operation next to them succeeded.
    const fine = (await store.listInstances('dep')).find((i) => i.node === 'fine');
    assert.equal(fine?.state !== 'uninitialized' && typeof fine?.runtimeProperties.pid, 'number');
  });

  test('quick operations are served by one worker, brief ones by several, operations that run long get one each', {
    timeout: 60_000,
  }, async () => {
    const workersOf = async (fn: string) => {
      const ran = await run(Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`n${i}`, fn])));
      assert.equal(ran.result.status, 'terminated', JSON.stringify(ran.result.error));
      return new Set((await ran.store.listInstances('dep')).map((i) => i.runtimeProperties.pid)).size;
    };
    // A second worker would cost its start-up and compiling the same code again, and save nothing.
    assert.equal(await workersOf('quick'), 1);
    // Operations that are not quick get a worker per processor once three have ended.
    const brief = await workersOf('brief');
    assert.ok(brief >= Math.min(2, availableParallelism()), `${brief} worker processes`);
    // Six operations that end only once all six run at once, each in a worker of its own.
    process.env.WEFT_TEST_RENDEZVOUS = mkdtempSync(join(tmpdir(), 'weft-rendezvous-'));
    process.env.WEFT_TEST_RENDEZVOUS_COUNT = '6';
    try {
      const long = await run(
        Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`r${i}`, 'rendezvous'])),
      );
      assert.equal(long.result.status, 'terminated', JSON.stringify(long.result.error));
      const own = new Set((await long.store.listInstances('dep')).map((i) => i.runtimeProperties.pid));
      assert.equal(own.size, 6);
    } finally {
      delete process.env.WEFT_TEST_RENDEZVOUS;
      delete process.env.WEFT_TEST_RENDEZVOUS_COUNT;
    }
  });

  test('operations queued behind one that turns out slow are handed back and run on other workers', {
    timeout: 60_000,
  }, async () => {
    // Quick ones first: the pool takes its operations for quick and queues them on one worker. The
    // six after them end only once all six run at once, each in a process of its own: queued
    // behind the first of them, they would wait for it forever.
    const nodes: Record<string, string> = {};
    for (let i = 10; i < 22; i++) nodes[`q${i}`] = 'quick';
    for (let i = 0; i < 6; i++) nodes[`r${i}`] = 'rendezvous';
    process.env.WEFT_TEST_RENDEZVOUS = mkdtempSync(join(tmpdir(), 'weft-rendezvous-'));
    process.env.WEFT_TEST_RENDEZVOUS_COUNT = '6';
    try {
      const { result, store } = await run(nodes);
      assert.equal(result.status, 'terminated', JSON.stringify(result.error));
      const pids = (await store.listInstances('dep'))
        .filter((i) => i.node.startsWith('r'))
        .map((i) => i.runtimeProperties.pid);
      assert.equal(new Set(pids).size, 6);
    } finally {
      delete process.env.WEFT_TEST_RENDEZVOUS;
      delete process.env.WEFT_TEST_RENDEZVOUS_COUNT;
    }
  });

  test('what JSON cannot hold (a BigInt) fails the operation that handed it back, not the run', async () => {
    const { result, failures, store } = await run({ big: 'bigint', fine: 'ok' });
    assert.equal(result.status, 'failed');
    assert.match(
      failures.get('big')?.message ?? '',
      /what the operation handed back cannot be stored as JSON: .*BigInt/,
    );
    const fine = (await store.listInstances('dep')).find((i) => i.node === 'fine');
    assert.equal(typeof fine?.runtimeProperties.pid, 'number');
  });

  test('what a plugin prints is logged under the operation that printed it, in order, none lost', async () => {
    for (const perWorker of [1, 3]) {
      const { result, events } = await run(
        { a: 'prints', b: 'prints', c: 'prints' },
        { operationsPerWorker: perWorker },
      );
      assert.equal(result.status, 'terminated');
      for (const node of ['a', 'b', 'c']) {
        const mine = events.filter((e) => e.type === 'log' && e.node === node);
        const id = mine[0]?.instanceId;
        assert.deepEqual(
          mine.map((e) => [e.level, e.message]),
          [
            ['info', `out from ${id}`],
            ['warning', `err from ${id}`],
            ['info', `later from ${id}`],
            ['info', `no line end from ${id}`],
          ],
          `operations_per_worker ${perWorker}`,
        );
      }
    }
  });

  test('a leak past the memory limit fails the task; a hung operation is killed by its timeout', async () => {
    // The leak has no timeout: on a loaded machine filling 64 MB can take longer than the hang's.
    const { result, failures } = await run(
      { leak: 'leaks', hang: { fn: 'loops', timeout: 2 } },
      { memoryLimitMb: 64 },
    );
    assert.equal(result.status, 'failed');
    assert.match(
      failures.get('leak')?.message ?? '',
      /the plugin process ran out of memory \(heap limit 64 MB\) during/,
    );
    // One line of cause, not V8's dump.
    const causes = (failures.get('leak')!.data as { causes: { message: string; stack?: string }[] }).causes;
    assert.equal(causes.length, 1);
    assert.match(causes[0]!.message, /heap out of memory/);
    assert.equal(causes[0]!.stack, undefined);
    assert.match(failures.get('hang')?.message ?? '', /operation timed out after 2 s/);
  });

  test("a timed-out operation's child processes are killed with its worker", async () => {
    const { failures, events } = await run({ hang: { fn: 'spawnsAndHangs', timeout: 1 } });
    assert.match(failures.get('hang')?.message ?? '', /operation timed out after 1 s/);
    const said = events.find((e) => e.type === 'log' && /^child \d+$/.test(e.message));
    assert.ok(said, 'the plugin said its child pid');
    const pid = Number(said.message.split(' ')[1]);
    try {
      assert.ok(await ended(pid, 10_000), `the plugin's child ${pid} outlived its timed-out worker`);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended, as it should have
      }
    }
  });

  test("a plugin's own memory_limit_mb applies to its workers", async () => {
    const { failures } = await run({ leak: 'leaks' }, { memoryLimitMb: 1024, pluginMemoryMb: 48 });
    assert.match(failures.get('leak')?.message ?? '', /ran out of memory \(heap limit 48 MB\)/);
  });

  test('ctx in a worker: resources rendered with ctx, plugin name and a work directory per deployment', async () => {
    const { result, store } = await run({ r: 'resources' });
    assert.equal(result.status, 'terminated', JSON.stringify(result.error));
    const [instance] = await store.listInstances('dep');
    assert.equal(instance!.runtimeProperties.rendered, 'hello Weft from dep');
    assert.equal(instance!.runtimeProperties.plugin, 'bad');
    assert.match(String(instance!.runtimeProperties.workdir), /[/]dep[/]bad$/);
  });

  test('operations_per_worker: one worker runs several operations at once, and a crash fails them all', async () => {
    const { result, store } = await run(
      { a: 'together', b: 'together', c: 'together' },
      { operationsPerWorker: 3, timeout: 20 },
    );
    assert.equal(result.status, 'terminated', JSON.stringify(result.error));
    const pids = new Set((await store.listInstances('dep')).map((i) => i.runtimeProperties.pid));
    assert.equal(pids.size, 1, 'all three ran in one process');
    assert.ok(!pids.has(process.pid));

    const crash = await run({ a: 'waits', b: 'waits', c: 'exits' }, { operationsPerWorker: 3 });
    assert.equal(crash.result.status, 'failed');
    assert.deepEqual(
      ['a', 'b', 'c'].map((node) => crash.failures.get(node)?.message),
      ['a', 'b', 'c'].map(
        () =>
          'cloudify.interfaces.lifecycle.create failed: the plugin process exited with code 3 during cloudify.interfaces.lifecycle.create',
      ),
    );
  });

  test('quick operations queued on a worker that crashes run on another, only the crashing one fails', async () => {
    // Quick operations are handed to workers ahead of a free slot: those queued behind the one that
    // ends its process never started, so they must not fail with it.
    const nodes: Record<string, string> = {};
    for (let i = 10; i < 50; i++) nodes[`q${i}`] = i === 30 ? 'exits' : 'quick';
    const { result, failures, events } = await run(nodes);
    assert.equal(result.status, 'failed');
    assert.match(failures.get('q30')?.message ?? '', /the plugin process exited with code 3/);
    // Operations still running in that process when it ended (a loaded machine) fail with it;
    // every other operation that started ran to its end (the failure stops the rest from starting).
    const nodesOf = (type: string) => events.filter((e) => e.type === type).map((e) => e.node!);
    const started = nodesOf('task_started').filter((node) => node !== 'q30');
    for (const [node, failure] of failures) {
      assert.ok(node === 'q30' || started.includes(node), `${node} failed without starting`);
      assert.match(failure.message, /the plugin process exited with code 3/, node);
    }
    assert.ok(failures.size <= 8, `${[...failures.keys()]} failed: more than one process's share`);
    assert.ok(started.length >= 20, `${started.length} started`);
    assert.deepEqual(nodesOf('task_succeeded').sort(), started.filter((node) => !failures.has(node)).sort());
  });

  test('a crashed worker is replaced: the next operation runs in a fresh process', async () => {
    const first = await run({ e: 'exits' });
    assert.equal(first.result.status, 'failed');
    const second = await run({ good: 'ok' });
    assert.equal(second.result.status, 'terminated');
  });
});

describe('resources and plugin metadata in ctx', () => {
  test('resources are read, rendered with ctx and copied; paths cannot leave the blueprint directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-res-'));
    writeFileSync(
      join(dir, 'page.html'),
      'deployment_id: {{ctx.deployment.id}}\ntest: {{hello}}\nport: {{ctx.node.properties.port}}\n',
    );
    writeFileSync(join(dir, 'plain.txt'), 'no {template} here\n');
    const { Resources } = await import('../src/runtime/resources.js');
    const resources = new Resources(dir, () => ({
      deployment: { id: 'dep1' },
      node: { properties: { port: 8080 } },
    }));
    // As Jinja renders: one final line end dropped; text with no template markers left as it is.
    assert.equal(
      await resources.getAndRender('page.html', { hello: 'world' }),
      'deployment_id: dep1\ntest: world\nport: 8080',
    );
    assert.equal((await resources.get('plain.txt')).toString(), 'no {template} here\n');
    assert.equal(await resources.getAndRender('plain.txt'), 'no {template} here\n');
    assert.equal(resources.render('a\r\nb\r\n\n'), 'a\nb\n');
    const copied = await resources.downloadAndRender('page.html', join(dir, 'out', 'page.html'), {
      hello: 'there',
    });
    assert.equal(copied, join(dir, 'out', 'page.html'));
    assert.match((await import('node:fs')).readFileSync(copied, 'utf8'), /test: there/);
    const temp = await resources.download('plain.txt');
    assert.ok(temp.endsWith('/plain.txt') && !temp.startsWith(dir));
    await assert.rejects(resources.get('../etc/passwd'), /outside the blueprint's directory/);
    await assert.rejects(resources.get('/etc/passwd'), /outside the blueprint's directory/);
    await assert.rejects(
      resources.get('missing.txt'),
      /resource 'missing.txt' not found in the blueprint's directory/,
    );
    // Nor through a symbolic link; one that stays inside is fine.
    symlinkSync('/etc', join(dir, 'etc'));
    symlinkSync('page.html', join(dir, 'alias.html'));
    await assert.rejects(resources.get('etc/hostname'), /leads outside the blueprint's directory/);
    await assert.rejects(resources.download('etc/hostname'), /leads outside the blueprint's directory/);
    assert.match((await resources.get('alias.html')).toString(), /deployment_id/);
  });
});

describe('plugin modules', () => {
  test('plugin.function, plugin.module.function: nested exports, or a module path the entry does not name', async () => {
    const { lookup } = await import('../src/runtime/plugin-module.js');
    const ok = () => 'ok';
    const run = () => 'run';
    const say = () => 'say';
    const module = { ok, say, tasks: { run }, 'a.b': run };
    assert.equal(lookup(module, 'ok'), ok);
    assert.equal(lookup(module, 'tasks.run'), run);
    assert.equal(lookup(module, 'a.b'), run);
    assert.equal(lookup(module, 'script_runner.tasks.ok'), ok, 'a Cloudify module path');
    assert.equal(lookup(module, 'say.ok'), undefined, "'say' is an export without 'ok'");
    assert.equal(lookup(module, 'tasks.nothing'), undefined);
    assert.equal(lookup(module, 'nothing'), undefined);
  });

  test('the resolve hook that lends the engine its @weft/sdk is needed only where a module may import it unresolved', async () => {
    const { mayNeedSdkHook } = await import('../src/runtime/plugin-module.js');
    const dir = mkdtempSync(join(tmpdir(), 'weft-sdk-hook-'));
    const file = (name: string, source: string) => {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), source);
      return join(dir, name);
    };
    const plain = file(
      'plain.mjs',
      "import { readFileSync } from 'node:fs';\nimport os from 'os';\nexport { helper } from './lib/helper.mjs';\nexport function op() { return import('node:path'); }\n",
    );
    file('lib/helper.mjs', "import { a } from '../lib/more.js';\nexport const helper = a;\n");
    file('lib/more.js', 'export const a = 1;\n');
    assert.equal(mayNeedSdkHook(plain), false, 'built-ins and its own modules only');
    const deep = file('deep.mjs', "export * from './lib/sdk-user.mjs';\n");
    file('lib/sdk-user.mjs', "export { operation } from '@weft/sdk';\n");
    assert.equal(mayNeedSdkHook(deep), true, 'one of its modules imports the SDK');
    assert.equal(mayNeedSdkHook(file('pkg.mjs', "import x from 'some-package';\n")), true, 'a package');
    assert.equal(mayNeedSdkHook(file('computed.mjs', 'const n = "x";\nawait import(n);\n')), true);
    assert.equal(mayNeedSdkHook(file('missing.mjs', "import './nowhere.mjs';\n")), true);
    // In an npm project that has the SDK, it resolves by itself (for its packages too).
    file('project/node_modules/@weft/sdk/package.json', '{"name": "@weft/sdk"}');
    assert.equal(mayNeedSdkHook(file('project/index.mjs', "import '@weft/sdk';\nimport 'pkg';\n")), false);
  });

  test("a plugin outside any npm project whose own module imports @weft/sdk gets the engine's", async () => {
    const { loadModule } = await import('../src/runtime/plugin-module.js');
    const dir = mkdtempSync(join(tmpdir(), 'weft-sdk-deep-'));
    writeFileSync(join(dir, 'index.mjs'), "export { create } from './tasks.mjs';\n");
    writeFileSync(
      join(dir, 'tasks.mjs'),
      "import { operation } from '@weft/sdk';\nexport const create = operation(() => {});\n",
    );
    const module = await loadModule(join(dir, 'index.mjs'));
    assert.equal(typeof module.create, 'function');
  });

  test('a TypeScript syntax error is reported with its file:line:col', async () => {
    const { loadModule } = await import('../src/runtime/plugin-module.js');
    const { loadErrorText } = await import('../src/runtime/check-functions.js');
    const dir = mkdtempSync(join(tmpdir(), 'weft-ts-'));
    writeFileSync(join(dir, 'index.ts'), 'export const create = () => {\n  const x: number = ;\n};\n');
    const error = await loadModule(join(dir, 'index.ts')).then(
      () => assert.fail('loaded'),
      (e: Error) => e,
    );
    assert.match(loadErrorText(error), /index\.ts:2:\d+: Unexpected ";"|index\.ts:2:\d+: Expected/);
  });
});
