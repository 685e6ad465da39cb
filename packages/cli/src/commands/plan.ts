import { type PlanJson, planToJson } from '@weft/engine/language';
import type { Command } from 'commander';
import { EXIT, printJson, printProblems, printWarnings } from '../output.js';
import {
  type BlueprintOptions,
  checkOperationFunctions,
  checkSecretReferences,
  loadFromArgs,
} from './common.js';
import { collect } from './options.js';

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

export function planCommand(program: Command): void {
  program
    .command('plan')
    .description('show the node instances, hosts, dependencies and install order a deployment would get')
    .argument('<blueprint>', 'the main blueprint file')
    .option('-i, --input <KEY=VALUE|FILE>', 'an input value or a YAML/JSON inputs file (repeatable)', collect)
    .option(
      '--state-dir <DIR>',
      'the state directory whose plugins/ is searched (default ./.weft, or WEFT_HOME)',
    )
    .option(
      '-d, --deployment-id <ID>',
      'deployment id (instance ids derive from it); default: the blueprint directory name',
    )
    .option('--json', 'print the plan as JSON (shape documented in the README)')
    .addHelpText(
      'after',
      `
Examples:
  weft plan examples/three-tier/blueprint.yaml
  weft plan blueprint.yaml -i port=8080 --json`,
    )
    .action(async (blueprint: string, options: BlueprintOptions & { json?: boolean }) => {
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
      const json = planToJson(plan);
      if (options.json) printJson(json);
      else printPlan(json);
    });
}
