/** The commands that show what is stored: outputs, instances, executions, events, deployments. */

import { rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import {
  type DeploymentSummary,
  type DeploymentVersionView,
  deploymentHistory,
  deploymentStatus,
  EVENT_LEVELS,
  type EventQuery,
  type EventRecord,
  type ExecutionRecord,
  heatTypeOf,
  hiddenValues,
  isLive,
  type Json,
  Masker,
  modelOf,
  type Store,
} from '@weft/engine';
import type { Command } from 'commander';
import { confirm } from '../confirm.js';
import { EXIT, jsonLine, printJson, UsageError } from '../output.js';
import { remoteEvents, remoteExecutions, remoteOr } from '../remote/commands.js';
import {
  remoteDeleteDeployment,
  remoteDeployments,
  remoteInstancesCommand,
  remoteOutputs,
} from '../remote/inspect.js';
import { eventLine } from '../render.js';
import { deploymentFor, openState, type State, type StateOptions, stateOptions, workDir } from '../state.js';
import { printInstances } from './instances-view.js';
import { deploymentOutputs, outputsText } from './outputs.js';

type Flags = StateOptions & { json?: boolean; deploymentId?: string };

const ACTIVE = ['pending', 'started', 'cancelling', 'force_cancelling'];

const common = (
  command: Command,
  json = 'print JSON',
  deployment = 'the deployment (may be left out when there is only one)',
) => stateOptions(command.option('-d, --deployment-id <ID>', deployment).option('--json', json));

function print(json: boolean | undefined, data: object, text: () => string): void {
  if (json) printJson(data);
  else process.stdout.write(text());
}

/** Runs a command's body on the state as it is: a command that only reads creates nothing. */
async function reading(flags: StateOptions, body: (state: State) => Promise<void>): Promise<void> {
  const state = await openState(flags, { create: false });
  try {
    await body(state);
  } finally {
    await state.close();
  }
}

/** A path as the user would type it: relative when under the current directory. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith(`..${sep}`) && rel !== '..' ? rel : path;
}

/** How many of a deployment's instances are live, and which. */
async function liveInstances(store: Store, deploymentId: string) {
  return (await store.listInstances(deploymentId)).filter((i) => isLive(i.state));
}

/** One deployment's summary, with its status. */
async function summaryOf(store: Store, deploymentId: string) {
  const summary = (await store.listDeploymentSummaries()).find((d) => d.id === deploymentId)!;
  return { ...summary, status: deploymentStatus(summary.instanceStates, summary.lastExecution) };
}

export function inspectCommands(program: Command): void {
  outputsCommand(program);
  instancesCommand(program);
  executionsCommand(program);
  eventsCommand(program);
  deploymentsCommands(program);
}

type OutputsFlags = Flags & { raw?: boolean };

function outputsCommand(program: Command): void {
  common(
    program
      .command('outputs')
      .description("a deployment's outputs and capabilities, evaluated from its stored state; or one of them")
      .argument('[name]', 'print only this output (or capability)')
      .option('--raw', 'with a name: print a text value as it is, without JSON quotes'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft outputs\n  weft outputs -d prod --json\n  curl "$(weft outputs endpoint --raw)"',
    )
    .action((name: string | undefined, flags: OutputsFlags) =>
      remoteOr(
        flags,
        (client) => remoteOutputs(client, flags.deploymentId, name, flags),
        () => reading(flags, (state) => outputs(state, name, flags)),
      ),
    );
}

async function outputs(state: State, name: string | undefined, flags: OutputsFlags): Promise<void> {
  const id = await deploymentFor(state.store, flags.deploymentId);
  const { status } = await summaryOf(state.store, id);
  if (status === 'uninstalled' || status === 'created') {
    const why = `deployment '${id}' is ${status === 'created' ? 'not installed yet' : 'uninstalled'}: its outputs have no values (weft install gives them)`;
    if (name !== undefined) throw new UsageError(why);
    print(
      flags.json,
      { deployment: id, status, outputs: {}, capabilities: {} },
      () => `${why[0]!.toUpperCase()}${why.slice(1)}\n`,
    );
    return;
  }
  const values = await deploymentOutputs(state, id);
  if (name !== undefined) {
    const found = Object.hasOwn(values.outputs, name)
      ? values.outputs[name]
      : Object.hasOwn(values.capabilities, name)
        ? values.capabilities[name]
        : undefined;
    if (found === undefined) {
      const names = [...Object.keys(values.outputs), ...Object.keys(values.capabilities)];
      throw new UsageError(
        `deployment '${id}' has no output or capability '${name}'${names.length ? ` (it has ${names.join(', ')})` : ''}`,
      );
    }
    if (flags.json) printJson({ deployment: id, name, value: found });
    else process.stdout.write(`${flags.raw && typeof found === 'string' ? found : JSON.stringify(found)}\n`);
    return;
  }
  print(
    flags.json,
    { deployment: id, status, ...values },
    () => outputsText(values) || `Deployment '${id}' has no outputs or capabilities\n`,
  );
}

function instancesCommand(program: Command): void {
  common(program.command('instances').description('node instances with their state and runtime properties'))
    .addHelpText(
      'after',
      "\nExamples:\n  weft instances\n  weft instances --json | jq '.instances[] | {id, state}'",
    )
    .action((flags: Flags) =>
      remoteOr(
        flags,
        (client) => remoteInstancesCommand(client, flags.deploymentId, flags.json),
        () => localInstances(flags),
      ),
    );
}

function localInstances(flags: Flags): Promise<void> {
  return reading(flags, async (state) => {
    const id = await deploymentFor(state.store, flags.deploymentId);
    // Values sealed because they hold a secret show as the mask, as do a HOT stack's hidden
    // parameters' values (in the properties its resources keep).
    const masker = new Masker();
    // A HOT stack's resources and the stack itself are shown with Heat's state names too.
    const deployment = await state.store.getDeployment(id);
    if (deployment) for (const value of hiddenValues(deployment)) masker.add(value);
    const model = deployment ? modelOf(deployment.model) : undefined;
    const instances = (await state.store.listInstances(id)).map((i) => ({
      ...i,
      runtimeProperties: masker.maskJson(i.runtimeProperties) as Record<string, Json>,
    }));
    const stack =
      model?.blueprint.heatTemplateVersion !== undefined
        ? {
            executions: await state.store.listExecutions(id),
            typeOf: (node: string) => heatTypeOf(model, node),
          }
        : undefined;
    printInstances(flags.json, id, instances, stack);
  });
}

function executionLine(e: ExecutionRecord, withDeployment: boolean): string {
  return `${e.id}  ${withDeployment ? `${e.deploymentId.padEnd(12)} ` : ''}${e.workflow.padEnd(18)} ${e.status.padEnd(11)} ${e.createdAt}${e.endedAt ? ` .. ${e.endedAt}` : ''}\n`;
}

function executionsCommand(program: Command): void {
  common(
    program.command('executions').description('executions, of every deployment or of one (-d)'),
    'print JSON',
    'only this deployment',
  )
    .addHelpText('after', '\nExamples:\n  weft executions\n  weft executions -d prod --json')
    .action((flags: Flags) =>
      remoteOr(
        flags,
        (client) => remoteExecutions(client, flags.deploymentId, flags.json, executionLine),
        () => localExecutions(flags),
      ),
    );
}

function localExecutions(flags: Flags): Promise<void> {
  return reading(flags, async (state) => {
    if (flags.deploymentId) await deploymentFor(state.store, flags.deploymentId);
    const executions = await state.store.listExecutions(flags.deploymentId);
    print(flags.json, { executions }, () =>
      executions.length === 0
        ? `No executions${flags.deploymentId ? ` of deployment '${flags.deploymentId}'` : ''} yet\n`
        : executions.map((e) => executionLine(e, !flags.deploymentId)).join(''),
    );
  });
}

type EventsFlags = Flags & {
  execution?: string;
  follow?: boolean;
  level?: string;
  node?: string;
  tail?: string;
};

function eventsCommand(program: Command): void {
  common(
    program
      .command('events')
      .description(
        'stored events and logs of an execution (default: the latest, of any deployment or of -d); --follow waits for new ones until it ends',
      )
      .option('-e, --execution <ID>', 'this execution')
      .option('--level <LEVEL>', `only events at this level or above (${EVENT_LEVELS.join(', ')})`)
      .option('--node <NAME|INSTANCE>', 'only events of this node, or of this node instance')
      .option('--tail <N>', 'only the last N events (with --follow: then the new ones)')
      .option('--follow', 'keep printing new events until the execution ends'),
    'print one JSON object a line (JSON Lines), so that --follow can stream them',
    'the latest execution of this deployment',
  )
    .addHelpText(
      'after',
      '\nExamples:\n  weft events --follow\n  weft events --level warning --node db --tail 20\n  weft events -e EXECUTION_ID --json   (one JSON object a line)',
    )
    .action((flags: EventsFlags) =>
      remoteOr(
        flags,
        (client) => {
          const filter = eventsFilter(flags);
          return remoteEvents(client, {
            ...(flags.execution !== undefined && { executionId: flags.execution }),
            ...(flags.deploymentId !== undefined && { deploymentId: flags.deploymentId }),
            ...(filter.minLevel !== undefined && { level: filter.minLevel }),
            ...(filter.node !== undefined && { node: filter.node }),
            ...(filter.last !== undefined && { tail: filter.last }),
            follow: flags.follow === true,
            json: flags.json === true,
          });
        },
        () => reading(flags, (state) => events(state, flags)),
      ),
    );
}

/** --level, --node and --tail, checked. */
function eventsFilter(flags: EventsFlags): EventQuery {
  const filter: EventQuery = {};
  if (flags.level !== undefined) {
    const level = flags.level.toLowerCase() as EventRecord['level'];
    if (!EVENT_LEVELS.includes(level))
      throw new UsageError(`--level must be one of ${EVENT_LEVELS.join(', ')}, got '${flags.level}'`);
    filter.minLevel = level;
  }
  if (flags.node !== undefined) filter.node = flags.node;
  if (flags.tail !== undefined) {
    const n = Number(flags.tail);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`--tail must be a whole number >= 0, got '${flags.tail}'`);
    filter.last = n;
  }
  return filter;
}

async function events(state: State, flags: EventsFlags): Promise<void> {
  const filter = eventsFilter(flags);
  const execution = await eventsExecution(state, flags);
  const executionId = execution.id;
  let after = 0;
  const emit = (events: EventRecord[]) => {
    for (const e of events) process.stdout.write(flags.json ? jsonLine(e) : `${eventLine(e)}\n`);
    if (events.length > 0) after = events[events.length - 1]!.seq ?? after;
  };
  const first = await state.store.listEvents({ ...filter, executionId });
  emit(first);
  // The last event looked at, matching or not, is where following starts.
  after = Math.max(after, (await state.store.listEvents({ executionId, last: 1 }))[0]?.seq ?? 0);
  delete filter.last;
  while (flags.follow) {
    const current = await state.store.getExecution(executionId);
    const more = await state.store.listEvents({ ...filter, executionId, afterSeq: after });
    emit(more);
    if (current && !ACTIVE.includes(current.status) && more.length === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The execution whose events are shown: -e, else the latest of -d's deployment, else the latest of all. */
async function eventsExecution(state: State, flags: EventsFlags): Promise<ExecutionRecord> {
  if (flags.execution) {
    const execution = await state.store.getExecution(flags.execution);
    if (!execution) throw new UsageError(`no execution '${flags.execution}'`);
    return execution;
  }
  if (flags.deploymentId) await deploymentFor(state.store, flags.deploymentId);
  const latest = (await state.store.listExecutions(flags.deploymentId)).pop();
  if (latest) return latest;
  if (flags.deploymentId) throw new UsageError(`deployment '${flags.deploymentId}' has no executions yet`);
  throw new UsageError(
    (await state.store.listDeployments()).length === 0
      ? 'there are no deployments here yet; run weft install BLUEPRINT first'
      : 'there are no executions yet',
  );
}

type Summary = DeploymentSummary & { status: string };

function deploymentLines(all: Summary[]): string {
  const rows = all.map((d) => {
    const total = Object.values(d.instanceStates).reduce((sum, n) => sum + (n ?? 0), 0);
    const status =
      d.status === 'partial' ? `partial (${d.instanceStates.started ?? 0}/${total} started)` : d.status;
    const e = d.lastExecution;
    return [
      d.id,
      status,
      d.blueprintPath ? shownPath(d.blueprintPath) : '-',
      e ? `${e.workflow} ${e.status} ${e.endedAt ?? e.createdAt}` : '-',
    ];
  });
  return table(['DEPLOYMENT', 'STATUS', 'BLUEPRINT', 'LAST EXECUTION'], rows);
}

/** Rows under a header, in columns as wide as their widest cell. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) => `${r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`)
    .join('');
}

function localDeployments(flags: Flags): Promise<void> {
  return reading(flags, async (state) => {
    const all = (await state.store.listDeploymentSummaries()).map((d) => ({
      ...d,
      status: deploymentStatus(d.instanceStates, d.lastExecution),
    }));
    print(flags.json, { deployments: all }, () =>
      all.length === 0
        ? 'No deployments here yet (weft install BLUEPRINT creates one)\n'
        : deploymentLines(all),
    );
  });
}

function deploymentsCommands(program: Command): void {
  const deployments = program
    .command('deployments')
    .description('list deployments, or delete one with everything stored for it')
    .addHelpText(
      'after',
      '\nExamples:\n  weft deployments\n  weft deployments list --json\n  weft deployments delete old-test',
    );
  stateOptions(
    deployments
      .command('list', { isDefault: true })
      .description('list deployments: status, blueprint and last execution')
      .option('--json', 'print JSON'),
  ).action((flags: Flags) =>
    remoteOr(
      flags,
      (client) =>
        remoteDeployments(client, flags.json, (rows) =>
          table(['DEPLOYMENT', 'STATUS', 'BLUEPRINT', 'LAST EXECUTION'], rows),
        ),
      () => localDeployments(flags),
    ),
  );
  common(
    deployments
      .command('history')
      .description(
        'list the versions of a deployment: what it was created from, then each update and rollback',
      ),
  ).action((flags: Flags) => {
    const show = (id: string, versions: DeploymentVersionView[]) =>
      print(flags.json, { deploymentId: id, versions }, () =>
        versions.length === 0
          ? `Deployment '${id}' was never updated: it is as it was created (weft update changes it)\n`
          : historyLines(versions),
      );
    return remoteOr(
      flags,
      async (client) => {
        const { remoteDeploymentFor } = await import('../remote/run.js');
        const id = await remoteDeploymentFor(client, flags.deploymentId);
        show(
          id,
          await client.get<DeploymentVersionView[]>(`/deployments/${encodeURIComponent(id)}/versions`),
        );
      },
      () =>
        reading(flags, async (state) => {
          const id = await deploymentFor(state.store, flags.deploymentId);
          show(id, await deploymentHistory(state.store, id));
        }),
    );
  });
  stateOptions(
    deployments
      .command('delete')
      .description(
        'delete a deployment and its stored state (refused while it has live instances, unless --force)',
      )
      .argument('<id>', 'the deployment id')
      .option('--force', 'delete it although instances are live (they are forgotten, not uninstalled)')
      .option('-y, --yes', 'do not ask for confirmation on a terminal')
      .option('--json', 'print JSON'),
  ).action((id: string, flags: Flags & { force?: boolean; yes?: boolean }) =>
    remoteOr(
      flags,
      (client) => remoteDeleteDeployment(client, id, flags),
      () => localDelete(id, flags),
    ),
  );
}

function localDelete(id: string, flags: Flags & { force?: boolean; yes?: boolean }): Promise<void> {
  return reading(flags, async (state) => {
    if (!(await state.store.getDeployment(id))) throw new UsageError(`no deployment '${id}'`);
    // As Cloudify: a running execution always stops it; live instances unless forced.
    const active = (await state.store.listExecutions(id)).find((e) => ACTIVE.includes(e.status));
    if (active)
      throw new UsageError(
        `deployment '${id}' has a running execution ${active.id} (${active.workflow}); cancel it first`,
      );
    const live = await liveInstances(state.store, id);
    const names = live.map((i) => `${i.id} (${i.state})`).join(', ');
    if (live.length > 0 && !flags.force)
      throw new UsageError(
        `deployment '${id}' has ${live.length} live ${live.length === 1 ? 'instance' : 'instances'}: ${names}; uninstall it first (weft uninstall -d ${id}), or delete it anyway with --force (they are forgotten, not uninstalled)`,
      );
    const question =
      live.length > 0
        ? `Delete deployment '${id}' with its ${live.length} live ${live.length === 1 ? 'instance' : 'instances'} (${names}), which are not uninstalled but forgotten?`
        : `Delete deployment '${id}' and everything stored for it?`;
    if (!flags.yes && !(await confirm(question))) {
      process.stderr.write('Nothing deleted\n');
      process.exitCode = EXIT.failed;
      return;
    }
    await state.store.deleteDeployment(id);
    rmSync(join(workDir(state.dir), id), { recursive: true, force: true });
    print(flags.json, { deleted: id }, () => `Deployment '${id}' deleted\n`);
  });
}

function historyLines(versions: DeploymentVersionView[]): string {
  const rows = versions.map((v) => [
    `${v.current ? '*' : ' '} ${v.version}`,
    v.createdAt,
    v.execution ? `${v.execution.workflow} ${v.execution.status} (${v.execution.id})` : 'created',
    v.blueprint ? shownPath(v.blueprint) : v.blueprintId.slice(0, 12),
  ]);
  return `${table(['  VERSION', 'CREATED', 'BY', 'BLUEPRINT'], rows)}* the version the deployment is at; a failed update leaves it between that one and the next\n`;
}
