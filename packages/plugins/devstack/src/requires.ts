/**
 * `define_plugin NAME` and `plugin_requires NAME OTHER` from the plugins' settings. DevStack
 * ignores both (only its Ansible role orders local.conf by them); Weft checks that every
 * requirement is enabled and that there is no cycle, and can order the plugins by them.
 */
import { NonRecoverableError } from '@weft/sdk';

export interface Declarations {
  /** Enabled name -> the name its settings give with define_plugin. */
  defines: Map<string, string>;
  /** `plugin_requires A B` lines, in the order they were read. */
  requires: [string, string][];
}

/** The requirements of each enabled plugin, by enabled names (define_plugin names mapped back). */
export function requirementGraph(enabled: string[], declared: Declarations): Map<string, string[]> {
  const byDefinedName = new Map<string, string>();
  for (const [enabledName, definedName] of declared.defines) byDefinedName.set(definedName, enabledName);
  const named = (name: string) => (enabled.includes(name) ? name : (byDefinedName.get(name) ?? name));
  const graph = new Map<string, string[]>(enabled.map((name) => [name, []]));
  for (const [from, to] of declared.requires) {
    const edges = graph.get(named(from));
    const target = named(to);
    if (edges && !edges.includes(target)) edges.push(target);
  }
  return graph;
}

/** Fails naming the chain when a requirement is not enabled or requirements form a cycle. */
export function checkRequirements(enabled: string[], graph: Map<string, string[]>): void {
  const done = new Set<string>();
  const visit = (name: string, chain: string[]) => {
    if (chain.includes(name)) {
      const cycle = [...chain.slice(chain.indexOf(name)), name];
      throw new NonRecoverableError(
        `DevStack plugins require each other in a cycle: ${cycle.join(' requires ')}`,
      );
    }
    if (done.has(name)) return;
    const edges = graph.get(name);
    if (!edges) {
      throw new NonRecoverableError(
        `DevStack plugin ${[...chain, name].join(' requires ')}, which is not enabled (add enable_plugin ${name} URL to local.conf)`,
      );
    }
    for (const next of edges) visit(next, [...chain, name]);
    done.add(name);
  };
  for (const name of enabled) visit(name, []);
}

/** The plugins with requirements first, otherwise in declaration order (checked plugins only). */
export function orderByRequires(enabled: string[], graph: Map<string, string[]>): string[] {
  const placed: string[] = [];
  while (placed.length < enabled.length) {
    const next = enabled.find(
      (name) => !placed.includes(name) && (graph.get(name) ?? []).every((r) => placed.includes(r)),
    );
    // checkRequirements has ruled out cycles and missing plugins, so there is always a next.
    placed.push(next!);
  }
  return placed;
}

/** Plugins declared before a plugin they require: `[plugin, requirement]` pairs. */
export function misordered(enabled: string[], graph: Map<string, string[]>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [index, name] of enabled.entries())
    for (const requirement of graph.get(name) ?? [])
      if (enabled.indexOf(requirement) > index) pairs.push([name, requirement]);
  return pairs;
}
