/**
 * A worker on a machine without the blueprint's directory runs from the blueprint's files as the
 * store keeps them, written once to its cache.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type DeploymentModel, openSqliteStore } from '@weft/engine';
import { tempDir } from '@weft/testing/cli';
import { withLocalBlueprint } from '../src/workers/blueprints.js';
import { deploy, fixtures } from './harness.js';

test("a deployment whose blueprint directory is gone runs from the store's copy of its files", async () => {
  const dir = tempDir();
  const source = join(dir, 'made-here');
  cpSync(join(fixtures, 'spread'), source, { recursive: true });
  const store = await openSqliteStore(join(dir, 'weft.db'));
  await store.migrate();
  try {
    await deploy({ store }, join(source, 'blueprint.yaml'), 'd', { record: join(dir, 'record') });
    const deployment = (await store.getDeployment('d'))!;
    const cache = join(dir, 'cache');
    // Still here: used where it is.
    assert.equal((await withLocalBlueprint(store, deployment, cache)).blueprint.baseDir, source);
    rmSync(source, { recursive: true });
    const model: DeploymentModel = await withLocalBlueprint(store, deployment, cache);
    assert.equal(model.blueprint.baseDir, join(cache, deployment.blueprintId));
    assert.equal(
      readFileSync(join(model.blueprint.baseDir, 'blueprint.yaml'), 'utf8'),
      readFileSync(join(fixtures, 'spread', 'blueprint.yaml'), 'utf8'),
    );
    // A plugin's source is not a blueprint file the store keeps: workers get plugins by --plugin-dir.
    assert.equal(existsSync(join(model.blueprint.baseDir, 'plugin', 'index.mjs')), false);
    // The second time, the cache is used as it is.
    assert.deepEqual(await withLocalBlueprint(store, deployment, cache), model);
  } finally {
    await store.close();
  }
});
