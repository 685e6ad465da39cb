// The deployment update on the engine: planned against the stored deployment, run by the executor
// with in-process operations, finished on success; what runs, in which order, and what is stored.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { finishExecution, prepareDeployment } from '../src/deployment/deployments.js';
import { nextVersion, planDeploymentUpdate, startDeploymentUpdate } from '../src/deployment/update.js';
import { fileSystemReader } from '../src/io/fs-reader.js';
import type { DeploymentModel } from '../src/model/deployment-model.js';
import type { RelationshipInstance } from '../src/model/plan.js';
import type { ExecutionRecord, Json, NodeInstanceRecord } from '../src/store/types.js';
import { WorkflowError } from '../src/workflows/builtin.js';
import { planUpdate, UPDATE_PARAMETER_DEFAULTS } from '../src/workflows/update.js';
import { type Harness, harness, type noop } from './executor-helpers.js';

const HEAD = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, install: false}
node_types:
  t.App:
    derived_from: cloudify.nodes.Root
    properties: {port: {default: 80}}
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.op, start: p.op, stop: p.op, delete: p.op}
  t.Updatable:
    derived_from: t.App
    interfaces:
      cloudify.interfaces.lifecycle: {preupdate: p.op, update: p.op, postupdate: p.op}
relationships:
  t.rel:
    derived_from: cloudify.relationships.depends_on
    source_interfaces:
      cloudify.interfaces.relationship_lifecycle: {preconfigure: p.op, establish: p.op, unlink: p.op}
    target_interfaces:
      cloudify.interfaces.relationship_lifecycle: {establish: p.target, unlink: p.target}
`;

const LIMIT = { timeout: 30_000 };

/**
 * Every operation counts its runs in a runtime property of its instance (a relationship's source
 * operations: of the source; its target operations: of the target), so that a test sees what ran where.
 */
function counting(side: 'source' | 'target') {
  return async (ctx: Parameters<typeof noop>[0]) => {
    const own = ctx.source && ctx.target ? ctx[side]!.instance : ctx.instance!;
    const name = ctx.operation.name.split('.').pop()!;
    own.runtimeProperties[name] = ((own.runtimeProperties[name] as number | undefined) ?? 0) + 1;
    await own.update();
  };
}

const operations = { 'p.op': counting('source'), 'p.target': counting('target') };

async function installed(blueprint: string): Promise<Harness> {
  const h = await harness(HEAD + blueprint, { operations });
  assert.equal((await h.execute('install')).status, 'terminated');
  h.calls.length = 0;
  return h;
}

function prepare(h: Harness, blueprint: string) {
  const file = join(h.dir, `next-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, HEAD + blueprint);
  const { prepared, problems } = prepareDeployment({
    reader: fileSystemReader(),
    blueprintPath: file,
    deploymentId: h.deploymentId,
  });
  assert.ok(prepared, JSON.stringify(problems.problems));
  return prepared;
}

/** Updates the deployment to the blueprint and runs the update to its end. */
async function update(
  h: Harness,
  blueprint: string,
  parameters: Record<string, Json> = {},
): Promise<ExecutionRecord> {
  const { execution } = await startDeploymentUpdate({
    store: h.store,
    deploymentId: h.deploymentId,
    next: nextVersion(prepare(h, blueprint)),
    parameters,
  });
  const result = await h.executor.run(execution.id);
  await finishExecution(h.store, result);
  return result;
}

async function instances(h: Harness): Promise<Map<string, NodeInstanceRecord[]>> {
  const byNode = new Map<string, NodeInstanceRecord[]>();
  for (const i of await h.store.listInstances(h.deploymentId))
    byNode.set(i.node, [...(byNode.get(i.node) ?? []), i]);
  return byNode;
}

const rels = (i: NodeInstanceRecord) => i.relationships as unknown as RelationshipInstance[];

function assertOrder(calls: string[], ...expected: string[]): void {
  const at = expected.map((call) => {
    const index = calls.indexOf(call);
    assert.ok(index >= 0, `${call} ran (calls: ${calls.join(', ')})`);
    return index;
  });
  assert.deepEqual(
    [...at].sort((a, b) => a - b),
    at,
    `in this order: ${expected.join(', ')} (calls: ${calls.join(', ')})`,
  );
}

const BASE = `
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    instances: {deploy: 2}
  db: {type: t.App}
  web:
    type: t.App
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
      - {type: t.rel, target: db}
`;

describe('deployment update', { concurrency: true }, () => {
  test(
    'an added node gets instances under every instance of its host, installed; the rest is untouched',
    LIMIT,
    async () => {
      const h = await installed(BASE);
      const before = await instances(h);
      const result = await update(
        h,
        `${BASE}  cache:
    type: t.App
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
      - {type: t.rel, target: db}
`,
      );
      assert.equal(result.status, 'terminated');
      const after = await instances(h);
      const hosts = before
        .get('host')!
        .map((i) => i.id)
        .sort();
      assert.deepEqual(
        after
          .get('cache')!
          .map((i) => i.containedIn)
          .sort(),
        hosts,
      );
      for (const cache of after.get('cache')!) {
        assert.equal(cache.state, 'started');
        assert.match(cache.id, /^cache_[a-z0-9]{6}$/);
        assert.deepEqual(
          rels(cache).map((r) => [r.target, r.targetId]),
          [
            ['host', cache.containedIn],
            ['db', before.get('db')![0]!.id],
          ],
        );
        assert.deepEqual(cache.runtimeProperties, { create: 1, start: 1, preconfigure: 1, establish: 1 });
      }
      // The existing target ran its side of the new relationships, and nothing else ran on it.
      assert.deepEqual(after.get('db')![0]!.runtimeProperties, { create: 1, start: 1, establish: 4 });
      assert.deepEqual(after.get('web'), before.get('web'), 'web untouched');
      assert.equal(h.calls.filter((c) => c.startsWith('web') || c.startsWith('host')).length, 0);
    },
  );

  test(
    'a removed node: sources that stay unlink first, then its instances are uninstalled and dropped',
    LIMIT,
    async () => {
      const h = await installed(BASE);
      const db = (await instances(h)).get('db')![0]!;
      const result = await update(
        h,
        `
node_templates:
  host:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    instances: {deploy: 2}
  web:
    type: t.App
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
`,
      );
      assert.equal(result.status, 'terminated');
      assert.equal(h.calls.filter((c) => c === 'web.unlink[web->db]').length, 2, 'two web instances');
      assert.equal(h.calls.filter((c) => c === 'db.unlink[web->db]').length, 2, 'the target side of each');
      assertOrder(h.calls, 'web.unlink[web->db]', 'db.stop', 'db.delete');
      const after = await instances(h);
      assert.equal(after.get('db'), undefined);
      assert.equal(await h.store.getInstance(db.id), undefined);
      for (const web of after.get('web')!) {
        assert.deepEqual(
          rels(web).map((r) => r.target),
          ['host'],
        );
        assert.equal(web.runtimeProperties.unlink, 1);
      }
      const model = (await h.store.getDeployment(h.deploymentId))!.model as unknown as DeploymentModel;
      assert.deepEqual(Object.keys(model.nodes).sort(), ['host', 'web']);
      assert.equal(
        model.nodes.web!.relationships.length,
        1,
        'the kept definition of the removed relationship is gone',
      );
    },
  );

  test(
    "a changed property reinstalls the node's instances, re-linking their neighbours; runtime properties stay",
    LIMIT,
    async () => {
      const h = await installed(BASE);
      const result = await update(
        h,
        BASE.replace('db: {type: t.App}', 'db: {type: t.App, properties: {port: 5432}}'),
      );
      assert.equal(result.status, 'terminated');
      assertOrder(
        h.calls,
        'web.unlink[web->db]',
        'db.stop',
        'db.delete',
        'db.create',
        'db.start',
        'web.establish[web->db]',
      );
      assert.equal(
        h.calls.filter((c) => c.startsWith('web.') && !c.includes('[')).length,
        0,
        'web itself is not reinstalled',
      );
      const db = (await instances(h)).get('db')![0]!;
      assert.deepEqual(db.runtimeProperties, {
        create: 2,
        start: 2,
        stop: 1,
        delete: 1,
        establish: 4,
        unlink: 2,
      });
    },
  );

  test(
    'a node with update operations is updated in place: preupdate, update, postupdate',
    LIMIT,
    async () => {
      const updatable = BASE.replace('db: {type: t.App}', 'db: {type: t.Updatable}');
      const h = await installed(updatable);
      const result = await update(
        h,
        updatable.replace('db: {type: t.Updatable}', 'db: {type: t.Updatable, properties: {port: 1}}'),
      );
      assert.equal(result.status, 'terminated');
      assert.deepEqual(h.calls, ['db.preupdate', 'db.update', 'db.postupdate']);
    },
  );

  test(
    'skip_reinstall leaves changed instances alone; reinstall_list reinstalls what it names',
    LIMIT,
    async () => {
      const h = await installed(BASE);
      const changed = BASE.replace('db: {type: t.App}', 'db: {type: t.App, properties: {port: 1}}');
      assert.equal((await update(h, changed, { skip_reinstall: true })).status, 'terminated');
      assert.equal(h.calls.length, 0, h.calls.join(', '));
      const web = (await instances(h)).get('web')![0]!;
      assert.equal(
        (await update(h, changed, { reinstall_list: [web.id], skip_reinstall: true })).status,
        'terminated',
      );
      assert.deepEqual(
        h.calls.filter((c) => !c.includes('[')),
        ['web.stop', 'web.delete', 'web.create', 'web.start'],
      );
    },
  );

  test(
    'skip_install adds instances uninitialized; skip_uninstall drops removed ones without running anything',
    LIMIT,
    async () => {
      const h = await installed(BASE);
      const withCache = `${BASE}  cache: {type: t.App}\n`;
      assert.equal((await update(h, withCache, { skip_install: true })).status, 'terminated');
      assert.equal(h.calls.length, 0, h.calls.join(', '));
      assert.equal((await instances(h)).get('cache')![0]!.state, 'uninitialized');
      assert.equal((await update(h, BASE, { skip_uninstall: true })).status, 'terminated');
      assert.equal(h.calls.length, 0, h.calls.join(', '));
      assert.equal((await instances(h)).get('cache'), undefined);
    },
  );

  test(
    'relationships: reordered ones run nothing; one added between existing instances only establishes',
    LIMIT,
    async () => {
      const two = `
node_templates:
  a: {type: t.App}
  b: {type: t.App}
  c:
    type: t.App
    relationships: [{type: t.rel, target: a}, {type: t.rel, target: b}]
`;
      const h = await installed(two);
      assert.equal(
        (
          await update(
            h,
            two.replace(
              '[{type: t.rel, target: a}, {type: t.rel, target: b}]',
              '[{type: t.rel, target: b}, {type: t.rel, target: a}]',
            ),
          )
        ).status,
        'terminated',
      );
      assert.equal(h.calls.length, 0, h.calls.join(', '));
      const c = (await instances(h)).get('c')![0]!;
      assert.deepEqual(
        rels(c).map((r) => [r.target, r.index]),
        [
          ['b', 0],
          ['a', 1],
        ],
      );
      const three = two.replace(
        '  a: {type: t.App}',
        '  a:\n    type: t.App\n    relationships: [{type: t.rel, target: b}]',
      );
      assert.equal((await update(h, three)).status, 'terminated');
      assert.deepEqual(h.calls.sort(), ['a.establish[a->b]', 'b.establish[a->b]']);
    },
  );

  test(
    'instances.deploy changes the count: the newest go with what they contain, new ones are installed',
    LIMIT,
    async () => {
      const h = await installed(BASE);
      const three = BASE.replace('instances: {deploy: 2}', 'instances: {deploy: 3}');
      assert.equal((await update(h, three)).status, 'terminated');
      let now = await instances(h);
      assert.deepEqual([now.get('host')!.length, now.get('web')!.length], [3, 3]);
      const newest = [...now.get('host')!].sort((a, b) => b.index - a.index)[0]!;
      assert.equal(newest.index, 3);
      assert.equal(
        (await update(h, BASE.replace('instances: {deploy: 2}', 'instances: {deploy: 1}'))).status,
        'terminated',
      );
      now = await instances(h);
      assert.deepEqual(
        now.get('host')!.map((i) => i.index),
        [1],
      );
      assert.deepEqual(
        now.get('web')!.map((i) => i.containedIn),
        [now.get('host')![0]!.id],
      );
    },
  );

  test('what an update cannot do is refused before anything is stored', LIMIT, async () => {
    const h = await installed(BASE);
    const refused = async (blueprint: string, message: RegExp) => {
      await assert.rejects(
        planDeploymentUpdate({
          store: h.store,
          deploymentId: h.deploymentId,
          next: nextVersion(prepare(h, blueprint)),
        }),
        (e: unknown) => e instanceof WorkflowError && message.test(e.message),
      );
    };
    await refused(
      BASE.replace('db: {type: t.App}', 'db: {type: t.Updatable}'),
      /node 'db' would change its type from t\.App to t\.Updatable/,
    );
    await refused(
      `${BASE.replace('- {type: cloudify.relationships.contained_in, target: host}\n', '')}`,
      /node 'web' would move from host 'host' to no host/,
    );
    await refused(
      BASE.replace(
        '- {type: t.rel, target: db}',
        '- {type: t.rel, target: db, properties: {connection_type: all_to_one}}',
      ),
      /the properties of node 'web's t\.rel relationship to 'db' would change/,
    );
    assert.deepEqual(await h.store.listExecutions(h.deploymentId).then((e) => e.map((x) => x.workflow)), [
      'install',
    ]);
  });

  test(
    'a failed update leaves the deployment on its new model with what it removes kept; resume finishes it',
    LIMIT,
    async () => {
      let fail = true;
      const h = await harness(`${HEAD}${BASE}`, {
        operations: {
          ...operations,
          'p.fragile': async () => {
            if (fail) throw new Error('not yet');
          },
        },
      });
      assert.equal((await h.execute('install')).status, 'terminated');
      const next = `${BASE.replace('  db: {type: t.App}\n', '')}  cache:
    type: t.App
    interfaces: {cloudify.interfaces.lifecycle: {create: p.fragile}}
`.replace('- {type: t.rel, target: db}', '- {type: t.rel, target: cache}');
      const failed = await update(h, next, { task_retries: 0 });
      assert.equal(failed.status, 'failed');
      const between = (await h.store.getDeployment(h.deploymentId))!;
      const model = between.model as unknown as DeploymentModel;
      assert.equal(model.nodes.db?.removed, true, 'the removed node is kept while the update is unfinished');
      assert.ok(model.nodes.cache);
      assert.equal((await instances(h)).get('db')![0]!.state, 'deleted');
      fail = false;
      const resumed = await h.executor.run(failed.id);
      await finishExecution(h.store, resumed);
      assert.equal(resumed.status, 'terminated');
      const after = await instances(h);
      assert.equal(after.get('db'), undefined);
      for (const web of after.get('web')!)
        assert.deepEqual(
          rels(web).map((r) => r.target),
          ['host', 'cache'],
        );
      const final = (await h.store.getDeployment(h.deploymentId))!.model as unknown as DeploymentModel;
      assert.equal(final.nodes.db, undefined);
      const versions = await h.store.listDeploymentVersions(h.deploymentId);
      assert.deepEqual(
        versions.map((v) => [v.version, v.executionId]),
        [
          [1, null],
          [2, failed.id],
        ],
      );
    },
  );

  test(
    'of 1,000 instances where 100 change, only those 100 and their relationship ends run operations',
    LIMIT,
    async () => {
      const templates = (changed: (i: number) => boolean) => {
        let text = '\nnode_templates:\n';
        for (let i = 0; i < 500; i++)
          text += `  db${i}: {type: t.App, properties: {port: ${changed(i) ? 2 : 1}}}\n  web${i}: {type: t.App, relationships: [{type: t.rel, target: db${i}}]}\n`;
        return text;
      };
      const h = await harness(HEAD + templates(() => false), { operations });
      const changed = (i: number) => i % 5 === 0;
      const plan = await planDeploymentUpdate({
        store: h.store,
        deploymentId: h.deploymentId,
        next: nextVersion(prepare(h, templates(changed))),
      });
      // Nothing is installed yet: a changed node's instances are reinstalled only once started.
      assert.equal(plan.graph.tasks.length, 0);
      const instances = await h.store.listInstances(h.deploymentId);
      assert.equal(instances.length, 1000);
      for (const i of instances) i.state = 'started';
      const deployment = (await h.store.getDeployment(h.deploymentId))!;
      const next = prepare(h, templates(changed));
      const started = planUpdate(
        deployment.model as unknown as DeploymentModel,
        instances,
        next.deployment.model as unknown as DeploymentModel,
        h.deploymentId,
        UPDATE_PARAMETER_DEFAULTS,
      );
      const nodeOf = new Map(instances.map((i) => [i.id, i.node]));
      const touched = new Set(started.graph.tasks.map((t) => nodeOf.get(t.instanceId)!));
      const expected = new Set<string>();
      for (let i = 0; i < 500; i += 5) expected.add(`db${i}`).add(`web${i}`);
      assert.deepEqual([...touched].sort(), [...expected].sort());
      assert.equal(Object.values(started.actions).filter((a) => a === 'reinstall').length, 100);
      // The webs only unlink and establish (both ends), around their db's reinstall.
      const webOps = new Set(
        started.graph.tasks
          .filter((t) => nodeOf.get(t.instanceId)!.startsWith('web') && t.kind === 'operation')
          .map((t) => t.operation),
      );
      assert.deepEqual([...webOps].sort(), [
        'cloudify.interfaces.relationship_lifecycle.establish',
        'cloudify.interfaces.relationship_lifecycle.unlink',
      ]);
    },
  );

  test(
    'the order: unlink, uninstall, reinstall, install, establish; install_first puts the uninstall last',
    LIMIT,
    async () => {
      const base = `
node_templates:
  old: {type: t.App}
  kept: {type: t.App, relationships: [{type: t.rel, target: old}]}
  changed: {type: t.App}
`;
      const next = `
node_templates:
  new: {type: t.App}
  kept: {type: t.App, relationships: [{type: t.rel, target: new}]}
  changed: {type: t.App, properties: {port: 2}}
`;
      const h = await installed(base);
      assert.equal((await update(h, next)).status, 'terminated');
      assertOrder(
        h.calls,
        'kept.unlink[kept->old]',
        'old.delete',
        'changed.delete',
        'changed.create',
        'new.create',
        'kept.establish[kept->new]',
      );
      const g = await installed(base);
      assert.equal((await update(g, next, { install_first: true })).status, 'terminated');
      assertOrder(
        g.calls,
        'changed.create',
        'new.create',
        'kept.establish[kept->new]',
        'kept.unlink[kept->old]',
        'old.delete',
      );
    },
  );
});
