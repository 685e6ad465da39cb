import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  Automator,
  type Json,
  type LoomTask,
  loomOperations,
  NonRecoverableError,
  type OperationContext,
  Provider,
  RecoverableError,
  type TaskResult,
} from '@weft/sdk';
import { type MockOperationContext, mockContext } from '../src/index.js';

// An instance whose runtime properties persist between operations, optionally with a host
// whose runtime properties the context exposes; each run gets a mockContext.

class FakeInstance {
  saved: Record<string, Json> = {};
  /** Its own work directory: what a plugin records there (BOOTSTRAP done on a host) starts empty. */
  readonly workdir = mkdtempSync(join(tmpdir(), 'weft-loom-test-'));
  /** What the operations logged, as `level: message`. */
  logs: string[] = [];

  constructor(
    readonly id: string,
    readonly properties: Record<string, Json> = {},
    readonly host?: FakeInstance,
  ) {}

  context(operation: string): MockOperationContext {
    const hostId = this.host ? `${this.host.id}_1` : null;
    return mockContext({
      deploymentId: 'dep',
      executionId: 'exec',
      blueprintDir: '.',
      plugin: { workdir: this.workdir },
      nodeName: this.id,
      nodeType: 'loom.Node',
      typeHierarchy: ['loom.Node'],
      properties: this.properties,
      state: 'started',
      hostId,
      containedIn: hostId,
      runtimeProperties: this.saved,
      operation: `cloudify.interfaces.lifecycle.${operation}`,
      maxRetries: -1,
      ...(this.host
        ? {
            host: {
              nodeName: this.host.id,
              nodeType: 'cloudify.nodes.Compute',
              typeHierarchy: [],
              runtimeProperties: this.host.saved,
            },
          }
        : {}),
    });
  }

  async run(ops: object, operation: string, inputs: Record<string, Json> = {}): Promise<unknown> {
    const ctx = this.context(operation);
    const op = (ops as Record<string, (ctx: OperationContext, inputs: Record<string, Json>) => unknown>)[
      operation
    ];
    try {
      await op!(ctx, inputs);
      return undefined;
    } catch (error) {
      return error;
    } finally {
      this.saved = structuredClone(ctx.instance.runtimeProperties);
      // A service publishes its tasks' results on its host.
      if (this.host && ctx.host) this.host.saved = structuredClone(ctx.host.instance.runtimeProperties);
      this.logs.push(...ctx.mock.logs.map((l) => `${l.level}: ${l.message}`));
    }
  }
}

const calls: { task: string; config: Record<string, Json>; fields: Record<string, Json> }[] = [];

class Cloud extends Provider {
  static confirmFailures = 0;

  create(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    this.output('requesting a %s machine', task.properties.flavor);
    return { status: 'ok', result: { providerid: 'vm-42', 'ssh-auth': { user: 'root', password: 'pw' } } };
  }

  async confirm(config: Record<string, Json>, task: LoomTask): Promise<TaskResult> {
    calls.push({ task: task.taskName, config, fields: task.fields });
    if (Cloud.confirmFailures-- > 0) throw new RecoverableError('provider API timeout');
    return {
      status: 'ok',
      result: { ipaddress: '10.1.2.3', providerid: config.providerid! },
      stdout: 'machine is up',
    };
  }

  delete(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok' };
  }
}

class Shell extends Automator {
  override bootstrap(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok', result: { bootstrapped: true } };
  }
  override install(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    this.error('warning: no cache');
    return { status: 'ok', result: { version: '1.0', ipaddress: '192.168.0.9' }, stderr: 'apt: 1 warning' };
  }
  override configure(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok', result: { port: 8080 } };
  }
  override initialize(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok' };
  }
  override async start(config: Record<string, Json>, task: LoomTask): Promise<TaskResult> {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok', result: { pid: 123 } };
  }
  override stop(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok' };
  }
  override remove(config: Record<string, Json>, task: LoomTask): TaskResult {
    calls.push({ task: task.taskName, config, fields: task.fields });
    return { status: 'ok' };
  }
}

const cloud = loomOperations(Cloud);
const shell = loomOperations(Shell);

describe('Loom provider', () => {
  test('create runs create then confirm; each result is stored and handed on as config', async () => {
    calls.length = 0;
    const vm = new FakeInstance('vm', { flavor: 'm1.small' });
    assert.equal(await vm.run(cloud, 'create', { region: 'east' }), undefined);
    assert.deepEqual(
      calls.map((c) => c.task),
      ['CREATE', 'CONFIRM'],
    );
    assert.deepEqual(calls[0]!.config, {});
    assert.deepEqual(calls[0]!.fields, { region: 'east' });
    assert.deepEqual(calls[1]!.config, { providerid: 'vm-42', 'ssh-auth': { user: 'root', password: 'pw' } });
    assert.deepEqual(vm.saved.loom, {
      providerid: 'vm-42',
      'ssh-auth': { user: 'root', password: 'pw' },
      ipaddress: '10.1.2.3',
    });
    assert.equal(vm.saved.loom_progress, undefined);
    // Text the plugin wrote and captured output go to the logger.
    assert.ok(vm.logs.includes('info: requesting a m1.small machine'));
    assert.ok(vm.logs.includes('info: machine is up'));
    assert.ok(vm.logs.includes('info: Cloud: CREATE'));
  });

  test('a retried create does not run the tasks already done', async () => {
    calls.length = 0;
    Cloud.confirmFailures = 1;
    const vm = new FakeInstance('vm', { flavor: 'm1.small' });
    const error = await vm.run(cloud, 'create');
    assert.ok(error instanceof RecoverableError);
    assert.deepEqual(vm.saved.loom_progress, {
      operation: 'cloudify.interfaces.lifecycle.create',
      done: ['create'],
    });
    assert.equal(await vm.run(cloud, 'create'), undefined);
    assert.deepEqual(
      calls.map((c) => c.task),
      ['CREATE', 'CONFIRM', 'CONFIRM'],
    );
    assert.equal(calls[2]!.config.providerid, 'vm-42');
  });

  test('delete runs delete with the stored values, then forgets them', async () => {
    calls.length = 0;
    const vm = new FakeInstance('vm');
    await vm.run(cloud, 'create');
    assert.equal(await vm.run(cloud, 'delete'), undefined);
    assert.equal(calls[2]!.task, 'DELETE');
    assert.equal(calls[2]!.config.providerid, 'vm-42');
    assert.equal(vm.saved.loom, undefined);
    assert.deepEqual(Object.keys(cloud).sort(), ['create', 'delete']);
  });
});

describe('Loom automator', () => {
  test('task order across the lifecycle, with the host results and earlier ones flowing as config', async () => {
    calls.length = 0;
    const vm = new FakeInstance('vm');
    await vm.run(cloud, 'create');
    calls.length = 0;
    const app = new FakeInstance('app', {}, vm);
    for (const op of ['create', 'configure', 'start', 'stop', 'delete']) {
      assert.equal(await app.run(shell, op, { script: `${op}.sh` }), undefined, op);
    }
    assert.deepEqual(
      calls.map((c) => c.task),
      ['BOOTSTRAP', 'INSTALL', 'CONFIGURE', 'INITIALIZE', 'START', 'STOP', 'REMOVE'],
    );
    const host = { providerid: 'vm-42', 'ssh-auth': { user: 'root', password: 'pw' }, ipaddress: '10.1.2.3' };
    assert.deepEqual(calls[0]!.config, host);
    assert.deepEqual(calls[0]!.fields, { script: 'create.sh' });
    assert.deepEqual(calls[1]!.config, { ...host, bootstrapped: true });
    // The instance's own values win over the host's.
    assert.deepEqual(calls[2]!.config, {
      ...host,
      bootstrapped: true,
      version: '1.0',
      ipaddress: '192.168.0.9',
    });
    assert.equal(calls[4]!.config.port, 8080);
    assert.equal(calls[5]!.config.pid, 123);
    assert.equal(calls[6]!.config.pid, 123);
    // Results are gone from the instance after remove, and from its host but for the BOOTSTRAP's.
    assert.equal(app.saved.loom, undefined);
    assert.deepEqual(
      Object.keys(vm.saved).filter((key) => key.startsWith('loom:')),
      ['loom:bootstrap:Shell'],
    );
    assert.ok(app.logs.includes('error: warning: no cache'));
    assert.ok(app.logs.includes('warning: apt: 1 warning'));
    assert.deepEqual(Object.keys(shell).sort(), [
      'bootstrap',
      'configure',
      'create',
      'delete',
      'start',
      'stop',
    ]);
  });

  test('results reach instances contained at any depth (machine -> app -> module)', async () => {
    calls.length = 0;
    const vm = new FakeInstance('vm');
    await vm.run(cloud, 'create');
    const app = new FakeInstance('app', {}, vm);
    await app.run(shell, 'create', { script: 'create.sh' });
    calls.length = 0;
    const module = new FakeInstance('module', {}, app);
    await module.run(shell, 'create', { script: 'create.sh' });
    assert.equal(calls[0]!.task, 'BOOTSTRAP');
    assert.equal(calls[0]!.config.providerid, 'vm-42');
    assert.equal(calls[0]!.config.bootstrapped, true);
  });

  test('without host access, only the instance’s own results flow', async () => {
    calls.length = 0;
    const app = new FakeInstance('app');
    await app.run(shell, 'create');
    assert.deepEqual(calls[0]!.config, {});
    assert.deepEqual(calls[1]!.config, { bootstrapped: true });
    assert.deepEqual(app.saved.loom, { bootstrapped: true, version: '1.0', ipaddress: '192.168.0.9' });
  });

  test('tasks a class leaves out succeed without doing anything', async () => {
    class Quiet extends Automator {}
    const app = new FakeInstance('app');
    const quiet = loomOperations(Quiet);
    for (const op of ['create', 'configure', 'start', 'stop', 'delete'])
      assert.equal(await app.run(quiet, op), undefined);
    assert.equal(quiet.create.resumable, false);
    assert.equal(loomOperations(Quiet, { resumable: true }).create.resumable, true);
  });
});

describe('Loom failures', () => {
  test('a failed status is a NonRecoverableError with the message; later tasks do not run', async () => {
    calls.length = 0;
    class Broken extends Automator {
      override bootstrap(): TaskResult {
        calls.push({ task: 'BOOTSTRAP', config: {}, fields: {} });
        return {
          status: 'failed',
          message: 'cookbook download failed',
          result: { attempt: 1 },
          stderr: '404',
        };
      }
      override install(): TaskResult {
        calls.push({ task: 'INSTALL', config: {}, fields: {} });
        return { status: 'ok' };
      }
    }
    const app = new FakeInstance('app');
    const error = await app.run(loomOperations(Broken), 'create');
    assert.ok(error instanceof NonRecoverableError);
    assert.equal(error.message, 'cookbook download failed');
    assert.deepEqual(error.causes, [{ type: 'stderr', message: '404' }]);
    assert.deepEqual(
      calls.map((c) => c.task),
      ['BOOTSTRAP'],
    );
    assert.deepEqual(app.saved.loom, { attempt: 1 }, 'what it reported is kept');
  });

  test('a failed status without a message names the plugin and the task', async () => {
    class Silent extends Provider {
      create(): TaskResult {
        return { status: 'failed' };
      }
      confirm(): TaskResult {
        return { status: 'ok' };
      }
      delete(): TaskResult {
        return { status: 'ok' };
      }
    }
    const error = await new FakeInstance('vm').run(loomOperations(Silent), 'create');
    assert.ok(error instanceof NonRecoverableError);
    assert.equal(error.message, 'Silent create failed');
  });

  test('a result without a valid status, a thrown error, and a class that is not a Loom plugin', async () => {
    class Sloppy extends Automator {
      override install(): TaskResult {
        return { ok: true } as unknown as TaskResult;
      }
      override start(): TaskResult {
        throw new TypeError('bug');
      }
    }
    const app = new FakeInstance('app');
    const sloppy = loomOperations(Sloppy);
    const invalid = await app.run(sloppy, 'create');
    assert.ok(invalid instanceof NonRecoverableError);
    assert.match(invalid.message, /Sloppy install returned \{"ok":true\}, not \{ status/);
    const thrown = await app.run(sloppy, 'start');
    assert.ok(thrown instanceof TypeError, 'thrown errors pass through for the engine to retry');
    assert.throws(
      () => loomOperations(class NotLoom {} as never),
      /NotLoom extends neither Provider nor Automator/,
    );
  });
});
