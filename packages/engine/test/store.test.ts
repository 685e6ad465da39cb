/**
 * The store suite: one set of tests, run against every backend (SQLite on a temporary file, and
 * PostgreSQL in a fresh schema when a server is reachable), plus backend-specific tests (SQLite:
 * WAL, a second process, durability across SIGKILL; PostgreSQL: concurrent migrations).
 *
 * PostgreSQL: WEFT_TEST_POSTGRES_URL (default postgres://127.0.0.1:5432/test). When it cannot be
 * reached the PostgreSQL suite is skipped, unless WEFT_TEST_POSTGRES_REQUIRED=1.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  ACTIVE_EXECUTION_STATUSES,
  ActiveExecutionError,
  AlreadyExistsError,
  type Batch,
  type BlueprintRecord,
  type DeploymentRecord,
  type DeploymentSummary,
  type EventQuery,
  type EventRecord,
  type ExecutionRecord,
  type ExecutionStatus,
  type Json,
  type NodeInstanceRecord,
  NotFoundError,
  openPostgresStore,
  openSqliteStore,
  openStore,
  PostgresStore,
  postgresMigrations,
  SqliteStore,
  type Store,
  sqliteMigrations,
  type TaskRecord,
  VersionConflictError,
} from '../src/store/index.js';
import { MIGRATION_ACTIVE_STATUSES } from '../src/store/migrations.js';
import { withDefaultUser } from '../src/store/postgres.js';
import { WalSync } from '../src/store/wal-sync.js';

const storeModule = fileURLToPath(new URL('../src/store/index.js', import.meta.url));

// Fixtures

let counter = 0;
/** A fresh id: tests share one database per backend, so every record they make is unique. */
function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${randomUUID().slice(0, 8)}`;
}

/** Keys that would pollute or shadow prototypes if the store built objects carelessly. */
function trickyObject(): Record<string, Json> {
  return JSON.parse(
    '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}, "toString": "no"}',
  );
}

const nestedJson: Record<string, Json> = {
  text: 'héllo wörld ✓ 🚀 \u202e',
  escapes: 'quote " backslash \\ literal \\u0000 tab \t newline \n',
  numbers: [0, -1, 1.5, 0.1, 2 ** 53 - 1, -(2 ** 31), 1e300, 5e-324],
  flags: [true, false, null],
  deep: { a: { b: { c: [{ d: [1, [2, [3, { e: 'f' }]]] }] } } },
  empty: { object: {}, array: [], string: '' },
  tricky: trickyObject(),
};

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function blueprintRecord(id = uid('bp')): BlueprintRecord {
  const files: Record<string, Uint8Array> = Object.fromEntries([
    ['blueprint.yaml', new TextEncoder().encode('tosca_definitions_version: cloudify_dsl_1_4\n')],
    ['scripts/create.sh', bytes(0x23, 0x21, 0x00, 0xff, 0xfe, 0x0a)],
    ['empty.txt', bytes()],
    ['__proto__', bytes(1, 2, 3)],
    ['dir with spaces/ünïcode.bin', bytes(...Array.from({ length: 256 }, (_, i) => i))],
  ]);
  return { id, mainFile: 'blueprint.yaml', files, createdAt: '2024-01-02T03:04:05.678Z' };
}

function deploymentRecord(blueprintId: string, id = uid('dep')): DeploymentRecord {
  return {
    id,
    blueprintId,
    inputs: { port: 8080, name: 'web', nested: nestedJson, tricky: trickyObject() },
    model: {
      nodes: [{ id: 'vm', operations: { create: { implementation: 'x.sh' } } }],
      tricky: trickyObject(),
    },
    createdAt: '2024-01-02T03:04:06.000Z',
  };
}

function instanceRecord(
  deploymentId: string,
  node: string,
  index: number,
  overrides: Partial<NodeInstanceRecord> = {},
): NodeInstanceRecord {
  return {
    id: uid(`${node}_${index}`),
    deploymentId,
    node,
    index,
    state: 'uninitialized',
    runtimeProperties: {},
    version: 0,
    containedIn: null,
    hostId: null,
    relationships: [],
    scalingGroups: null,
    ...overrides,
  };
}

function executionRecord(deploymentId: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    id: uid('exe'),
    deploymentId,
    workflow: 'install',
    parameters: {},
    status: 'pending',
    error: null,
    createdAt: '2024-01-02T03:05:00.000Z',
    startedAt: null,
    endedAt: null,
    ...overrides,
  };
}

function taskRecord(
  executionId: string,
  id: number,
  instanceId: string,
  overrides: Partial<TaskRecord> = {},
): TaskRecord {
  return {
    executionId,
    id,
    kind: 'operation',
    instanceId,
    node: 'vm',
    operation: 'cloudify.interfaces.lifecycle.create',
    targetState: null,
    relationship: null,
    dependsOn: id > 0 ? [id - 1] : [],
    inputs: null,
    ignoreFailure: false,
    state: 'pending',
    attempt: 0,
    notBefore: null,
    error: null,
    result: null,
    updatedAt: '2024-01-02T03:05:00.000Z',
    ...overrides,
  };
}

function eventRecord(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    executionId: null,
    deploymentId: null,
    node: null,
    instanceId: null,
    operation: null,
    taskId: null,
    type: 'log',
    level: 'info',
    message: 'hello',
    data: null,
    timestamp: '2024-01-02T03:05:01.000Z',
    ...overrides,
  };
}

/** What the store gives back for an event it was given: the same, plus a seq. */
function withoutSeq(events: EventRecord[]): EventRecord[] {
  return events.map(({ seq: _seq, ...rest }) => rest);
}

interface World {
  blueprint: BlueprintRecord;
  deployment: DeploymentRecord;
  vm: NodeInstanceRecord;
  app: NodeInstanceRecord;
}

/** A blueprint and a deployment with two instances (app contained in vm). */
async function makeWorld(store: Store): Promise<World> {
  const blueprint = blueprintRecord();
  await store.putBlueprint(blueprint);
  const deployment = deploymentRecord(blueprint.id);
  const vm = instanceRecord(deployment.id, 'vm', 0);
  const app = instanceRecord(deployment.id, 'app', 0, {
    containedIn: vm.id,
    hostId: vm.id,
    relationships: [{ type: 'cloudify.relationships.contained_in', target: 'vm', targetId: vm.id, index: 0 }],
    scalingGroups: { group: ['app'] },
    runtimeProperties: { seeded: nestedJson },
  });
  await store.createDeployment(deployment, [vm, app]);
  return { blueprint, deployment, vm, app };
}

/** An active execution of `world` with `count` tasks on its vm. */
async function makeExecution(
  store: Store,
  world: World,
  count = 3,
  overrides: Partial<ExecutionRecord> = {},
): Promise<{ execution: ExecutionRecord; tasks: TaskRecord[] }> {
  const execution = executionRecord(world.deployment.id, overrides);
  const tasks = Array.from({ length: count }, (_, i) => taskRecord(execution.id, i, world.vm.id));
  await store.createExecution(execution, tasks);
  return { execution, tasks };
}

async function endExecution(store: Store, id: string, status: ExecutionStatus = 'terminated'): Promise<void> {
  await store.applyBatch({ execution: { id, status, endedAt: '2024-01-02T04:00:00.000Z' } });
}

function assertNoPollution(): void {
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
}

// The suite

interface SuiteHooks {
  /** Versions in schema_migrations of the suite's database. */
  migrationVersions(): Promise<number[]>;
  /** A new, empty database; `open` opens a store on it (migrate not yet run). */
  freshDatabase(): Promise<{ open(): Promise<Store>; dispose(): Promise<void> }>;
}

export function storeSuite(name: string, open: () => Promise<Store>, hooks: SuiteHooks, skip?: string): void {
  describe(name, { skip }, () => {
    let store: Store;

    before(async () => {
      store = await open();
      await store.migrate();
    });

    after(async () => {
      await store?.close();
    });

    test('migrate again is a no-op: each version recorded once, data kept', async () => {
      const world = await makeWorld(store);
      await store.migrate();
      await store.migrate();
      const expected = (name.startsWith('PostgreSQL') ? postgresMigrations : sqliteMigrations).map(
        (m) => m.version,
      );
      assert.deepEqual(await hooks.migrationVersions(), expected);
      assert.deepEqual(await store.getDeployment(world.deployment.id), world.deployment);
    });

    test('two stores migrating one new database at the same time both succeed', async () => {
      const db = await hooks.freshDatabase();
      const a = await db.open();
      const b = await db.open();
      try {
        await Promise.all([a.migrate(), b.migrate(), a.migrate()]);
        const world = await makeWorld(a);
        assert.deepEqual(await b.getDeployment(world.deployment.id), world.deployment);
      } finally {
        await a.close();
        await b.close();
        await db.dispose();
      }
    });

    test('get* return undefined when missing', async () => {
      assert.equal(await store.getBlueprint(uid('nope')), undefined);
      assert.equal(await store.getDeployment(uid('nope')), undefined);
      assert.equal(await store.getInstance(uid('nope')), undefined);
      assert.equal(await store.getExecution(uid('nope')), undefined);
      assert.equal(await store.getSecret(uid('nope')), undefined);
      assert.deepEqual(await store.listInstances(uid('nope')), []);
      assert.deepEqual(await store.listTasks(uid('nope')), []);
      assert.deepEqual(await store.listExecutions(uid('nope')), []);
      assert.deepEqual(await store.listEvents({ executionId: uid('nope') }), []);
    });

    test('blueprints: bytes and file names round-trip; putting the same id again is a no-op', async () => {
      const blueprint = blueprintRecord();
      await store.putBlueprint(blueprint);
      await store.putBlueprint(blueprint);
      const got = await store.getBlueprint(blueprint.id);
      assert.deepEqual(got, blueprint);
      assert.ok(got);
      assert.equal(Object.getPrototypeOf(got.files), Object.prototype);
      assert.ok(Object.hasOwn(got.files, '__proto__'));
      for (const content of Object.values(got.files))
        assert.equal(Object.getPrototypeOf(content), Uint8Array.prototype);
      // A blueprint with no files at all.
      const bare: BlueprintRecord = {
        id: uid('bp'),
        mainFile: 'main.yaml',
        files: {},
        createdAt: blueprint.createdAt,
      };
      await store.putBlueprint(bare);
      assert.deepEqual(await store.getBlueprint(bare.id), bare);
      assertNoPollution();
    });

    test('deployments and instances round-trip nested JSON and __proto__-like keys', async () => {
      const world = await makeWorld(store);
      assert.deepEqual(await store.getDeployment(world.deployment.id), world.deployment);
      const listed = await store.listDeployments();
      assert.deepEqual(
        listed.find((d) => d.id === world.deployment.id),
        world.deployment,
      );
      assert.deepEqual(await store.getInstance(world.app.id), world.app);
      assert.deepEqual(await store.getInstance(world.vm.id), world.vm);
      const app = await store.getInstance(world.app.id);
      assert.ok(app);
      const tricky = (app.runtimeProperties.seeded as Record<string, Json>).tricky as Record<string, Json>;
      assert.ok(Object.hasOwn(tricky, '__proto__'));
      assert.equal(Object.getPrototypeOf(tricky), Object.prototype);
      assert.equal(
        (app.runtimeProperties.seeded as Record<string, Json>).escapes,
        'quote " backslash \\ literal \\u0000 tab \t newline \n',
      );
      assertNoPollution();
    });

    test('listDeployments is ordered by createdAt then id', async () => {
      const blueprint = blueprintRecord();
      await store.putBlueprint(blueprint);
      const base = uid('order');
      const made = [
        { ...deploymentRecord(blueprint.id, `${base}-b`), createdAt: '2000-01-01T00:00:00.000Z' },
        { ...deploymentRecord(blueprint.id, `${base}-a`), createdAt: '2000-01-01T00:00:00.000Z' },
        { ...deploymentRecord(blueprint.id, `${base}-0`), createdAt: '2000-01-02T00:00:00.000Z' },
      ];
      for (const d of made) await store.createDeployment(d, []);
      const ids = (await store.listDeployments()).map((d) => d.id).filter((id) => id.startsWith(base));
      assert.deepEqual(ids, [`${base}-a`, `${base}-b`, `${base}-0`]);
    });

    test('createDeployment is all or nothing, and names a missing blueprint', async () => {
      const blueprint = blueprintRecord();
      await store.putBlueprint(blueprint);
      const deployment = deploymentRecord(blueprint.id);
      const one = instanceRecord(deployment.id, 'vm', 0);
      await assert.rejects(store.createDeployment(deployment, [one, { ...one }]));
      assert.equal(await store.getDeployment(deployment.id), undefined);
      assert.equal(await store.getInstance(one.id), undefined);

      const orphan = deploymentRecord(uid('missing-bp'));
      await assert.rejects(store.createDeployment(orphan, []), NotFoundError);

      await store.createDeployment(deployment, [one]);
      await assert.rejects(
        store.createDeployment(deployment, []),
        (e: unknown) =>
          e instanceof AlreadyExistsError && e.message === `deployment '${deployment.id}' already exists`,
      );
    });

    test('updateDeploymentModel replaces the model; unknown deployment is NotFoundError', async () => {
      const world = await makeWorld(store);
      const model: Json = { nodes: [], scaled: { to: 3 }, tricky: trickyObject() };
      await store.updateDeploymentModel(world.deployment.id, model);
      assert.deepEqual(await store.getDeployment(world.deployment.id), { ...world.deployment, model });
      await assert.rejects(store.updateDeploymentModel(uid('nope'), {}), NotFoundError);
    });

    test('a deployment change is stored with its execution, all or nothing, and versions are listed in order', async () => {
      const world = await makeWorld(store);
      const next = blueprintRecord();
      await store.putBlueprint(next);
      const added = instanceRecord(world.deployment.id, 'db', 0);
      const relationships = [{ type: 'depends_on', target: 'db', targetId: added.id, index: 1 }];
      const version = (n: number, executionId: string | null) => ({
        deploymentId: world.deployment.id,
        version: n,
        blueprintId: n === 1 ? world.blueprint.id : next.id,
        inputs: { n },
        model: { version: n, tricky: trickyObject() },
        executionId,
        createdAt: `2024-01-0${n}T00:00:00.000Z`,
      });
      const execution = executionRecord(world.deployment.id, { workflow: 'update' });
      const change = {
        deploymentId: world.deployment.id,
        deployment: { model: { updated: true }, blueprintId: next.id, inputs: { port: 2 } },
        addInstances: [added],
        relationships: { [world.app.id]: relationships },
        versions: [version(1, null), version(2, execution.id)],
      };
      // A change naming an instance that does not exist rolls back the execution too.
      await assert.rejects(
        store.createExecution(executionRecord(world.deployment.id), [], {
          ...change,
          relationships: { [uid('nope')]: [] },
        }),
        NotFoundError,
      );
      assert.deepEqual(await store.listExecutions(world.deployment.id), []);
      assert.deepEqual(await store.getDeployment(world.deployment.id), world.deployment);
      assert.equal(await store.getInstance(added.id), undefined);
      assert.deepEqual(await store.listDeploymentVersions(world.deployment.id), []);

      await store.createExecution(execution, [taskRecord(execution.id, 0, world.vm.id)], change);
      assert.equal((await store.getExecution(execution.id))?.workflow, 'update');
      assert.deepEqual(await store.getDeployment(world.deployment.id), {
        ...world.deployment,
        blueprintId: next.id,
        inputs: { port: 2 },
        model: { updated: true },
      });
      assert.deepEqual(await store.getInstance(added.id), added);
      assert.deepEqual((await store.getInstance(world.app.id))?.relationships, relationships);
      assert.deepEqual(await store.listDeploymentVersions(world.deployment.id), [
        version(1, null),
        version(2, execution.id),
      ]);

      // Once it has ended: instances go, the model alone changes (blueprint and inputs stay).
      await store.changeDeployment({
        deploymentId: world.deployment.id,
        deployment: { model: { final: true } },
        removeInstances: [world.vm.id],
        relationships: { [world.app.id]: [] },
      });
      const after = await store.getDeployment(world.deployment.id);
      assert.deepEqual(
        [after?.blueprintId, after?.inputs, after?.model],
        [next.id, { port: 2 }, { final: true }],
      );
      assert.deepEqual(
        (await store.listInstances(world.deployment.id)).map((i) => i.id).sort(),
        [world.app.id, added.id].sort(),
      );
      await assert.rejects(
        store.changeDeployment({ deploymentId: uid('nope'), deployment: { model: {} } }),
        NotFoundError,
      );
      // An instance moves to another node (a HOT resource whose type changes); one that is not
      // the deployment's cannot, and nothing of that change is kept.
      await assert.rejects(
        store.changeDeployment({
          deploymentId: world.deployment.id,
          deployment: { model: { moved: false } },
          moveInstances: { [world.app.id]: 'app@replaced', [uid('nope')]: 'x' },
        }),
        NotFoundError,
      );
      assert.equal((await store.getInstance(world.app.id))?.node, world.app.node);
      assert.deepEqual((await store.getDeployment(world.deployment.id))?.model, { final: true });
      await store.changeDeployment({
        deploymentId: world.deployment.id,
        moveInstances: { [world.app.id]: 'app@replaced' },
      });
      assert.deepEqual(await store.getInstance(world.app.id), {
        ...world.app,
        node: 'app@replaced',
        relationships: [],
      });
      // Versions go with their deployment.
      await store.deleteDeployment(world.deployment.id);
      assert.deepEqual(await store.listDeploymentVersions(world.deployment.id), []);
    });

    test('snapshots: listed oldest first by deployment, deleted one by one, gone with their deployment', async () => {
      const world = await makeWorld(store);
      const other = await makeWorld(store);
      const snapshot = (n: number, deploymentId = world.deployment.id) => ({
        id: uid('snap'),
        deploymentId,
        name: `snap-${n}`,
        blueprintId: world.blueprint.id,
        inputs: { n },
        model: { tricky: trickyObject() },
        data: { resources: { secret: { resource_data: { value: `v${n}` } } } },
        createdAt: `2024-01-0${n}T00:00:00.000Z`,
      });
      const second = snapshot(2);
      const first = snapshot(1);
      const elsewhere = snapshot(3, other.deployment.id);
      for (const s of [second, first, elsewhere]) await store.putSnapshot(s);
      assert.deepEqual(await store.listSnapshots(world.deployment.id), [first, second]);
      // Stored again (its execution ended): its name, model and data are the new ones, its time the first.
      const ended = { ...second, name: 'ended', inputs: { n: 5 }, data: { status: 'COMPLETE' } };
      await store.putSnapshot({ ...ended, createdAt: '2024-01-09T00:00:00.000Z' });
      assert.deepEqual(await store.listSnapshots(world.deployment.id), [first, ended]);
      await assert.rejects(store.putSnapshot({ ...snapshot(4), deploymentId: uid('nope') }));
      assert.equal(await store.deleteSnapshot(other.deployment.id, first.id), false, 'of another deployment');
      assert.equal(await store.deleteSnapshot(world.deployment.id, first.id), true);
      assert.equal(await store.deleteSnapshot(world.deployment.id, first.id), false);
      assert.deepEqual(await store.listSnapshots(world.deployment.id), [ended]);
      await store.deleteDeployment(world.deployment.id);
      assert.deepEqual(await store.listSnapshots(world.deployment.id), []);
      assert.deepEqual(await store.listSnapshots(other.deployment.id), [elsewhere]);
    });

    test('instances: listed by node then index; added and removed', async () => {
      const world = await makeWorld(store);
      const extra = [
        instanceRecord(world.deployment.id, 'vm', 2),
        instanceRecord(world.deployment.id, 'vm', 1, {
          state: 'started',
          runtimeProperties: { ip: '10.0.0.2' },
        }),
      ];
      await store.addInstances(extra);
      const listed = await store.listInstances(world.deployment.id);
      assert.deepEqual(
        listed.map((i) => [i.node, i.index]),
        [
          ['app', 0],
          ['vm', 0],
          ['vm', 1],
          ['vm', 2],
        ],
      );
      assert.deepEqual(listed[2], extra[1]);
      await store.removeInstances([extra[0]!.id, extra[1]!.id, uid('never-existed')]);
      await store.removeInstances([]);
      assert.deepEqual(
        (await store.listInstances(world.deployment.id)).map((i) => i.id),
        [world.app.id, world.vm.id],
      );
      assert.equal(await store.getInstance(extra[0]!.id), undefined);
      await assert.rejects(
        store.addInstances([instanceRecord(uid('no-deployment'), 'vm', 0)]),
        NotFoundError,
      );
    });

    test('updateRuntimeProperties: returns the new version; a stale version is a VersionConflictError', async () => {
      const world = await makeWorld(store);
      assert.equal(await store.updateRuntimeProperties(world.vm.id, { ip: '10.0.0.1' }, 0), 1);
      assert.equal(
        await store.updateRuntimeProperties(world.vm.id, { ip: '10.0.0.1', nested: nestedJson }, 1),
        2,
      );
      const error = await store.updateRuntimeProperties(world.vm.id, { ip: 'lost' }, 1).then(
        () => assert.fail('expected a conflict'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof VersionConflictError);
      assert.equal(error.instanceId, world.vm.id);
      assert.equal(error.expectedVersion, 1);
      assert.equal(error.actualVersion, 2);
      const vm = await store.getInstance(world.vm.id);
      assert.deepEqual(vm, {
        ...world.vm,
        runtimeProperties: { ip: '10.0.0.1', nested: nestedJson },
        version: 2,
      });
      await assert.rejects(store.updateRuntimeProperties(uid('nope'), {}, 0), NotFoundError);
    });

    test('executions and tasks round-trip; tasks listed by id', async () => {
      const world = await makeWorld(store);
      const execution = executionRecord(world.deployment.id, {
        workflow: 'execute_operation',
        parameters: { operation: 'maintenance.backup', tricky: trickyObject(), nested: nestedJson },
        status: 'started',
        startedAt: '2024-01-02T03:05:01.000Z',
        error: { message: 'not yet' },
      });
      const tasks = [
        taskRecord(execution.id, 2, world.app.id, {
          kind: 'state',
          operation: null,
          targetState: 'started',
          dependsOn: [0, 1],
        }),
        taskRecord(execution.id, 0, world.vm.id, {
          inputs: { kwargs: { a: 1 }, tricky: trickyObject() },
          ignoreFailure: true,
          state: 'rescheduled',
          attempt: 3,
          notBefore: 1_900_000_000_123,
          error: { message: 'boom', causes: [{ message: 'root', traceback: 'line 1\nline 2' }] },
          result: { status: 'ok', values: nestedJson },
        }),
        taskRecord(execution.id, 1, world.app.id, {
          operation: 'cloudify.interfaces.relationship_lifecycle.preconfigure',
          relationship: {
            side: 'source',
            sourceId: world.app.id,
            targetId: world.vm.id,
            type: 'contained_in',
            index: 0,
          },
        }),
      ];
      await store.createExecution(execution, tasks);
      assert.deepEqual(await store.getExecution(execution.id), execution);
      const listed = await store.listTasks(execution.id);
      assert.deepEqual(
        listed.map((t) => t.id),
        [0, 1, 2],
      );
      assert.deepEqual(listed, [tasks[1], tasks[2], tasks[0]]);
      // An execution without tasks.
      const empty = executionRecord(world.deployment.id, { status: 'terminated' });
      await store.createExecution(empty, []);
      assert.deepEqual(await store.listTasks(empty.id), []);
      await assert.rejects(
        store.createExecution(empty, []),
        (e: unknown) =>
          e instanceof AlreadyExistsError && e.message === `execution '${empty.id}' already exists`,
      );
      await assert.rejects(store.createExecution(executionRecord(uid('no-deployment')), []), NotFoundError);
      assertNoPollution();
    });

    test('a cancel request is stored on its execution by applyBatch; an execution without one has none', async () => {
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1, { status: 'started' });
      assert.equal('cancelRequest' in (await store.getExecution(execution.id))!, false);
      await store.applyBatch({
        execution: { id: execution.id, status: 'cancelling', cancelRequest: { rollback: false } },
      });
      assert.deepEqual(await store.getExecution(execution.id), {
        ...execution,
        status: 'cancelling',
        cancelRequest: { rollback: false },
      });
      // Kept when the run ends, and listed with the execution.
      await endExecution(store, execution.id, 'cancelled');
      const [listed] = await store.listExecutions(world.deployment.id);
      assert.deepEqual(listed?.cancelRequest, { rollback: false });
    });

    test('listExecutions is ordered by createdAt then id, and filters by deployment', async () => {
      const world = await makeWorld(store);
      const other = await makeWorld(store);
      const base = uid('x');
      const made = [
        executionRecord(world.deployment.id, {
          id: `${base}-c`,
          status: 'terminated',
          createdAt: '2030-01-01T00:00:02Z',
        }),
        executionRecord(world.deployment.id, {
          id: `${base}-b`,
          status: 'failed',
          createdAt: '2030-01-01T00:00:01Z',
        }),
        executionRecord(world.deployment.id, {
          id: `${base}-a`,
          status: 'pending',
          createdAt: '2030-01-01T00:00:01Z',
        }),
        executionRecord(other.deployment.id, {
          id: `${base}-0`,
          status: 'pending',
          createdAt: '2030-01-01T00:00:03Z',
        }),
      ];
      for (const e of made) await store.createExecution(e, []);
      assert.deepEqual(
        (await store.listExecutions(world.deployment.id)).map((e) => e.id),
        [`${base}-a`, `${base}-b`, `${base}-c`],
      );
      assert.deepEqual(
        (await store.listExecutions()).map((e) => e.id).filter((id) => id.startsWith(base)),
        [`${base}-a`, `${base}-b`, `${base}-c`, `${base}-0`],
      );
      assert.deepEqual((await store.listExecutions(world.deployment.id))[0], made[2]);
    });

    test('one active execution per deployment: ActiveExecutionError until it ends', async () => {
      const world = await makeWorld(store);
      let { execution: active } = await makeExecution(store, world, 2);
      // Another deployment is not affected.
      const other = await makeWorld(store);
      await makeExecution(store, other, 1);

      for (const ending of ['terminated', 'failed', 'cancelled'] as const) {
        for (const status of ['pending', 'started', 'cancelling', 'force_cancelling'] as const) {
          await store.applyBatch({ execution: { id: active.id, status } });
          const refused = executionRecord(world.deployment.id, { workflow: 'uninstall', status: 'pending' });
          const error = await store.createExecution(refused, [taskRecord(refused.id, 0, world.vm.id)]).then(
            () => assert.fail(`a second execution was accepted while the first was ${status}`),
            (e: unknown) => e,
          );
          assert.ok(error instanceof ActiveExecutionError, String(error));
          assert.equal(error.deploymentId, world.deployment.id);
          assert.equal(error.activeExecutionId, active.id);
          assert.equal(error.activeWorkflow, 'install');
          // Nothing of the refused execution was written.
          assert.equal(await store.getExecution(refused.id), undefined);
          assert.deepEqual(await store.listTasks(refused.id), []);
        }
        await endExecution(store, active.id, ending);
        active = (await makeExecution(store, world, 1)).execution;
      }

      // Re-activating an ended execution while another is active is refused too.
      const ended = (await store.listExecutions(world.deployment.id)).find((e) => e.status === 'terminated');
      assert.ok(ended);
      const error = await store.applyBatch({ execution: { id: ended.id, status: 'started' } }).then(
        () => assert.fail('re-activated'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ActiveExecutionError, String(error));
      assert.equal(error.activeExecutionId, active.id);
      assert.equal((await store.getExecution(ended.id))?.status, 'terminated');
    });

    test('applyBatch writes tasks, instance states, runtime properties, events and the execution', async () => {
      const world = await makeWorld(store);
      const { execution, tasks } = await makeExecution(store, world, 3);
      const events = [
        eventRecord({
          executionId: execution.id,
          deploymentId: world.deployment.id,
          type: 'workflow_started',
        }),
        eventRecord({
          executionId: execution.id,
          deploymentId: world.deployment.id,
          node: 'vm',
          instanceId: world.vm.id,
          operation: 'cloudify.interfaces.lifecycle.create',
          taskId: 0,
          type: 'task_succeeded',
          level: 'warning',
          message: 'created ✓',
          data: { tricky: trickyObject(), nested: nestedJson },
        }),
      ];
      const batch: Batch = {
        tasks: [
          {
            executionId: execution.id,
            id: 0,
            state: 'sent',
            attempt: 0,
            notBefore: null,
            error: null,
            result: null,
          },
          {
            executionId: execution.id,
            id: 0,
            state: 'succeeded',
            attempt: 1,
            notBefore: null,
            error: null,
            result: { ok: true, tricky: trickyObject() },
          },
          {
            executionId: execution.id,
            id: 2,
            state: 'rescheduled',
            attempt: 2,
            notBefore: 1_900_000_000_000,
            error: { message: 'retry', causes: [] },
            result: null,
          },
        ],
        instanceStates: [
          { id: world.vm.id, state: 'creating' },
          { id: world.vm.id, state: 'created' },
          { id: world.app.id, state: 'starting' },
        ],
        runtimeProperties: [
          {
            id: world.vm.id,
            runtimeProperties: { ip: '10.0.0.1', tricky: trickyObject() },
            expectedVersion: 0,
          },
          { id: world.app.id, runtimeProperties: { port: 80 }, expectedVersion: 0 },
        ],
        events,
        execution: { id: execution.id, status: 'started', startedAt: '2024-01-02T03:05:00.500Z' },
      };
      await store.applyBatch(batch);

      const got = await store.listTasks(execution.id);
      assert.deepEqual(
        got.map(({ updatedAt: _u, ...t }) => t),
        [{ ...tasks[0]!, ...batch.tasks![1]! }, tasks[1]!, { ...tasks[2]!, ...batch.tasks![2]! }].map(
          ({ updatedAt: _u, ...t }) => t,
        ),
      );
      assert.notEqual(got[0]!.updatedAt, tasks[0]!.updatedAt);
      assert.ok(!Number.isNaN(Date.parse(got[0]!.updatedAt)));
      assert.equal(got[1]!.updatedAt, tasks[1]!.updatedAt);

      const vm = await store.getInstance(world.vm.id);
      assert.deepEqual(vm, {
        ...world.vm,
        state: 'created',
        runtimeProperties: { ip: '10.0.0.1', tricky: trickyObject() },
        version: 1,
      });
      assert.equal((await store.getInstance(world.app.id))?.state, 'starting');
      assert.equal((await store.getInstance(world.app.id))?.version, 1);

      assert.deepEqual(await store.getExecution(execution.id), {
        ...execution,
        status: 'started',
        startedAt: '2024-01-02T03:05:00.500Z',
      });
      const stored = await store.listEvents({ executionId: execution.id });
      assert.deepEqual(withoutSeq(stored), events);
      assert.ok(stored[0]!.seq! < stored[1]!.seq!);

      // Only the given execution fields change; an error can be written and read back.
      await store.applyBatch({ execution: { id: execution.id, error: { message: 'x', task: 2 } } });
      assert.deepEqual(await store.getExecution(execution.id), {
        ...execution,
        status: 'started',
        startedAt: '2024-01-02T03:05:00.500Z',
        error: { message: 'x', task: 2 },
      });
      await store.applyBatch({});
      await store.applyBatch({ tasks: [], events: [], instanceStates: [], runtimeProperties: [] });
      await store.applyBatch({ execution: { id: execution.id } });
      await assert.rejects(
        store.applyBatch({ execution: { id: uid('nope'), status: 'failed' } }),
        NotFoundError,
      );
      assertNoPollution();
    });

    test('applyBatch adds tasks to a running execution before it updates them', async () => {
      const world = await makeWorld(store);
      const { execution, tasks } = await makeExecution(store, world, 1);
      const added = {
        ...tasks[0]!,
        id: 1,
        kind: 'event' as const,
        operation: null,
        dependsOn: [0],
        inputs: { message: 'asked for by a workflow script ✓', type: 'workflow_event' },
      };
      await store.applyBatch({
        newTasks: [added],
        tasks: [
          {
            executionId: execution.id,
            id: 1,
            state: 'succeeded',
            attempt: 0,
            notBefore: null,
            error: null,
            result: 7,
          },
        ],
      });
      const got = await store.listTasks(execution.id);
      assert.deepEqual(
        got.map(({ updatedAt: _u, ...t }) => t),
        [tasks[0]!, { ...added, state: 'succeeded', result: 7 }].map(({ updatedAt: _u, ...t }) => t),
      );
      // A task id taken twice rolls the batch back.
      await assert.rejects(
        store.applyBatch({ newTasks: [added], events: [eventRecord({ executionId: execution.id })] }),
      );
      assert.equal((await store.listEvents({ executionId: execution.id })).length, 0);
      assertNoPollution();
    });

    test('applyBatch: several runtime properties writes to one instance apply in order', async () => {
      const world = await makeWorld(store);
      await store.applyBatch({
        runtimeProperties: [
          { id: world.vm.id, runtimeProperties: { step: 1 }, expectedVersion: 0 },
          { id: world.app.id, runtimeProperties: { step: 1 }, expectedVersion: 0 },
          { id: world.vm.id, runtimeProperties: { step: 2 }, expectedVersion: 1 },
        ],
      });
      const vm = await store.getInstance(world.vm.id);
      assert.deepEqual([vm?.runtimeProperties, vm?.version], [{ step: 2 }, 2]);
    });

    test('applyBatch: a version conflict rolls back the whole batch', async () => {
      const world = await makeWorld(store);
      const { execution, tasks } = await makeExecution(store, world, 2);
      await store.updateRuntimeProperties(world.app.id, { moved: true }, 0);
      const before = {
        tasks: await store.listTasks(execution.id),
        vm: await store.getInstance(world.vm.id),
        app: await store.getInstance(world.app.id),
        execution: await store.getExecution(execution.id),
      };
      const error = await store
        .applyBatch({
          tasks: [{ ...tasks[0]!, state: 'succeeded', attempt: 1, result: { ok: true } }],
          instanceStates: [{ id: world.vm.id, state: 'started' }],
          runtimeProperties: [
            { id: world.vm.id, runtimeProperties: { ip: '10.0.0.9' }, expectedVersion: 0 },
            { id: world.app.id, runtimeProperties: { stale: true }, expectedVersion: 0 },
          ],
          events: [eventRecord({ executionId: execution.id, deploymentId: world.deployment.id })],
          execution: { id: execution.id, status: 'started', startedAt: '2024-01-02T03:06:00.000Z' },
        })
        .then(
          () => assert.fail('expected a conflict'),
          (e: unknown) => e,
        );
      assert.ok(error instanceof VersionConflictError, String(error));
      assert.equal(error.instanceId, world.app.id);
      assert.equal(error.expectedVersion, 0);
      assert.equal(error.actualVersion, 1);
      assert.deepEqual(
        {
          tasks: await store.listTasks(execution.id),
          vm: await store.getInstance(world.vm.id),
          app: await store.getInstance(world.app.id),
          execution: await store.getExecution(execution.id),
        },
        before,
      );
      assert.deepEqual(await store.listEvents({ executionId: execution.id }), []);
    });

    test('applyBatch: an unknown task or instance fails the batch and rolls it back', async () => {
      const world = await makeWorld(store);
      const { execution, tasks } = await makeExecution(store, world, 1);
      const event = eventRecord({ executionId: execution.id });
      await assert.rejects(
        store.applyBatch({
          tasks: [
            { ...tasks[0]!, state: 'succeeded' },
            { ...tasks[0]!, id: 99 },
          ],
          events: [event],
        }),
        (e: unknown) => e instanceof NotFoundError && e.message.includes(`${execution.id}#99`),
      );
      await assert.rejects(
        store.applyBatch({
          tasks: [{ ...tasks[0]!, state: 'succeeded' }],
          instanceStates: [{ id: uid('nope'), state: 'started' }],
        }),
        NotFoundError,
      );
      await assert.rejects(
        store.applyBatch({
          runtimeProperties: [{ id: uid('nope'), runtimeProperties: {}, expectedVersion: 0 }],
        }),
        NotFoundError,
      );
      assert.deepEqual(await store.listTasks(execution.id), tasks);
      assert.deepEqual(await store.listEvents({ executionId: execution.id }), []);
    });

    test('listEvents: filters, ascending seq, afterSeq and limit', async () => {
      const world = await makeWorld(store);
      const other = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      const { execution: otherExecution } = await makeExecution(store, other, 1);
      const before = await store.listEvents({});
      const start = before.length ? before[before.length - 1]!.seq! : 0;

      const mine = Array.from({ length: 5 }, (_, i) =>
        eventRecord({ executionId: execution.id, deploymentId: world.deployment.id, message: `mine ${i}` }),
      );
      const deploymentOnly = eventRecord({ deploymentId: world.deployment.id, type: 'deployment_created' });
      const global = eventRecord({ type: 'secret_created', level: 'debug' });
      const theirs = eventRecord({ executionId: otherExecution.id, deploymentId: other.deployment.id });
      await store.applyBatch({ events: [mine[0]!, mine[1]!, theirs, deploymentOnly] });
      await store.applyBatch({ events: [mine[2]!, global, mine[3]!, mine[4]!] });

      const all = await store.listEvents({ afterSeq: start });
      assert.deepEqual(withoutSeq(all), [
        mine[0],
        mine[1],
        theirs,
        deploymentOnly,
        mine[2],
        global,
        mine[3],
        mine[4],
      ]);
      const seqs = all.map((e) => e.seq!);
      assert.ok(seqs.every((s, i) => Number.isInteger(s) && (i === 0 || s > seqs[i - 1]!)));

      const byExecution = await store.listEvents({ executionId: execution.id });
      assert.deepEqual(withoutSeq(byExecution), mine);
      assert.deepEqual(withoutSeq(await store.listEvents({ deploymentId: world.deployment.id })), [
        mine[0],
        mine[1],
        deploymentOnly,
        mine[2],
        mine[3],
        mine[4],
      ]);
      assert.deepEqual(
        withoutSeq(await store.listEvents({ executionId: execution.id, afterSeq: byExecution[1]!.seq })),
        mine.slice(2),
      );
      assert.deepEqual(
        withoutSeq(await store.listEvents({ executionId: execution.id, limit: 2 })),
        mine.slice(0, 2),
      );
      assert.deepEqual(
        withoutSeq(
          await store.listEvents({
            deploymentId: world.deployment.id,
            afterSeq: byExecution[1]!.seq,
            limit: 2,
          }),
        ),
        [deploymentOnly, mine[2]],
      );
      assert.deepEqual(await store.listEvents({ executionId: execution.id, limit: 0 }), []);
      assert.deepEqual(
        await store.listEvents({ executionId: execution.id, afterSeq: seqs[seqs.length - 1]! }),
        [],
      );
      assert.deepEqual(
        await store.listEvents({ executionId: execution.id, deploymentId: other.deployment.id }),
        [],
      );
    });

    test('listEvents: at a level or above, of a node or an instance, and the last N', async () => {
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      const at = (level: EventRecord['level'], instance: NodeInstanceRecord | null, message: string) =>
        eventRecord({
          executionId: execution.id,
          deploymentId: world.deployment.id,
          level,
          node: instance?.node ?? null,
          instanceId: instance?.id ?? null,
          message,
        });
      const events = [
        at('info', null, 'started'),
        at('debug', world.vm, 'vm debug'),
        at('warning', world.vm, 'vm warning'),
        at('info', world.app, 'app info'),
        at('error', world.app, 'app error'),
        at('info', null, 'ended'),
      ];
      await store.applyBatch({ events });
      const messages = (query: EventQuery) =>
        store.listEvents({ executionId: execution.id, ...query }).then((list) => list.map((e) => e.message));
      assert.deepEqual(await messages({ minLevel: 'warning' }), ['vm warning', 'app error']);
      assert.deepEqual(
        await messages({ minLevel: 'debug' }),
        events.map((e) => e.message),
      );
      assert.deepEqual(await messages({ minLevel: 'info' }), [
        'started',
        'vm warning',
        'app info',
        'app error',
        'ended',
      ]);
      assert.deepEqual(await messages({ node: 'vm' }), ['vm debug', 'vm warning']);
      assert.deepEqual(await messages({ node: world.app.id }), ['app info', 'app error']);
      assert.deepEqual(await messages({ last: 2 }), ['app error', 'ended']);
      assert.deepEqual(await messages({ last: 1, node: 'vm' }), ['vm warning']);
      assert.deepEqual(await messages({ last: 10, minLevel: 'error' }), ['app error']);
      assert.deepEqual(await messages({ last: 0 }), []);
      const all = await store.listEvents({ executionId: execution.id });
      assert.deepEqual(await messages({ last: 3, afterSeq: all[4]!.seq }), ['ended']);
    });

    test('listDeploymentSummaries: blueprint path, instance states and the latest execution, without the model', async () => {
      const blueprint = blueprintRecord();
      await store.putBlueprint(blueprint);
      const mainFile = '/srv/blueprints/shop/blueprint.yaml';
      const shop: DeploymentRecord = {
        ...deploymentRecord(blueprint.id, uid('shop')),
        model: { blueprint: { mainFile, baseDir: '/srv/blueprints/shop' }, nodes: {} },
        createdAt: '2030-01-01T00:00:00.000Z',
      };
      const bare: DeploymentRecord = {
        ...deploymentRecord(blueprint.id, uid('bare')),
        createdAt: '2030-01-01T00:00:01.000Z',
      };
      await store.createDeployment(shop, [
        instanceRecord(shop.id, 'vm', 0, { state: 'started' }),
        instanceRecord(shop.id, 'vm', 1, { state: 'started' }),
        instanceRecord(shop.id, 'app', 0, { state: 'deleted' }),
      ]);
      await store.createDeployment(bare, []);
      const first = executionRecord(shop.id, { createdAt: '2030-01-01T00:01:00.000Z' });
      await store.createExecution(first, []);
      await endExecution(store, first.id, 'failed');
      // Created in the same millisecond: the id decides, as listExecutions orders them.
      const second = executionRecord(shop.id, { id: `${first.id}z`, createdAt: '2030-01-01T00:01:00.000Z' });
      await store.createExecution(second, []);

      const summaries = (await store.listDeploymentSummaries()).filter(
        (d) => d.id === shop.id || d.id === bare.id,
      );
      assert.deepEqual(
        summaries.map((d) => d.id),
        [shop.id, bare.id],
      );
      const [s, b] = summaries as [DeploymentSummary, DeploymentSummary];
      assert.equal(s.blueprintPath, mainFile);
      assert.equal(s.blueprintId, blueprint.id);
      assert.deepEqual(s.inputs, shop.inputs);
      assert.equal(s.createdAt, shop.createdAt);
      assert.deepEqual(s.instanceStates, { started: 2, deleted: 1 });
      assert.equal(s.lastExecution?.id, second.id);
      assert.equal(s.lastExecution?.status, 'pending');
      assert.ok(!('model' in s));
      assert.equal(b.blueprintPath, null);
      assert.deepEqual(b.instanceStates, {});
      assert.equal(b.lastExecution, null);
      await endExecution(store, second.id);
    });

    test('getDeploymentDetail: the record, instances per node and state, the latest execution, a secrets version', async () => {
      const blueprint = blueprintRecord();
      await store.putBlueprint(blueprint);
      const shop = deploymentRecord(blueprint.id, uid('shop'));
      await store.createDeployment(shop, [
        instanceRecord(shop.id, 'vm', 0, { state: 'started' }),
        instanceRecord(shop.id, 'vm', 1, { state: 'started' }),
        instanceRecord(shop.id, 'vm', 2, { state: 'deleted' }),
        instanceRecord(shop.id, 'app', 0, { state: 'started' }),
      ]);
      assert.equal(await store.getDeploymentDetail(uid('none')), undefined);
      const before = await store.getDeploymentDetail(shop.id);
      assert.deepEqual(before?.deployment, shop);
      assert.equal(before?.lastExecution, null);
      const counts = (before?.instanceCounts ?? []).map((c) => `${c.node}/${c.state}=${c.count}`).sort();
      assert.deepEqual(counts, ['app/started=1', 'vm/deleted=1', 'vm/started=2']);
      const first = executionRecord(shop.id, { createdAt: '2030-01-01T00:01:00.000Z' });
      await store.createExecution(first, []);
      await endExecution(store, first.id, 'failed');
      const second = executionRecord(shop.id, { id: `${first.id}z`, createdAt: '2030-01-01T00:01:00.000Z' });
      await store.createExecution(second, []);
      const after = await store.getDeploymentDetail(shop.id);
      assert.deepEqual(after?.lastExecution, await store.getExecution(second.id));
      await endExecution(store, second.id);

      // The secrets version: the same until a secret is added, changed or deleted.
      const version = await store.secretsVersion();
      assert.equal(after?.secretsVersion, version);
      assert.equal(await store.secretsVersion(), version);
      const key = uid('key');
      const secret = {
        key,
        ciphertext: bytes(1),
        createdAt: '2030-01-01T00:00:00.000Z',
        updatedAt: '2030-01-01T00:00:00.000Z',
      };
      await store.putSecret(secret);
      const added = await store.secretsVersion();
      assert.notEqual(added, version);
      await store.putSecret({ ...secret, ciphertext: bytes(2), updatedAt: '2030-01-01T00:00:01.000Z' });
      const changed = await store.secretsVersion();
      assert.notEqual(changed, added);
      assert.equal((await store.getDeploymentDetail(shop.id))?.secretsVersion, changed);
      await store.deleteSecret(key);
      assert.equal(await store.secretsVersion(), version);
    });

    test('getDeploymentDetail: without the record while its version is known, with it once the record changed', async () => {
      const blueprint = blueprintRecord();
      await store.putBlueprint(blueprint);
      const shop = deploymentRecord(blueprint.id, uid('shop'));
      await store.createDeployment(shop, [instanceRecord(shop.id, 'vm', 0, { state: 'started' })]);
      const first = await store.getDeploymentDetail(shop.id);
      assert.deepEqual(first?.deployment, shop);
      const held = await store.getDeploymentDetail(shop.id, first!.version);
      assert.equal(held?.deployment, null);
      assert.equal(held?.version, first!.version);
      assert.deepEqual(held?.instanceCounts, first!.instanceCounts);
      // Another version (or none) brings the record.
      assert.deepEqual((await store.getDeploymentDetail(shop.id, `${first!.version}x`))?.deployment, shop);

      const model = { ...(shop.model as object), changed: true };
      await store.updateDeploymentModel(shop.id, model);
      const updated = await store.getDeploymentDetail(shop.id, first!.version);
      assert.notEqual(updated?.version, first!.version);
      assert.deepEqual(updated?.deployment?.model, model);

      // Deleted and created again under the same id: another version, though the record is new.
      await store.deleteDeployment(shop.id);
      await store.createDeployment(shop, []);
      const again = await store.getDeploymentDetail(shop.id, updated!.version);
      assert.notEqual(again?.version, updated!.version);
      assert.deepEqual(again?.deployment, shop);
    });

    test('events: NUL characters are stored as U+FFFD rather than failing the batch', async () => {
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      await store.applyBatch({
        events: [
          eventRecord({
            executionId: execution.id,
            message: 'out\u0000put',
            data: { 'k\u0000': 'v\u0000', literal: '\\u0000', both: '\\\u0000' },
          }),
        ],
      });
      const [event] = await store.listEvents({ executionId: execution.id });
      assert.equal(event?.message, 'out\ufffdput');
      assert.deepEqual(event?.data, { 'k\ufffd': 'v\ufffd', literal: '\\u0000', both: '\\\ufffd' });
    });

    test('secrets: put, get, list, update, delete', async () => {
      const prefix = uid('secret');
      const a = {
        key: `${prefix}/b`,
        ciphertext: bytes(0, 1, 2, 255, 254, 0),
        createdAt: '2024-01-01T00:00:00.000Z',
        updatedAt: '2024-01-01T00:00:00.000Z',
      };
      const b = { ...a, key: `${prefix}/a`, ciphertext: bytes(9) };
      await store.putSecret(a);
      await store.putSecret(b);
      assert.deepEqual(await store.getSecret(a.key), a);
      assert.equal(Object.getPrototypeOf((await store.getSecret(a.key))?.ciphertext), Uint8Array.prototype);
      const listed = (await store.listSecrets()).filter((s) => s.key.startsWith(prefix));
      assert.deepEqual(listed, [
        { key: b.key, createdAt: b.createdAt, updatedAt: b.updatedAt },
        { key: a.key, createdAt: a.createdAt, updatedAt: a.updatedAt },
      ]);
      assert.ok(!('ciphertext' in listed[0]!));

      // Updating keeps the first createdAt.
      await store.putSecret({
        ...a,
        ciphertext: bytes(7, 7),
        createdAt: '2025-01-01T00:00:00.000Z',
        updatedAt: '2025-01-01T00:00:00.000Z',
      });
      assert.deepEqual(await store.getSecret(a.key), {
        ...a,
        ciphertext: bytes(7, 7),
        updatedAt: '2025-01-01T00:00:00.000Z',
      });

      assert.equal(await store.deleteSecret(a.key), true);
      assert.equal(await store.deleteSecret(a.key), false);
      assert.equal(await store.deleteSecret(uid('never')), false);
      assert.equal(await store.getSecret(a.key), undefined);
      assert.deepEqual(
        (await store.listSecrets()).filter((s) => s.key.startsWith(prefix)).map((s) => s.key),
        [b.key],
      );
    });

    test('deleteDeployment removes instances, executions, tasks and events, and nothing else', async () => {
      const world = await makeWorld(store);
      const keep = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 3);
      const { execution: kept } = await makeExecution(store, keep, 2);
      await store.applyBatch({
        events: [
          eventRecord({ executionId: execution.id, deploymentId: world.deployment.id }),
          eventRecord({ executionId: execution.id }),
          eventRecord({ deploymentId: world.deployment.id }),
          eventRecord({ executionId: kept.id, deploymentId: keep.deployment.id }),
        ],
      });
      await store.updateRuntimeProperties(world.vm.id, { ip: '1.2.3.4' }, 0);
      const keptBefore = {
        deployment: await store.getDeployment(keep.deployment.id),
        instances: await store.listInstances(keep.deployment.id),
        executions: await store.listExecutions(keep.deployment.id),
        tasks: await store.listTasks(kept.id),
        events: await store.listEvents({ deploymentId: keep.deployment.id }),
      };

      await store.deleteDeployment(world.deployment.id);

      assert.equal(await store.getDeployment(world.deployment.id), undefined);
      assert.deepEqual(await store.listInstances(world.deployment.id), []);
      assert.equal(await store.getInstance(world.vm.id), undefined);
      assert.equal(await store.getExecution(execution.id), undefined);
      assert.deepEqual(await store.listExecutions(world.deployment.id), []);
      assert.deepEqual(await store.listTasks(execution.id), []);
      assert.deepEqual(await store.listEvents({ executionId: execution.id }), []);
      assert.deepEqual(await store.listEvents({ deploymentId: world.deployment.id }), []);
      assert.ok(!(await store.listDeployments()).some((d) => d.id === world.deployment.id));
      // The blueprint stays (others may use it), and so does everything of the other deployment.
      assert.deepEqual(await store.getBlueprint(world.blueprint.id), world.blueprint);
      assert.deepEqual(
        {
          deployment: await store.getDeployment(keep.deployment.id),
          instances: await store.listInstances(keep.deployment.id),
          executions: await store.listExecutions(keep.deployment.id),
          tasks: await store.listTasks(kept.id),
          events: await store.listEvents({ deploymentId: keep.deployment.id }),
        },
        keptBefore,
      );
      await assert.rejects(store.deleteDeployment(world.deployment.id), NotFoundError);
      // The deployment id can be used again.
      await store.createDeployment({ ...world.deployment }, []);
    });

    test('a batch of 1,000 task updates and 1,000 events (timed)', async (t) => {
      const world = await makeWorld(store);
      const n = 1000;
      const execution = executionRecord(world.deployment.id);
      const tasks = Array.from({ length: n }, (_, i) => taskRecord(execution.id, i, world.vm.id));
      let started = performance.now();
      await store.createExecution(execution, tasks);
      const createMs = performance.now() - started;
      const timings: number[] = [];
      for (let round = 1; round <= 4; round++) {
        const batch: Batch = {
          tasks: tasks.map((task) => ({
            executionId: task.executionId,
            id: task.id,
            state: round % 2 ? 'started' : 'succeeded',
            attempt: round,
            notBefore: null,
            error: null,
            result: round % 2 ? null : { round, stdout: 'x'.repeat(100) },
          })),
          events: tasks.map((task) =>
            eventRecord({
              executionId: execution.id,
              deploymentId: world.deployment.id,
              taskId: task.id,
              node: task.node,
              instanceId: task.instanceId,
              operation: task.operation,
              type: 'task_started',
              message: `task ${task.id} round ${round}`,
              data: { round, attempt: round },
            }),
          ),
        };
        started = performance.now();
        await store.applyBatch(batch);
        timings.push(performance.now() - started);
      }
      const stored = await store.listTasks(execution.id);
      assert.equal(stored.length, n);
      assert.ok(stored.every((task) => task.state === 'succeeded' && task.attempt === 4));
      assert.equal((await store.listEvents({ executionId: execution.id })).length, 4 * n);
      const line = `${name}: createExecution with ${n} tasks ${createMs.toFixed(1)} ms; applyBatch of ${n} task updates + ${n} events: ${timings.map((ms) => ms.toFixed(1)).join(', ')} ms`;
      t.diagnostic(line);
    });
  });
}

test('the migrations index the same active statuses as ACTIVE_EXECUTION_STATUSES', () => {
  assert.deepEqual([...MIGRATION_ACTIVE_STATUSES], [...ACTIVE_EXECUTION_STATUSES]);
  for (const list of [sqliteMigrations, postgresMigrations]) {
    const sql = list.map((m) => m.sql).join('\n');
    assert.ok(sql.includes(`WHERE status IN (${ACTIVE_EXECUTION_STATUSES.map((s) => `'${s}'`).join(', ')})`));
  }
  assert.deepEqual(
    sqliteMigrations.map((m) => m.version),
    postgresMigrations.map((m) => m.version),
  );
});

// SQLite

const tempDir = mkdtempSync(join(tmpdir(), 'weft-store-test-'));
after(() => rmSync(tempDir, { recursive: true, force: true }));

function tempDb(): string {
  return join(tempDir, `${uid('db')}.sqlite`);
}

function sqliteVersions(path: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return (
      db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]
    ).map((r) => r.version);
  } finally {
    db.close();
  }
}

const sqlitePath = tempDb();
storeSuite('SQLite', () => openSqliteStore(sqlitePath), {
  migrationVersions: async () => sqliteVersions(sqlitePath),
  freshDatabase: async () => {
    const path = tempDb();
    return { open: () => openSqliteStore(path), dispose: async () => {} };
  },
});

interface ChildResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs an ES module script in a child `node` with `env`; when its stdout contains `until`, kills
 * it with SIGKILL at once. Resolves when it has exited.
 */
function runChild(script: string, env: Record<string, string>, until?: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...env, WEFT_STORE_MODULE: storeModule },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (until !== undefined && stdout.includes(until)) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout, stderr, code, signal }));
  });
}

describe('SQLite specifics', () => {
  test('a write resolves only once a sync of the WAL begun after its commit has ended', async () => {
    const path = tempDb();
    const store = await openSqliteStore(path);
    try {
      await store.migrate();
      // Syncs are held until the test lets them end; each records whether the commit was already
      // in the WAL (another connection sees it) when it began.
      const syncs: { sawCommit: boolean; end: () => void }[] = [];
      let began: () => void = () => {};
      const reader = new Database(path, { readonly: true });
      const committed = () =>
        reader.prepare("SELECT count(*) AS n FROM secrets WHERE key = 'k'").get() as { n: number };
      await (Reflect.get(store, 'wal') as WalSync).close();
      Reflect.set(
        store,
        'wal',
        new WalSync(`${path}-wal`, async () => ({
          datasync: () =>
            new Promise<void>((end) => {
              syncs.push({ sawCommit: committed().n === 1, end });
              began();
            }),
          close: async () => {},
        })),
      );
      let resolved = false;
      const syncBegan = new Promise<void>((resolve) => {
        began = resolve;
      });
      const write = store
        .putSecret({ key: 'k', ciphertext: bytes(1), createdAt: 'a', updatedAt: 'a' })
        .then(() => {
          resolved = true;
        });
      await syncBegan;
      assert.equal(syncs.length, 1);
      assert.equal(syncs[0]!.sawCommit, true, 'the sync began after the commit');
      await new Promise((r) => setImmediate(r));
      assert.equal(resolved, false, 'the write waits for its sync');
      syncs[0]!.end();
      await write;
      assert.equal(resolved, true);
      reader.close();
    } finally {
      Reflect.set(store, 'wal', undefined);
      await store.close();
    }
  });

  test('commits made while the WAL syncs share the next sync; a failed sync fails its writes', async () => {
    const ends: (() => void)[] = [];
    const fails: ((error: Error) => void)[] = [];
    let opened = 0;
    const wal = new WalSync('unused', async () => {
      opened++;
      return {
        datasync: () =>
          new Promise<void>((end, fail) => {
            ends.push(end);
            fails.push(fail);
          }),
        close: async () => {},
      };
    });
    const first = wal.synced();
    await new Promise((r) => setImmediate(r));
    assert.equal(ends.length, 1);
    // Three commits during the first sync: one more sync covers them all, begun once it ends.
    const later = [wal.synced(), wal.synced(), wal.synced()];
    assert.equal(later[0], later[1]);
    assert.equal(later[1], later[2]);
    await new Promise((r) => setImmediate(r));
    assert.equal(ends.length, 1, 'the next sync waits for the running one');
    ends[0]!();
    await first;
    await new Promise((r) => setImmediate(r));
    assert.equal(ends.length, 2);
    fails[1]!(new Error('EIO: i/o error, fdatasync'));
    for (const promise of later) await assert.rejects(promise, /EIO/);
    // The next commit syncs again, on the same file.
    const again = wal.synced();
    await new Promise((r) => setImmediate(r));
    ends[2]!();
    await again;
    assert.equal(opened, 1);
  });

  test('the database file is in WAL mode; connections use synchronous=NORMAL (the store syncs the WAL) and foreign keys', async () => {
    const path = tempDb();
    const store = await openSqliteStore(path);
    try {
      await store.migrate();
      assert.ok(store instanceof SqliteStore);
      const db = Reflect.get(store, 'db') as Database.Database;
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('synchronous', { simple: true }), 1 /* NORMAL */);
      assert.ok(Reflect.get(store, 'wal') instanceof WalSync);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.ok((db.pragma('busy_timeout', { simple: true }) as number) >= 5000);
      const raw = new Database(path, { readonly: true });
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      raw.close();
    } finally {
      await store.close();
    }
  });

  test('migrate refuses a database that a newer Weft migrated', async () => {
    const path = tempDb();
    const store = await openSqliteStore(path);
    try {
      await store.migrate();
      const raw = new Database(path);
      raw
        .prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (999, ?)')
        .run(new Date().toISOString());
      raw.close();
      await assert.rejects(store.migrate(), /schema version 999, newer than this version of Weft knows/);
    } finally {
      await store.close();
    }
  });

  test("':memory:' works", async () => {
    const store = await openSqliteStore(':memory:');
    try {
      await store.migrate();
      const world = await makeWorld(store);
      assert.deepEqual(await store.getDeployment(world.deployment.id), world.deployment);
    } finally {
      await store.close();
    }
  });

  test('openStore opens SQLite for a path', async () => {
    const store = await openStore(tempDb());
    try {
      assert.ok(store instanceof SqliteStore);
      await store.migrate();
    } finally {
      await store.close();
    }
  });

  test('two connections on one file: each sees what the other commits', async () => {
    const path = tempDb();
    const writer = await openSqliteStore(path);
    const reader = await openSqliteStore(path);
    try {
      await writer.migrate();
      const world = await makeWorld(writer);
      const { execution } = await makeExecution(writer, world, 1);
      await writer.applyBatch({ events: [eventRecord({ executionId: execution.id, message: 'first' })] });
      const seen = await reader.listEvents({ executionId: execution.id });
      assert.deepEqual(
        seen.map((e) => e.message),
        ['first'],
      );
      await reader.applyBatch({
        events: [eventRecord({ executionId: execution.id, message: 'from the reader' })],
      });
      await writer.applyBatch({ events: [eventRecord({ executionId: execution.id, message: 'second' })] });
      assert.deepEqual(
        (await reader.listEvents({ executionId: execution.id, afterSeq: seen[0]!.seq })).map(
          (e) => e.message,
        ),
        ['from the reader', 'second'],
      );
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  test('two processes migrating one new file at the same time both succeed', async () => {
    const path = tempDb();
    const script = `
      const { openSqliteStore } = await import(process.env.WEFT_STORE_MODULE);
      const store = await openSqliteStore(process.env.WEFT_DB);
      await store.migrate();
      await store.close();
      process.stdout.write('migrated');
    `;
    const results = await Promise.all([1, 2, 3].map(() => runChild(script, { WEFT_DB: path })));
    for (const r of results) assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'migrated', '']);
    assert.deepEqual(
      sqliteVersions(path),
      sqliteMigrations.map((m) => m.version),
    );
  });

  test('a batch a killed process reported as done is there after reopening', async () => {
    const path = tempDb();
    const setup = await openSqliteStore(path);
    await setup.migrate();
    const world = await makeWorld(setup);
    const { execution, tasks } = await makeExecution(setup, world, 50);
    await setup.close();

    const batch: Batch = {
      tasks: tasks.map((t) => ({ ...t, state: 'succeeded', attempt: 1, result: { done: t.id } })),
      instanceStates: [{ id: world.vm.id, state: 'started' }],
      runtimeProperties: [{ id: world.vm.id, runtimeProperties: { ip: '10.1.2.3' }, expectedVersion: 0 }],
      events: tasks.map((t) =>
        eventRecord({ executionId: execution.id, taskId: t.id, type: 'task_succeeded' }),
      ),
      execution: { id: execution.id, status: 'terminated', endedAt: '2024-01-02T05:00:00.000Z' },
    };
    const script = `
      const { openSqliteStore } = await import(process.env.WEFT_STORE_MODULE);
      const store = await openSqliteStore(process.env.WEFT_DB);
      await store.applyBatch(JSON.parse(process.env.WEFT_BATCH));
      process.stdout.write('done\\n');
      setInterval(() => {}, 1 << 30); // stays alive (with the database open) until killed
    `;
    const result = await runChild(script, { WEFT_DB: path, WEFT_BATCH: JSON.stringify(batch) }, 'done');
    assert.equal(result.signal, 'SIGKILL', result.stderr);
    assert.equal(result.stdout, 'done\n');
    // The killed process never closed the database: its commit is only in the WAL file.
    assert.ok(existsSync(`${path}-wal`));

    const reopened = await openSqliteStore(path);
    try {
      await reopened.migrate();
      const stored = await reopened.listTasks(execution.id);
      assert.ok(stored.every((t) => t.state === 'succeeded' && t.attempt === 1));
      assert.equal((await reopened.listEvents({ executionId: execution.id })).length, tasks.length);
      assert.deepEqual(await reopened.getInstance(world.vm.id), {
        ...world.vm,
        state: 'started',
        runtimeProperties: { ip: '10.1.2.3' },
        version: 1,
      });
      assert.equal((await reopened.getExecution(execution.id))?.status, 'terminated');
    } finally {
      await reopened.close();
    }
  });
});

// PostgreSQL

const postgresUrl = process.env.WEFT_TEST_POSTGRES_URL ?? 'postgres://127.0.0.1:5432/test';
const runId = randomUUID().replaceAll('-', '').slice(0, 12);
const schemas: string[] = [];

function newSchema(): string {
  const schema = `weft_test_${runId}_${schemas.length}`;
  schemas.push(schema);
  return schema;
}

/** Runs `sql` on a single short-lived connection to the test database. */
async function adminQuery<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: withDefaultUser(postgresUrl) });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function postgresUnavailable(): Promise<string | undefined> {
  try {
    await adminQuery('SELECT 1');
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL not reachable at ${postgresUrl}: ${(error as Error).message}`;
    if (process.env.WEFT_TEST_POSTGRES_REQUIRED === '1') throw new Error(reason);
    return reason;
  }
}

const pgSkip = await postgresUnavailable();

after(async () => {
  if (pgSkip || schemas.length === 0) return;
  await adminQuery(`DROP SCHEMA IF EXISTS ${schemas.join(', ')} CASCADE`);
});

const pgSchema = newSchema();
storeSuite(
  'PostgreSQL',
  () => openPostgresStore(postgresUrl, { schema: pgSchema }),
  {
    migrationVersions: async () =>
      (
        await adminQuery<{ version: number }>(
          `SELECT version FROM ${pgSchema}.schema_migrations ORDER BY version`,
        )
      ).map((r) => r.version),
    freshDatabase: async () => {
      const schema = newSchema();
      return {
        open: () => openPostgresStore(postgresUrl, { schema }),
        dispose: async () => {
          await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        },
      };
    },
  },
  pgSkip,
);

describe('PostgreSQL specifics', { skip: pgSkip }, () => {
  test('events are stored under the events lock: a batch waits while another transaction holds it', async () => {
    const schema = newSchema();
    const store = await openPostgresStore(postgresUrl, { schema });
    const holder = new pg.Client({ connectionString: withDefaultUser(postgresUrl) });
    await holder.connect();
    try {
      await store.migrate();
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      // Another writer of events, in the store's schema, holds the lock (seq is drawn under it, so
      // that events become visible in seq order).
      await holder.query(`SET search_path TO "${schema}"`);
      await holder.query('BEGIN');
      await holder.query(
        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))",
        [0x57460002],
      );
      let stored = false;
      const batch = store
        .applyBatch({ events: [eventRecord({ executionId: execution.id, message: 'after the holder' })] })
        .then(() => {
          stored = true;
        });
      // The batch's statement waits on the advisory lock (seen in pg_locks, not guessed by a pause).
      for (;;) {
        const waiting = await adminQuery<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        );
        // Stored without waiting: the lock was not taken (the assertion below says so).
        if (waiting[0]!.n > 0 || stored) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(stored, false);
      assert.deepEqual(await store.listEvents({ executionId: execution.id }), []);
      await holder.query('COMMIT');
      await batch;
      assert.deepEqual(
        (await store.listEvents({ executionId: execution.id })).map((e) => e.message),
        ['after the holder'],
      );
    } finally {
      await holder.end();
      await store.close();
    }
  });

  test('a batch of events notifies the eventsNotice in the query of its COMMIT, not in one of its own', async () => {
    const schema = newSchema();
    const channel = `weft_test_${runId}`;
    const store = await openPostgresStore(postgresUrl, { schema, eventsNotice: { channel, payload: "p'1" } });
    const listener = new pg.Client({ connectionString: withDefaultUser(postgresUrl) });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (message) => heard.push(message.payload ?? ''));
    const sent: string[] = [];
    const query = pg.Client.prototype.query;
    try {
      await store.migrate();
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      await listener.query(`LISTEN ${channel}`);
      // Every query of this process's clients, from here.
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        if (typeof args[0] === 'string') sent.push(args[0]);
        return (query as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof query;
      await store.applyBatch({ execution: { id: execution.id, status: 'started' } });
      const quiet = sent.length;
      await store.applyBatch({
        events: [
          eventRecord({ executionId: execution.id, message: 'one' }),
          eventRecord({ executionId: execution.id, message: 'two' }),
        ],
      });
      pg.Client.prototype.query = query;
      // Heard once the listener's next query is answered: notifications come before its answer.
      await listener.query('SELECT 1');
      assert.deepEqual(heard, ["p'1"], 'one notification for the batch with events, none for the other');
      const batch = sent.slice(quiet);
      assert.equal(batch.length, 2, `BEGIN, then the events with the notification and the COMMIT: ${batch}`);
      assert.match(batch[1]!, /INSERT INTO events[\s\S]*pg_notify[\s\S]*COMMIT$/);
    } finally {
      pg.Client.prototype.query = query;
      await listener.end();
      await store.close();
    }
  });

  test('batches of events alone that come while one is committed go in the next commit together; one that fails is tried alone', async () => {
    const schema = newSchema();
    const store = await openPostgresStore(postgresUrl, { schema });
    const holder = new pg.Client({ connectionString: withDefaultUser(postgresUrl) });
    await holder.connect();
    const commits: string[] = [];
    const query = pg.Client.prototype.query;
    try {
      await store.migrate();
      const world = await makeWorld(store);
      const { execution: one } = await makeExecution(store, world, 1);
      const other = await makeWorld(store);
      const { execution: two } = await makeExecution(store, other, 1);
      await holder.query(`SET search_path TO "${schema}"`);
      const holdEventsLock = async () => {
        await holder.query('BEGIN');
        await holder.query(
          "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))",
          [0x57460002],
        );
      };
      // Seen in pg_locks, not guessed by a pause.
      const lockWaitedOn = async () => {
        while (
          (
            await adminQuery<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
          )[0]!.n === 0
        )
          await new Promise((resolve) => setImmediate(resolve));
      };
      await holdEventsLock();
      pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
        if (typeof args[0] === 'string' && args[0].includes('INSERT INTO events')) commits.push(args[0]);
        return (query as (...a: unknown[]) => unknown).apply(this, args);
      } as typeof query;
      const line = (executionId: string, message: string) => ({
        events: [eventRecord({ executionId, message })],
      });
      // The first waits on the lock; the next ones come meanwhile.
      const first = store.applyBatch(line(one.id, 'one 1'));
      await lockWaitedOn();
      const second = store.applyBatch(line(two.id, 'two 1'));
      const third = store.applyBatch(line(one.id, 'one 2'));
      await holder.query('COMMIT');
      await Promise.all([first, second, third]);
      assert.equal(commits.length, 2, 'the first commit, then one for the two that came meanwhile');
      assert.deepEqual(
        (await store.listEvents({})).map((e) => e.message),
        ['one 1', 'two 1', 'one 2'],
      );

      // A group that fails (an execution that is not there): the others' events are stored still.
      await holdEventsLock();
      const blocker = store.applyBatch(line(one.id, 'one 3'));
      await lockWaitedOn();
      const good = store.applyBatch(line(two.id, 'two 2'));
      const bad = store.applyBatch(line(uid('gone'), 'nobody'));
      await holder.query('COMMIT');
      await blocker;
      await good;
      await assert.rejects(bad, (error: Error & { code?: string }) => error.code === '23503');
      assert.deepEqual(
        (await store.listEvents({ executionId: two.id })).map((e) => e.message),
        ['two 1', 'two 2'],
      );
    } finally {
      pg.Client.prototype.query = query;
      await holder.end();
      await store.close();
    }
  });

  test('openStore opens PostgreSQL for postgres:// and postgresql:// URLs', async () => {
    for (const url of [postgresUrl, postgresUrl.replace(/^postgres:/, 'postgresql:')]) {
      const store = await openStore(url);
      try {
        assert.ok(store instanceof PostgresStore);
      } finally {
        await store.close();
      }
    }
  });

  test('the schema is created when missing and the tables live in it', async () => {
    const schema = newSchema();
    const store = await openPostgresStore(postgresUrl, { schema });
    try {
      await store.migrate();
      const tables = await adminQuery<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      assert.deepEqual(
        tables.map((t) => t.table_name),
        [
          'blueprint_files',
          'blueprints',
          'deployment_versions',
          'deployments',
          'events',
          'executions',
          'node_instances',
          'schema_migrations',
          'secrets',
          'snapshots',
          'tasks',
        ],
      );
    } finally {
      await store.close();
    }
  });

  test('an invalid schema name is refused', async () => {
    await assert.rejects(
      openPostgresStore(postgresUrl, { schema: 'x; DROP TABLE y' }),
      /invalid PostgreSQL schema/,
    );
  });

  test('concurrent createExecution calls on one deployment: exactly one wins', async () => {
    const schema = newSchema();
    const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore(postgresUrl, { schema })));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const world = await makeWorld(stores[0]!);
      const results = await Promise.allSettled(
        stores.flatMap((s) => [1, 2].map(() => makeExecution(s, world, 20))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof ActiveExecutionError, String(r.reason));
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('concurrent batches: seq order is commit order, every event listed once', async () => {
    const schema = newSchema();
    const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore(postgresUrl, { schema })));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const worlds = await Promise.all(stores.map((s) => makeWorld(s)));
      const executions = await Promise.all(stores.map((s, i) => makeExecution(s, worlds[i]!, 1)));
      // Writers append while a follower reads after the last seq it saw.
      const seen: number[] = [];
      let last = 0;
      let following = Promise.resolve();
      const follow = (): Promise<void> => {
        following = following.then(async () => {
          for (const e of await stores[0]!.listEvents({ afterSeq: last })) {
            seen.push(e.seq!);
            last = e.seq!;
          }
        });
        return following;
      };
      const writers = stores.map(async (s, i) => {
        for (let round = 0; round < 20; round++) {
          await s.applyBatch({
            events: Array.from({ length: 10 }, () =>
              eventRecord({ executionId: executions[i]!.execution.id }),
            ),
          });
          await follow();
        }
      });
      await Promise.all(writers);
      await follow();
      assert.equal(seen.length, 3 * 20 * 10);
      assert.equal(new Set(seen).size, seen.length);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

describe('PostgreSQL: terminated connections', { skip: pgSkip }, () => {
  /** A store whose connections the test can find by application_name, in a fresh schema. */
  async function namedStore(): Promise<{ store: Store; schema: string; app: string }> {
    const schema = newSchema();
    const app = `weft_${schema}`;
    const store = await openPostgresStore(`${postgresUrl}?application_name=${app}`, { schema });
    await store.migrate();
    return { store, schema, app };
  }

  /** Ends every backend of `app` (as an administrator's pg_terminate_backend or a server restart does). */
  async function terminate(app: string, where = 'true'): Promise<number> {
    const rows = await adminQuery(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND ${where}`,
      [app],
    );
    return rows.length;
  }

  /** Resolves once a backend of `app` waits on a lock (the state a test holds it in). */
  async function waitingOnLock(app: string): Promise<void> {
    for (;;) {
      const rows = await adminQuery(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
        [app],
      );
      if (rows.length > 0) return;
    }
  }

  /** Holds advisory lock (key1, key2) in a transaction of its own until the returned function is called. */
  async function holdLock(sql: string, params: unknown[]): Promise<() => Promise<void>> {
    const client = new pg.Client({ connectionString: withDefaultUser(postgresUrl) });
    await client.connect();
    await client.query('BEGIN');
    await client.query(sql, params);
    return async () => {
      await client.query('COMMIT');
      await client.end();
    };
  }

  const eventsLock = (schema: string) =>
    ['SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x57460002, schema]] as const;

  test('idle connections terminated between calls: the next calls reconnect', async () => {
    const { store, app } = await namedStore();
    try {
      const world = await makeWorld(store);
      for (let round = 0; round < 5; round++) {
        assert.ok((await terminate(app)) > 0);
        const { execution } = await makeExecution(store, world, 2);
        await store.applyBatch({ events: [eventRecord({ executionId: execution.id })] });
        assert.equal((await store.listEvents({ executionId: execution.id })).length, 1);
        await endExecution(store, execution.id);
      }
    } finally {
      await store.close();
    }
  });

  test('a transaction whose connection ends before COMMIT is run again whole, once', async () => {
    const { store, schema, app } = await namedStore();
    try {
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      // The batch waits for the events lock the test holds: its connection is ended mid-transaction.
      const [sql, params] = eventsLock(schema);
      const release = await holdLock(sql, [...params]);
      const batch = store.applyBatch({
        tasks: [
          {
            executionId: execution.id,
            id: 0,
            state: 'succeeded',
            attempt: 0,
            notBefore: null,
            error: null,
            result: null,
          },
        ],
        events: [eventRecord({ executionId: execution.id, message: 'once' })],
      });
      await waitingOnLock(app);
      assert.equal(await terminate(app, "wait_event_type = 'Lock'"), 1);
      await release();
      await batch;
      assert.deepEqual(
        (await store.listEvents({ executionId: execution.id })).map((e) => e.message),
        ['once'],
      );
      assert.equal((await store.listTasks(execution.id))[0]!.state, 'succeeded');
    } finally {
      await store.close();
    }
  });

  test('a connection ended during COMMIT: the server says it did not commit, so it runs again, once', async () => {
    const { store, schema, app } = await namedStore();
    try {
      const world = await makeWorld(store);
      const { execution } = await makeExecution(store, world, 1);
      // A deferred trigger makes COMMIT itself wait for a lock the test holds.
      await adminQuery(`CREATE FUNCTION ${schema}.hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_advisory_xact_lock(4242, hashtext('${schema}')); RETURN NULL; END $$`);
      await adminQuery(`CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON ${schema}.events
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${schema}.hold_commit()`);
      const release = await holdLock('SELECT pg_advisory_xact_lock(4242, hashtext($1))', [schema]);
      const batch = store.applyBatch({
        events: [eventRecord({ executionId: execution.id, message: 'once' })],
      });
      await waitingOnLock(app);
      assert.equal(await terminate(app, "wait_event_type = 'Lock'"), 1);
      await release();
      await batch;
      assert.deepEqual(
        (await store.listEvents({ executionId: execution.id })).map((e) => e.message),
        ['once'],
      );
    } finally {
      await store.close();
    }
  });
});
