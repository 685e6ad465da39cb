import { isAbsolute, resolve } from 'node:path';
import type { Blueprint, Interfaces, NodeTemplate } from '../dsl/blueprint-types.js';
import { type Diagnostics, didYouMean, type Loc } from '../dsl/diagnostics.js';
import { hasCall } from '../dsl/functions.js';
import { locOf, type ValueMap } from '../dsl/yaml-source.js';
import { isScriptWorkflow } from '../workflows/custom.js';
import { type Loaded, loadModule, lookup } from './plugin-module.js';

/**
 * The line of a module's load error that says what is wrong: for a TypeScript source esbuild
 * says "Transform failed with 1 error:" first, and the error with its file:line:col after.
 */
export function loadErrorText(error: Error): string {
  const lines = String(error.message)
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const located = /^Transform failed/.test(lines[0] ?? '') ? lines[1] : undefined;
  return (located ?? lines[0] ?? String(error)).replace(/ ERROR: /, ' ');
}

/** A problem unless `fn` names a function of the plugin's module (with the nearest name it has). */
function checkFunction(
  module: Loaded,
  plugin: string,
  fn: string,
  at: Loc | undefined,
  path: string,
  problems: Diagnostics,
): void {
  if (typeof lookup(module, fn) === 'function') return;
  const exported = Object.keys(module).filter((k) => typeof module[k] === 'function');
  problems.add(
    'unknown-function',
    at,
    path,
    `plugin '${plugin}' has no function '${fn}'${didYouMean(fn, exported)}`,
  );
}

/** Interfaces whose operations are checked, with the path problems are reported under. */
type InterfaceSet = [interfaces: Interfaces, path: string];

/** Adds a problem for every operation of `sets` (of the plugins `only` names, when given) that is not a function of its plugin's module. */
async function checkFunctions(
  sets: InterfaceSet[],
  moduleOf: (plugin: string) => Promise<Loaded | undefined>,
  problems: Diagnostics,
  only?: string,
): Promise<void> {
  for (const [interfaces, path] of sets) {
    for (const [iface, ops] of interfaces) {
      for (const [name, op] of ops) {
        if (op.kind !== 'plugin' || !op.plugin || !op.function) continue;
        if (only !== undefined && op.plugin !== only) continue;
        const module = await moduleOf(op.plugin);
        if (module)
          checkFunction(module, op.plugin, op.function, op.at, `${path}.${iface}.${name}`, problems);
      }
    }
  }
}

/**
 * What to make of a plugin whose module is not here: `error` where its operations are about to
 * run (install), `warn` where the blueprint is only checked (validate, plan), as Cloudify's
 * parser accepts blueprints whose plugins are installed elsewhere.
 */
export type MissingPlugins = 'error' | 'warn';

/** A plugin module, loaded once; a module that does not load is a problem (at `at`, when given). */
function moduleLoader(
  entryOf: (plugin: string) => { entry?: string; at?: Loc; path: string },
  problems: Diagnostics,
  missingPlugins: MissingPlugins = 'error',
): (plugin: string) => Promise<Loaded | undefined> {
  const modules = new Map<string, Loaded | undefined>();
  const refusal = 'its operations are not checked, and install and exec refuse until it is installed';
  return async (plugin) => {
    if (modules.has(plugin)) return modules.get(plugin);
    const { entry, at, path } = entryOf(plugin);
    let loaded: Loaded | undefined;
    if (entry) {
      try {
        loaded = await loadModule(entry);
      } catch (error) {
        const missing = (error as { code?: string }).code === 'ENOENT';
        if (missing && missingPlugins === 'warn')
          problems.warn(
            'plugin-not-here',
            at,
            path,
            `plugin '${plugin}' is not here (its module ${entry} does not exist): ${refusal}`,
          );
        else
          problems.add(
            'plugin-load',
            at,
            path,
            missing
              ? `the plugin's module ${entry} does not exist`
              : `cannot load the plugin's module ${entry}: ${loadErrorText(error as Error)}`,
          );
      }
    } else if (missingPlugins === 'warn') {
      problems.warn(
        'plugin-not-here',
        at,
        path,
        `plugin '${plugin}' is not installed here (weft plugins install): ${refusal}`,
      );
    }
    modules.set(plugin, loaded);
    return loaded;
  };
}

/**
 * Checks that every plugin operation a blueprint's templates (and custom workflows) name is a function its plugin's
 * module exports, so a typo is a validation problem, not a run-time surprise. Only plugins
 * whose module can be found (a local `source`, or an installed entry) are checked.
 */
export async function checkPluginFunctions(
  blueprint: Blueprint,
  entries: ReadonlyMap<string, string>,
  problems: Diagnostics,
  missingPlugins: MissingPlugins = 'error',
): Promise<void> {
  const moduleOf = moduleLoader(
    (plugin) => {
      const declared = blueprint.plugins.get(plugin);
      const source = declared?.source;
      const local =
        source && !/^[a-z]+:\/\//i.test(source)
          ? isAbsolute(source)
            ? source
            : resolve(blueprint.baseDir, source)
          : undefined;
      const entry = local ?? entries.get(plugin);
      return {
        ...(entry !== undefined && { entry }),
        ...(local && declared?.sourceAt && { at: declared.sourceAt }),
        ...(!local && declared?.at && { at: declared.at }),
        path: local ? `plugins.${plugin}.source` : `plugins.${plugin}`,
      };
    },
    problems,
    missingPlugins,
  );
  const sets: InterfaceSet[] = [];
  for (const template of blueprint.nodeTemplates.values()) {
    sets.push([template.interfaces, `node_templates.${template.name}.interfaces`]);
    for (const rel of template.relationships) {
      const base = `node_templates.${template.name}.relationships[${rel.index}]`;
      sets.push(
        [rel.sourceInterfaces, `${base}.source_interfaces`],
        [rel.targetInterfaces, `${base}.target_interfaces`],
      );
    }
  }
  await checkFunctions(sets, moduleOf, problems);
  for (const template of blueprint.nodeTemplates.values())
    await checkResourceProperties(
      template,
      blueprint.heatStandIns?.[template.name] ?? [],
      moduleOf,
      problems,
    );
  // Custom workflows name functions of plugins too (default_workflows is Weft's own; a workflow
  // script is a file of the blueprint, found when it was parsed).
  for (const workflow of blueprint.workflows.values()) {
    if (!workflow.plugin || !workflow.function || workflow.plugin === 'default_workflows') continue;
    if (isScriptWorkflow(workflow)) continue;
    const module = await moduleOf(workflow.plugin);
    if (module)
      checkFunction(
        module,
        workflow.plugin,
        workflow.function,
        workflow.at,
        `workflows.${workflow.name}`,
        problems,
      );
  }
}

type PropertyChecker = (
  properties: ValueMap,
  typeHierarchy: string[],
) => Promise<{ path: string; message: string }[]>;

/**
 * A node whose create is a Heat-style resource's (the SDK's `checkProperties`): its properties
 * are checked as create would check them, each problem at the property it is about. Properties
 * whose values are known only later (intrinsic functions) or not given yet (`standIns`: they read
 * a HOT parameter that has no value in a check) are left out of the judgement.
 */
async function checkResourceProperties(
  template: NodeTemplate,
  standIns: readonly string[],
  moduleOf: (plugin: string) => Promise<Loaded | undefined>,
  problems: Diagnostics,
): Promise<void> {
  const op = template.interfaces.get('cloudify.interfaces.lifecycle')?.get('create');
  if (op?.kind !== 'plugin' || !op.plugin || !op.function) return;
  const module = await moduleOf(op.plugin);
  const check = module
    ? (lookup(module, op.function) as { checkProperties?: PropertyChecker } | undefined)
    : undefined;
  if (typeof check?.checkProperties !== 'function') return;
  const later = new Set(Object.keys(template.properties).filter((key) => hasCall(template.properties[key]!)));
  for (const key of standIns) later.add(key);
  let found: { path: string; message: string }[];
  try {
    found = await check.checkProperties(template.properties, template.hierarchy);
  } catch {
    return;
  }
  // A property the blueprint's own schema already found wrong is not reported twice.
  const base = `node_templates.${template.name}.properties`;
  const reported = new Set(
    problems.problems
      .filter((p) => p.path.startsWith(`${base}.`))
      .map((p) => p.path.slice(base.length + 1).split(/[.[]/)[0]),
  );
  for (const problem of found) {
    const key = problem.path.split(/[.[]/)[0]!;
    if (later.has(key) || reported.has(key) || (key === '' && later.size > 0)) continue;
    problems.add(
      'resource-property',
      (key && locOf(template.properties, key)) || template.at,
      `${base}${problem.path ? `.${problem.path}` : ''}`,
      problem.message,
    );
  }
}

/**
 * Checks a plugin's own node and relationship types, given a blueprint with templates of them: the plugin's
 * module loads, and every operation that names the plugin is a function the module exports.
 */
export async function checkOwnFunctions(
  blueprint: Blueprint,
  plugin: { name: string; entry?: string },
  problems: Diagnostics,
): Promise<void> {
  const sets: InterfaceSet[] = [];
  for (const template of blueprint.nodeTemplates.values()) {
    sets.push([template.interfaces, `node_types.${template.type}.interfaces`]);
    for (const rel of template.relationships)
      sets.push(
        [rel.sourceInterfaces, `relationships.${rel.type}.source_interfaces`],
        [rel.targetInterfaces, `relationships.${rel.type}.target_interfaces`],
      );
  }
  if (!plugin.entry) {
    for (const [interfaces, path] of sets)
      for (const [iface, ops] of interfaces)
        for (const [name, op] of ops)
          if (op.kind === 'plugin' && op.plugin === plugin.name)
            problems.add(
              'plugin-entry',
              op.at,
              `${path}.${iface}.${name}`,
              `'${op.plugin}.${op.function}' names this plugin, which has no entry module (package.json main, or index.js, index.mjs, index.ts)`,
            );
    return;
  }
  const moduleOf = moduleLoader(() => ({ entry: plugin.entry!, path: `plugins.${plugin.name}` }), problems);
  await moduleOf(plugin.name);
  await checkFunctions(sets, moduleOf, problems, plugin.name);
}
