import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  deploymentModel,
  fileSystemReader,
  installGraph,
  parseBlueprint,
  planDeployment,
} from '@weft/engine';
import { generateBlueprint } from './generate.js';

interface Result {
  templates: number;
  instances: number;
  relationships: number;
  tasks: number;
  parseMs: number;
  planMs: number;
  graphMs: number;
  totalMs: number;
  peakRssMb: number;
}

/** One measurement, in a fresh process so peak memory is its own. */
function measure(templates: number): Result {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  try {
    const file = join(dir, 'blueprint.yaml');
    writeFileSync(file, generateBlueprint(templates));
    const t0 = performance.now();
    const parsed = parseBlueprint(file, fileSystemReader());
    if (!parsed.blueprint || !parsed.problems.ok)
      throw new Error(
        `generated blueprint is invalid: ${JSON.stringify(parsed.problems.problems.slice(0, 3))}`,
      );
    const t1 = performance.now();
    const planned = planDeployment(parsed.blueprint, { deploymentId: 'bench' });
    if (!planned.plan)
      throw new Error(`plan failed: ${JSON.stringify(planned.problems.problems.slice(0, 3))}`);
    const t2 = performance.now();
    const graph = installGraph(deploymentModel(planned.plan).nodes, planned.plan.instances);
    const t3 = performance.now();
    return {
      templates,
      instances: planned.plan.instances.length,
      relationships: planned.plan.instances.reduce((n, i) => n + i.relationships.length, 0),
      tasks: graph.tasks.length,
      parseMs: Math.round(t1 - t0),
      planMs: Math.round(t2 - t1),
      graphMs: Math.round(t3 - t2),
      totalMs: Math.round(t2 - t0),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const self = fileURLToPath(import.meta.url);
const caseArg = process.argv.indexOf('--case');
if (caseArg > 0) {
  process.stdout.write(JSON.stringify(measure(Number(process.argv[caseArg + 1]))));
} else {
  console.log(
    'parse + validate + plan of generated blueprints (5 instances per template, fresh process each)',
  );
  console.log(
    'templates  instances  relationships  parse+validate  plan     total    install graph  peak RSS',
  );
  const results: Result[] = [];
  for (const size of [1000, 2500, 5000, 10000]) {
    const child = spawnSync(process.execPath, [self, '--case', String(size)], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(child.stderr);
    const r = JSON.parse(child.stdout) as Result;
    results.push(r);
    console.log(
      `${String(r.templates).padStart(9)}  ${String(r.instances).padStart(9)}  ${String(r.relationships).padStart(13)}  ${`${r.parseMs} ms`.padStart(14)}  ${`${r.planMs} ms`.padStart(7)}  ${`${r.totalMs} ms`.padStart(7)}  ${`${r.graphMs} ms (${r.tasks} tasks)`.padStart(13)}  ${r.peakRssMb} MB`,
    );
  }
  const small = results[0]!;
  const large = results[results.length - 1]!;
  const ratio = large.totalMs / large.templates / (small.totalMs / small.templates);
  console.log(
    `time per template at ${large.templates} vs ${small.templates}: x${ratio.toFixed(2)} (1.0 = linear)`,
  );
  console.log(
    `target: 10,000 templates / 50,000 instances under 2000 ms and 500 MB -> ${large.totalMs < 2000 && large.peakRssMb < 500 ? 'met' : 'NOT met'}`,
  );
}
