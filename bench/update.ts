// The deployment update's planning at scale: the diff of two generated blueprints and the plan
// of the update (new instances, relationship changes, the task graph), without running it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DeploymentModel,
  deploymentModel,
  diffModels,
  fileSystemReader,
  type NodeInstanceRecord,
  parseBlueprint,
  planDeployment,
  planUpdate,
  UPDATE_PARAMETER_DEFAULTS,
} from '@weft/engine';
import { generateBlueprint } from './generate.js';

export interface UpdatePlanResult {
  templates: number;
  instances: number;
  /** Parse, validation and plan of the new blueprint. */
  parseMs: number;
  /** The diff of the two models alone (for information: the plan works it out itself). */
  diffMs: number;
  /** The update's plan, its diff included: instances, relationships, the task graph. */
  planMs: number;
  changedNodes: number;
  /** Instances the update touches (reinstalled, or relinked as a relationship end). */
  touched: number;
  tasks: number;
}

function planned(file: string): { model: DeploymentModel; instances: NodeInstanceRecord[] } {
  const parsed = parseBlueprint(file, fileSystemReader());
  if (!parsed.blueprint) throw new Error(JSON.stringify(parsed.problems.problems.slice(0, 3)));
  const result = planDeployment(parsed.blueprint, { deploymentId: 'bench' });
  if (!result.plan) throw new Error(JSON.stringify(result.problems.problems.slice(0, 3)));
  const instances = result.plan.instances.map(
    (i): NodeInstanceRecord => ({
      id: i.id,
      deploymentId: 'bench',
      node: i.node,
      index: i.index,
      state: 'started',
      runtimeProperties: {},
      version: 1,
      containedIn: i.containedIn ?? null,
      hostId: i.hostId ?? null,
      relationships: i.relationships as never,
      scalingGroups: i.scalingGroups as never,
    }),
  );
  return { model: deploymentModel(result.plan), instances };
}

/**
 * Two blueprints of `templates` node templates, one instance each; in the second, one database
 * node in ten has another property value. Measures the new blueprint's parse and plan, and the
 * update's diff and plan against the first as deployed.
 */
export function updatePlan(templates: number): UpdatePlanResult {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-update-'));
  try {
    const before = generateBlueprint(templates, 1);
    let db = 0;
    const after = before.replace(/properties: \{port: \{get_input: port\}, name: db\}/g, (text) =>
      db++ % 10 === 0 ? 'properties: {port: {get_input: port}, name: db-v2}' : text,
    );
    writeFileSync(join(dir, 'v1.yaml'), before);
    writeFileSync(join(dir, 'v2.yaml'), after);
    const deployed = planned(join(dir, 'v1.yaml'));
    const t0 = performance.now();
    const next = planned(join(dir, 'v2.yaml'));
    const t1 = performance.now();
    const diff = diffModels(deployed.model, next.model);
    const t2 = performance.now();
    const plan = planUpdate(
      deployed.model,
      deployed.instances,
      next.model,
      'bench',
      UPDATE_PARAMETER_DEFAULTS,
    );
    const t3 = performance.now();
    return {
      templates,
      instances: deployed.instances.length,
      parseMs: Math.round(t1 - t0),
      diffMs: Math.round(t2 - t1),
      planMs: Math.round(t3 - t2),
      changedNodes: diff.nodes.length,
      touched: Object.keys(plan.actions).length,
      tasks: plan.graph.tasks.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
