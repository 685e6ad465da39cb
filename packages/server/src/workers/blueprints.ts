/**
 * A deployment model whose blueprint directory exists on this machine: the one it was made from
 * when it is here (the same machine, or a shared file system), else the blueprint's files, as the
 * store keeps them, written once to a cache directory named by their content hash.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { type DeploymentModel, type DeploymentRecord, modelOf } from '@weft/engine';

/** Where a blueprint's files are read from: the store, or the server for a host agent. */
export interface BlueprintFiles {
  getBlueprint(id: string): Promise<{ files: Record<string, Uint8Array> } | undefined>;
}

export async function withLocalBlueprint(
  store: BlueprintFiles,
  deployment: Pick<DeploymentRecord, 'id' | 'blueprintId' | 'model'>,
  cacheDir: string,
): Promise<DeploymentModel> {
  const model = modelOf(deployment.model);
  if (existsSync(model.blueprint.baseDir)) return model;
  const dir = join(cacheDir, deployment.blueprintId);
  if (!existsSync(dir)) {
    const blueprint = await store.getBlueprint(deployment.blueprintId);
    if (!blueprint)
      throw new Error(
        `blueprint ${deployment.blueprintId} of deployment '${deployment.id}' is not in the store, and ${model.blueprint.baseDir} is not on this machine`,
      );
    // Written beside, then renamed: a process that finds the directory finds it whole.
    const partial = `${dir}.${process.pid}.partial`;
    rmSync(partial, { recursive: true, force: true });
    for (const [path, bytes] of Object.entries(blueprint.files)) {
      const target = resolve(partial, path);
      // The paths come from the store: none may lead out of the directory.
      if (!target.startsWith(`${resolve(partial)}${sep}`))
        throw new Error(
          `blueprint ${deployment.blueprintId}: file path '${path}' leads out of its directory`,
        );
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, bytes);
    }
    mkdirSync(cacheDir, { recursive: true });
    try {
      renameSync(partial, dir);
    } catch (error) {
      // Another process of this machine wrote it first: the same files (same hash).
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(dir)) throw error;
    }
  }
  return { ...model, blueprint: { ...model.blueprint, baseDir: dir } };
}
