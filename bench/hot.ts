// A HOT template of N resources read, checked and planned (the HOT front end, then the same
// validation and planning as a blueprint): a third RandomStrings, a third Values reading the
// password before them with get_attr and str_replace, a third TestResources depending on the
// Value before them, behind parameters with constraints and a condition.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileSystemReader, loadBlueprint } from '@weft/engine';

export interface HotPlanResult {
  resources: number;
  instances: number;
  ms: number;
  peakRssMb: number;
}

export function generateTemplate(resources: number): string {
  const lines = [
    'heat_template_version: 2021-04-16',
    'parameters:',
    '  length: {type: number, default: 16, constraints: [{range: {min: 8, max: 64}}]}',
    '  prefix: {type: string, default: app, constraints: [{allowed_pattern: "[a-z]+"}]}',
    'conditions:',
    '  long: {not: {equals: [{get_param: length}, 8]}}',
    'resources:',
  ];
  for (let i = 0; i < resources; i++) {
    const group = Math.floor(i / 3) * 3;
    if (i % 3 === 0)
      lines.push(
        `  pw${i}:`,
        '    type: OS::Heat::RandomString',
        '    properties: {length: {get_param: length}}',
      );
    else if (i % 3 === 1)
      lines.push(
        `  v${i}:`,
        '    type: OS::Heat::Value',
        '    condition: long',
        `    properties: {value: {str_replace: {template: "P-N: X", params: {P: {get_param: prefix}, N: "${i}", X: {get_attr: [pw${group}, value]}}}}}`,
      );
    else
      lines.push(
        `  t${i}:`,
        '    type: OS::Heat::TestResource',
        `    depends_on: [v${group + 1}]`,
        `    properties: {value: {list_join: ["-", [{get_param: prefix}, "${i}"]]}}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

export function hotPlan(resources: number): HotPlanResult {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-hot-'));
  const utilities = join(
    dirname(createRequire(import.meta.url).resolve('@weft/plugin-utilities/package.json')),
    'plugin.yaml',
  );
  try {
    const file = join(dir, 'template.yaml');
    writeFileSync(file, generateTemplate(resources));
    const started = performance.now();
    const result = loadBlueprint(file, {
      reader: fileSystemReader({ resolvePlugin: (name) => (name === 'utilities' ? utilities : undefined) }),
      deploymentId: 'bench',
      inputs: {},
    });
    const ms = performance.now() - started;
    if (!result.plan || !result.problems.ok)
      throw new Error(
        `generated template is invalid: ${JSON.stringify(result.problems.problems.slice(0, 3))}`,
      );
    return {
      resources,
      instances: result.plan.instances.length,
      ms: Math.round(ms),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
