/**
 * `weft update --existing`: Heat's PATCH update (`openstack stack update --existing`), which
 * keeps the stack's template and files and merges what is given over its environment and
 * parameters (heat/engine/service.py update_stack with PARAM_EXISTING).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type DeploymentRecord, modelOf, ownEnvironmentFile } from '@weft/engine';
import { UsageError } from '../output.js';
import type { State } from '../state.js';

/**
 * Runs `run` with the stack's own template, written with the files stored with it into a
 * directory of their own, and its environment (as given when it was made or last updated, sealed
 * values opened) as the first environment file, before those given.
 */
export async function withExistingTemplate<T>(
  state: State,
  deployment: DeploymentRecord,
  given: string[],
  run: (template: string, environments: string[]) => Promise<T>,
): Promise<T> {
  const model = modelOf(deployment.model);
  if (model.blueprint.heatTemplateVersion === undefined)
    throw new UsageError(
      `--existing updates a HOT stack with its own template: deployment '${deployment.id}' is no HOT stack (give the new blueprint)`,
    );
  const blueprint = await state.store.getBlueprint(deployment.blueprintId);
  if (!blueprint) throw new UsageError(`the template of deployment '${deployment.id}' is not stored`);
  const dir = mkdtempSync(join(tmpdir(), 'weft-existing-'));
  try {
    for (const [path, content] of Object.entries(blueprint.files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    // Named as none of the template's files is.
    const own = ownEnvironmentFile(model.blueprint.heatEnvironment, blueprint.files);
    const environment = join(dir, own.name);
    writeFileSync(environment, own.text);
    return await run(join(dir, blueprint.mainFile), [environment, ...given]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
