/**
 * weft.nodes.DevStack's lifecycle: stack.sh's plugin steps split over create (fetch, packages,
 * pre-install, install), configure (post-config and its local.conf merge) and start (extra,
 * test-config and their merges); stop is unstack.sh's, delete clean.sh's. Each plugin call is a
 * step of its operation: it is logged as it runs, and its end is stored at once in the
 * instance's `devstack_progress`, so an operation run again in the same execution (after a crash,
 * a cancel or a failure followed by resume) goes on at the first call not finished. Every plugin
 * finishes a phase before any starts the next, as DevStack's run_phase.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { type Json, type OperationContext, operation } from '@weft/sdk';
import { Environment, type EnvironmentOptions } from './environment.js';
import { hasGroup, type MergeGroup } from './local-conf.js';

/** The runtime property recording the steps of an unfinished operation that are done. */
export const PROGRESS_KEY = 'devstack_progress';
/** The runtime property describing the environment: DEST, the plugins and their commits, services. */
export const STATE_KEY = 'devstack';

interface Progress {
  execution: string;
  operation: string;
  done: string[];
}

interface Step {
  id: string;
  run: () => Promise<void>;
}

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function environmentOptions(ctx: OperationContext): EnvironmentOptions {
  const props = ctx.node.properties;
  const localConf = String(props.local_conf ?? 'local.conf');
  return {
    localConf: isAbsolute(localConf) ? localConf : resolve(ctx.blueprint.dir, localConf),
    // Per node: `weft devstack packages` finds the same DEST without a deployment to ask.
    workdir: join(ctx.plugin.workdir, ctx.node.id),
    allowPackages: props.allow_packages === true,
    orderByRequires: props.order_by_requires === true,
    signal: ctx.signal,
    log: (level, line) => ctx.logger[level](line),
  };
}

/** Steps, or a function giving them once the steps before have run. */
type Part = Step[] | (() => Promise<Step[]>);

/** Runs the steps not done yet in this execution, storing each one's end before the next. */
async function runSteps(ctx: OperationContext, parts: Part[]): Promise<void> {
  const rp = ctx.instance.runtimeProperties;
  const stored = rp[PROGRESS_KEY] as unknown;
  const progress: Progress =
    isMap(stored) &&
    stored.execution === ctx.execution.id &&
    stored.operation === ctx.operation.name &&
    Array.isArray(stored.done)
      ? { execution: ctx.execution.id, operation: ctx.operation.name, done: stored.done.map(String) }
      : { execution: ctx.execution.id, operation: ctx.operation.name, done: [] };
  for (const part of parts) {
    for (const step of Array.isArray(part) ? part : await part()) {
      if (progress.done.includes(step.id)) {
        ctx.logger.info(`${step.id}: done before, not run again`);
        continue;
      }
      await step.run();
      progress.done.push(step.id);
      rp[PROGRESS_KEY] = progress as unknown as Json;
      await ctx.instance.update();
    }
  }
  delete rp[PROGRESS_KEY];
}

function pluginCalls(env: Environment, mode: 'stack' | 'unstack' | 'clean', phase?: string): Step[] {
  return env
    .ordered()
    .filter((plugin) => env.hasScript(plugin))
    .map((plugin) => ({
      id: [mode, phase, plugin.name].filter(Boolean).join(' '),
      run: () => env.call({ mode, phase, plugin: plugin.name }),
    }));
}

function mergeStep(env: Environment, group: MergeGroup): Step[] {
  return hasGroup(env.conf, group) ? [{ id: `merge ${group}`, run: () => env.merge(group) }] : [];
}

/**
 * Records what the environment is made of, for `weft instances` and get_attribute. The packages
 * still needed add up over the operations of a stack (create starts afresh).
 */
function describe(
  ctx: OperationContext,
  env: Environment,
  found: { commits?: Record<string, string>; needed?: string[]; fresh?: boolean } = {},
) {
  const rp = ctx.instance.runtimeProperties;
  const before = isMap(rp[STATE_KEY]) ? (rp[STATE_KEY] as Record<string, Json>) : {};
  const commits = isMap(before.commits) ? (before.commits as Record<string, string>) : {};
  const needed =
    Array.isArray(before.packages_needed) && !found.fresh ? before.packages_needed.map(String) : [];
  rp[STATE_KEY] = {
    local_conf: env.options.localConf,
    dest: env.dest,
    plugins: env.plugins.map((p) => ({ name: p.name, url: p.url, ref: p.ref, dir: p.dir })),
    order: env.order,
    services: env.services,
    commits: { ...commits, ...found.commits },
    packages_needed: [...new Set([...needed, ...(found.needed ?? []), ...env.neededByScripts()])],
  };
}

/** Opens the environment and reads its plugins' settings (they must have been fetched). */
async function prepared(ctx: OperationContext): Promise<Environment> {
  const env = await Environment.open(environmentOptions(ctx));
  await env.readSettings();
  return env;
}

export const create = operation(
  async (ctx: OperationContext) => {
    const env = await Environment.open(environmentOptions(ctx));
    const commits: Record<string, string> = {};
    let needed: string[] = [];
    await runSteps(ctx, [
      env.plugins.map((plugin) => ({
        id: `fetch ${plugin.name}`,
        run: async () => {
          commits[plugin.name] = await env.fetch(plugin);
        },
      })),
      // Read on every run, done steps or not: what follows needs the order and the services.
      async () => {
        await env.readSettings();
        describe(ctx, env, { commits, fresh: true });
        return [
          {
            id: 'packages',
            run: async () => {
              needed = await env.installPackages();
            },
          },
          ...pluginCalls(env, 'stack', 'pre-install'),
          ...pluginCalls(env, 'stack', 'install'),
        ];
      },
    ]);
    describe(ctx, env, { commits, needed });
  },
  { resumable: true },
);

export const configure = operation(
  async (ctx: OperationContext) => {
    const env = await prepared(ctx);
    await runSteps(ctx, [pluginCalls(env, 'stack', 'post-config'), mergeStep(env, 'post-config')]);
    describe(ctx, env);
  },
  { resumable: true },
);

export const start = operation(
  async (ctx: OperationContext) => {
    const env = await prepared(ctx);
    await runSteps(ctx, [
      mergeStep(env, 'extra'),
      pluginCalls(env, 'stack', 'extra'),
      mergeStep(env, 'post-extra'),
      pluginCalls(env, 'stack', 'test-config'),
      mergeStep(env, 'test-config'),
    ]);
    describe(ctx, env);
  },
  { resumable: true },
);

export const stop = operation(
  async (ctx: OperationContext) => {
    const env = await prepared(ctx);
    await runSteps(ctx, [
      pluginCalls(env, 'unstack'),
      [{ id: 'stop processes', run: () => env.stopProcesses() }],
    ]);
  },
  { resumable: true },
);

export const clean = operation(
  async (ctx: OperationContext) => {
    const env = await prepared(ctx);
    await runSteps(ctx, [pluginCalls(env, 'clean')]);
  },
  { resumable: true },
);
