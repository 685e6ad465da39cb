import { isAbsolute, resolve } from 'node:path';
import type { Blueprint, Interfaces } from '../dsl/blueprint-types.js';
import { type Diagnostics, didYouMean } from '../dsl/diagnostics.js';
import { type Loaded, loadModule, lookup } from './plugin-module.js';

/**
 * Checks that every plugin operation a blueprint's templates name is a function its plugin's
 * module exports, so a typo is a validation problem, not a run-time surprise. Only plugins
 * whose module can be found (a local `source`, or an installed entry) are checked.
 */
export async function checkPluginFunctions(
  blueprint: Blueprint,
  entries: ReadonlyMap<string, string>,
  problems: Diagnostics,
): Promise<void> {
  const modules = new Map<string, Loaded | undefined>();
  const moduleOf = async (plugin: string): Promise<Loaded | undefined> => {
    if (modules.has(plugin)) return modules.get(plugin);
    const declared = blueprint.plugins.get(plugin);
    const source = declared?.source;
    const local =
      source && !/^[a-z]+:\/\//i.test(source)
        ? isAbsolute(source)
          ? source
          : resolve(blueprint.baseDir, source)
        : undefined;
    const entry = local ?? entries.get(plugin);
    let loaded: Loaded | undefined;
    if (entry) {
      try {
        loaded = await loadModule(entry);
      } catch (error) {
        const missing = (error as { code?: string }).code === 'ENOENT';
        problems.add(
          'plugin-load',
          local ? declared?.sourceAt : undefined,
          local ? `plugins.${plugin}.source` : `plugins.${plugin}`,
          missing
            ? `the plugin's module ${entry} does not exist`
            : `cannot load the plugin's module ${entry}: ${(error as Error).message.split('\n')[0]}`,
        );
      }
    }
    modules.set(plugin, loaded);
    return loaded;
  };
  const check = async (interfaces: Interfaces, path: string) => {
    for (const [iface, ops] of interfaces) {
      for (const [name, op] of ops) {
        if (op.kind !== 'plugin' || !op.plugin || !op.function) continue;
        const module = await moduleOf(op.plugin);
        if (!module || typeof lookup(module, op.function) === 'function') continue;
        const exported = Object.keys(module).filter((k) => typeof module[k] === 'function');
        problems.add(
          'unknown-function',
          op.at,
          `${path}.${iface}.${name}`,
          `plugin '${op.plugin}' has no function '${op.function}'${didYouMean(op.function, exported)}`,
        );
      }
    }
  };
  for (const template of blueprint.nodeTemplates.values()) {
    await check(template.interfaces, `node_templates.${template.name}.interfaces`);
    for (const rel of template.relationships) {
      const base = `node_templates.${template.name}.relationships[${rel.index}]`;
      await check(rel.sourceInterfaces, `${base}.source_interfaces`);
      await check(rel.targetInterfaces, `${base}.target_interfaces`);
    }
  }
}
