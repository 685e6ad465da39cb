import { relative } from 'node:path';
import type { Value, ValueMap } from './dsl/yaml-source.js';
import { deploymentModel, type OperationModel } from './model/deployment-model.js';
import type { DeploymentPlan } from './model/plan.js';
import { installGraph, operationWaves, type Task } from './workflows/lifecycle.js';
import { batchCreate } from './workflows/rolling.js';

export interface PlanStepJson {
  wave: number;
  instance: string;
  node: string;
  operation: string;
  implementation: string;
  kind: string;
  side?: 'source' | 'target';
  target?: string;
}

export interface PlanJson {
  blueprint: string;
  dslVersion: string;
  deploymentId: string;
  inputs: Record<string, Value>;
  nodes: {
    name: string;
    type: string;
    typeHierarchy: string[];
    host?: string;
    instances: number;
    minInstances: number;
    maxInstances: number;
    properties: ValueMap;
  }[];
  instances: {
    id: string;
    node: string;
    index: number;
    containedIn?: string;
    hostId?: string;
    scalingGroups: { name: string; id: string }[];
    relationships: { type: string; target: string; targetId: string }[];
    dependsOn: string[];
  }[];
  groups: { name: string; members: string[]; instances: string[] }[];
  install: PlanStepJson[];
  outputs: Record<string, Value>;
}

function implementationOf(op: OperationModel | undefined): string {
  if (!op) return '';
  if (op.kind === 'script') return op.script?.path ?? '<inline script>';
  return op.implementation;
}

/** The install operations in waves. */
export function installSteps(plan: DeploymentPlan): PlanStepJson[] {
  const model = deploymentModel(plan);
  const graph = installGraph(model.nodes, plan.instances);
  // The batches of a HOT ResourceGroup's batch_create, as install runs them.
  if (model.blueprint.heatTemplateVersion !== undefined) batchCreate(graph, model.nodes, plan.instances);
  const steps: PlanStepJson[] = [];
  let wave = 0;
  for (const tasks of operationWaves(graph)) {
    wave++;
    for (const task of tasks as (Task & { operation: string })[]) {
      const step: PlanStepJson = {
        wave,
        instance: task.relationship?.side === 'target' ? task.relationship.targetId : task.instanceId,
        node: task.relationship?.side === 'target' ? task.relationship.targetNode : task.node,
        operation: task.operation,
        implementation: implementationOf(task.operationDef),
        kind: task.operationDef?.kind ?? 'noop',
      };
      if (task.relationship) {
        step.side = task.relationship.side;
        step.target =
          task.relationship.side === 'source' ? task.relationship.targetId : task.relationship.sourceId;
      }
      steps.push(step);
    }
  }
  return steps;
}

/** The documented `weft plan --json` shape. */
export function planToJson(plan: DeploymentPlan, cwd = process.cwd()): PlanJson {
  const groupMembers = new Map<string, string[]>();
  for (const g of plan.groupInstances)
    groupMembers.set(g.group, [...(groupMembers.get(g.group) ?? []), g.id]);
  return {
    blueprint: relative(cwd, plan.blueprint.mainFile) || plan.blueprint.mainFile,
    dslVersion: plan.blueprint.version,
    deploymentId: plan.deploymentId,
    inputs: Object.fromEntries(plan.inputs),
    // A HOT ResourceGroup's spare members (no instance but a rolling update's temporary one) are
    // none of the template's resources.
    nodes: [...plan.nodes.values()]
      .filter((n) => plan.blueprint.heatTemplateVersion === undefined || n.instanceCount > 0)
      .map((n) => ({
        name: n.name,
        type: n.type,
        typeHierarchy: n.hierarchy,
        ...(n.host ? { host: n.host } : {}),
        instances: n.instanceCount,
        minInstances: n.counts.min,
        maxInstances: n.counts.max,
        properties: n.properties,
      })),
    instances: plan.instances.map((i) => ({
      id: i.id,
      node: i.node,
      index: i.index,
      ...(i.containedIn ? { containedIn: i.containedIn } : {}),
      ...(i.hostId ? { hostId: i.hostId } : {}),
      scalingGroups: i.scalingGroups,
      relationships: i.relationships.map((r) => ({ type: r.type, target: r.target, targetId: r.targetId })),
      dependsOn: [...new Set(i.relationships.map((r) => r.targetId))],
    })),
    groups: [...plan.blueprint.groups.values()].map((g) => ({
      name: g.name,
      members: g.members,
      instances: groupMembers.get(g.name) ?? [],
    })),
    install: installSteps(plan),
    outputs: Object.fromEntries(plan.outputs),
  };
}
