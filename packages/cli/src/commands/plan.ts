import type { Json } from '@weft/engine';
import { type DeploymentPlan, type PlanJson, planToJson } from '@weft/engine/language';
import type { Command } from 'commander';
import { EXIT, printJson, printProblems, printWarnings, UsageError } from '../output.js';
import { serverFor } from '../remote/profiles.js';
import type { StateOptions } from '../state.js';
import {
  type BlueprintOptions,
  checkOperationFunctions,
  checkSecretReferences,
  loadFromArgs,
} from './common.js';
import { collect, heatOptions } from './options.js';

function printPlan(plan: PlanJson): void {
  const out: string[] = [];
  out.push(`Plan for ${plan.blueprint} (${plan.dslVersion}), deployment '${plan.deploymentId}'`);
  out.push('', `Nodes (${plan.nodes.length}):`);
  const width = Math.max(4, ...plan.nodes.map((n) => n.name.length));
  for (const node of plan.nodes) {
    const host = node.host ? `  in ${node.host}` : '';
    out.push(`  ${node.name.padEnd(width)}  ${node.type}  x${node.instances}${host}`);
  }
  out.push('', `Instances (${plan.instances.length}):`);
  for (const instance of plan.instances) {
    const parts = [`  ${instance.id}`];
    if (instance.containedIn) parts.push(`on ${instance.containedIn}`);
    if (instance.dependsOn.length > 0) parts.push(`depends on ${instance.dependsOn.join(', ')}`);
    out.push(parts.join('  '));
  }
  const waves = plan.install.length === 0 ? 0 : plan.install[plan.install.length - 1]!.wave;
  out.push(
    '',
    `Install order (${plan.install.length} operations in ${waves} waves; operations in one wave may run in parallel):`,
  );
  for (const step of plan.install) {
    const where = step.side
      ? ` [${step.side} side, ${step.side === 'source' ? 'target' : 'source'} ${step.target}]`
      : '';
    out.push(
      `  ${String(step.wave).padStart(3)}. ${step.instance} ${step.operation}${where} -> ${step.implementation}`,
    );
  }
  if (Object.keys(plan.outputs).length > 0) {
    out.push('', 'Outputs:');
    for (const [name, value] of Object.entries(plan.outputs)) out.push(`  ${name}: ${JSON.stringify(value)}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * The plan with a HOT template's hidden parameters' values masked wherever they appear (its
 * inputs, and the properties and outputs made from them). The masker (with the runtime) is loaded
 * only for a template that has some.
 */
async function maskHidden(json: PlanJson, plan: DeploymentPlan): Promise<PlanJson> {
  const hidden = plan.blueprint.hiddenInputs ?? [];
  if (hidden.length === 0) return json;
  const { Masker } = await import('@weft/engine');
  const masker = new Masker();
  for (const name of hidden) masker.add(plan.inputs.get(name) ?? null);
  const masked = masker.maskJson(json as unknown as Json) as unknown as PlanJson;
  // Values (a sensitive number or boolean among them) are masked whatever their type.
  const value = <T>(v: T): T => masker.maskValue(v as Json) as T;
  return {
    ...masked,
    inputs: value(json.inputs),
    nodes: masked.nodes.map((node, i) => ({ ...node, properties: value(json.nodes[i]!.properties) })),
    outputs: value(json.outputs),
  };
}

/**
 * With -d naming a deployment that exists, the plan is the diff an update would apply; false
 * when there is no such deployment (a new one is planned).
 */
async function planUpdateOf(
  blueprint: string,
  options: BlueprintOptions & StateOptions & { json?: boolean; out?: string },
): Promise<boolean> {
  const { openState } = await import('../state.js');
  const state = await openState(options, { create: false });
  try {
    const stored = await state.store.getDeployment(options.deploymentId!);
    if (!stored) return false;
    const { printUpdatePlan } = await import('./update.js');
    const { openDeployment } = await import('@weft/engine');
    // Compared with the inputs as given: a sealed value differs from the same value given again.
    await printUpdatePlan(state, openDeployment(stored, state.secrets.sealer()), blueprint, options);
    return true;
  } finally {
    await state.close();
  }
}

export function planCommand(program: Command): void {
  heatOptions(
    program
      .command('plan')
      .description('show the node instances, hosts, dependencies and install order a deployment would get')
      .argument('[blueprint]', 'the main blueprint file (with a server and -d: see -b)')
      .option(
        '-i, --input <KEY=VALUE|FILE>',
        'an input value or a YAML/JSON inputs file (repeatable)',
        collect,
      )
      .option(
        '--state-dir <DIR>',
        'the state directory whose deployments and plugins/ are used (default ./.weft, or WEFT_HOME)',
      )
      .option(
        '--db <URL>',
        'a PostgreSQL URL (postgres://...) instead of the local SQLite file (or WEFT_DATABASE_URL)',
      )
      .option(
        '-d, --deployment-id <ID>',
        'an existing deployment: show what updating it would change; else the id of a new one (default: the blueprint directory name)',
      )
      .option(
        '-b, --blueprint-id <ID>',
        "with a server and -d: the stored blueprint to plan the update to (weft blueprints upload; default: the deployment's own)",
      )
      .option('--json', 'print the plan as JSON (shape documented in the README)')
      .option(
        '--out <FILE>',
        'with -d naming a deployment: also save the update plan, for weft update --plan FILE',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  weft plan examples/three-tier/blueprint.yaml
  weft plan blueprint.yaml -i port=8080 --json
  weft plan blueprint-v2.yaml -d app        # the changes an update of deployment app would make
  weft plan -b app-v2 -d app                # with a server: the same, to a blueprint uploaded there`,
    )
    .action(
      async (
        blueprint: string | undefined,
        options: BlueprintOptions & StateOptions & { json?: boolean; out?: string; blueprintId?: string },
      ) => {
        const server = options.deploymentId ? serverFor(options) : undefined;
        if (server) {
          const { ApiClient } = await import('../remote/client.js');
          const { refuseBlueprintPath, refuseLocalOnly, remoteUpdatePlan } = await import(
            '../remote/update.js'
          );
          refuseLocalOnly(options, 'plan -d');
          refuseBlueprintPath(blueprint, 'plan');
          return remoteUpdatePlan(new ApiClient(server), options);
        }
        if (options.blueprintId !== undefined && !options.deploymentId)
          throw new UsageError('-b plans the update of a deployment on a server: name it with -d DEPLOYMENT');
        if (options.blueprintId !== undefined) {
          const { blueprintIdLocally } = await import('./update.js');
          throw blueprintIdLocally();
        }
        if (blueprint === undefined) throw new UsageError('name the blueprint file to plan');
        if (options.deploymentId && (await planUpdateOf(blueprint, options))) return;
        if (options.out)
          throw new UsageError('--out saves the plan of an update: name an existing deployment with -d');
        const result = loadFromArgs(blueprint, options, false);
        await checkOperationFunctions(result, options, 'warn');
        await checkSecretReferences(result, options);
        const { plan, problems } = result;
        if (!plan || !problems.ok) {
          printProblems(problems, options.json === true);
          process.exitCode = EXIT.badInput;
          return;
        }
        printWarnings(problems);
        const json = await maskHidden(planToJson(plan), plan);
        if (options.json) printJson(json);
        else printPlan(json);
      },
    );
}
