/**
 * weft signal: signals a wait condition handle (Heat's `openstack stack resource signal`, and
 * the curl command of a handle's curl_cli): by deployment and node from a terminal, or by the
 * handle's endpoint and token from a script, which needs no access to the store.
 */
import { modelOf, type NodeInstanceRecord, type Store } from '@weft/engine';
import {
  CONDITION_NODE_TYPE,
  conditionData,
  HANDLE_NODE_TYPE,
  handleToken,
  SIGNAL_DIR,
  SignalError,
  writeSignal,
} from '@weft/plugin-utilities';
import type { Command } from 'commander';
import { UsageError } from '../output.js';
import { requireLocal } from '../remote/profiles.js';
import { deploymentFor, openState, type StateOptions, stateOptions } from '../state.js';

type Flags = StateOptions & {
  deploymentId?: string;
  data?: string;
  dataBinary?: string;
  endpoint?: string;
  token?: string;
};

export function signalCommand(program: Command): void {
  stateOptions(
    program
      .command('signal')
      .description(
        'signal a wait condition handle (OS::Heat::WaitConditionHandle): SUCCESS by default, or the status, reason, data and id given',
      )
      .argument('[handle]', "the handle's node (its resource name)")
      .option('-d, --deployment-id <ID>', 'the deployment (may be left out when there is only one)')
      .option(
        '--data <JSON>',
        'the signal: {"status": "SUCCESS" or "FAILURE", "reason": TEXT, "data": ANY, "id": ID}, each optional',
      )
      .option('--data-binary <JSON>', 'the same as --data (so that a curl_cli command line works as is)')
      .option('--endpoint <DIR>', "the handle's endpoint attribute, instead of a deployment and node")
      .option('--token <TOKEN>', "with --endpoint: the handle's token attribute"),
  )
    .addHelpText(
      'after',
      `
A handle's curl_cli attribute is this command with --endpoint and --token: a script appends
--data-binary '{"status": "SUCCESS"}'. A FAILURE fails the wait condition with its reason.

Examples:
  weft signal -d stack handle
  weft signal -d stack handle --data '{"status": "FAILURE", "reason": "no disk"}'
  weft signal -d stack handle --data '{"id": "web1", "data": "10.0.0.5"}'`,
    )
    .action((handle: string | undefined, flags: Flags) => signal(handle, flags));
}

async function signal(handle: string | undefined, flags: Flags): Promise<void> {
  const details = signalDetails(flags);
  const dir = flags.endpoint === undefined ? await handleDir(handle, flags) : endpointDir(handle, flags);
  try {
    writeSignal(dir, details);
  } catch (error) {
    if (error instanceof SignalError) throw new UsageError(error.message);
    throw error;
  }
  await refreshConditions(dir, flags);
}

/**
 * The wait conditions of this handle that completed already have their `data` attribute read
 * again, so that what reads it later (outputs, an update's get_attr) sees this signal too, as
 * Heat's WaitCondition reads its handle's metadata afresh for every get_attr. Those still waiting
 * write theirs when they complete. A handle signalled by --endpoint is looked up in the local
 * state (a script's signal during an install finds its condition still waiting).
 */
async function refreshConditions(dir: string, flags: Flags): Promise<void> {
  const state = await openState(flags, { create: false });
  try {
    const ids =
      flags.endpoint === undefined
        ? [await deploymentFor(state.store, flags.deploymentId)]
        : (await state.store.listDeployments()).map((d) => d.id);
    for (const id of ids) {
      const instances = await state.store.listInstances(id);
      const handle = instances.find((i) => i.runtimeProperties[SIGNAL_DIR] === dir);
      if (handle) return await refreshData(state.store, id, handle, instances, dir);
    }
  } finally {
    await state.close();
  }
}

async function refreshData(
  store: Store,
  deploymentId: string,
  handle: NodeInstanceRecord,
  instances: NodeInstanceRecord[],
  dir: string,
): Promise<void> {
  const nodes = modelOf((await store.getDeployment(deploymentId))!.model).nodes;
  const resourceId = handle.runtimeProperties.resource_id;
  for (const instance of instances) {
    const heat = instance.runtimeProperties.heat as { properties?: { handle?: unknown } } | undefined;
    if (
      instance.state !== 'started' ||
      !nodes[instance.node]?.typeHierarchy.includes(CONDITION_NODE_TYPE) ||
      heat?.properties?.handle !== resourceId
    )
      continue;
    await store.updateRuntimeProperties(
      instance.id,
      { ...instance.runtimeProperties, data: conditionData(dir) },
      instance.version,
    );
  }
}

function signalDetails(flags: Flags): Record<string, unknown> {
  if (flags.data !== undefined && flags.dataBinary !== undefined)
    throw new UsageError('give the signal with --data or --data-binary, not both');
  const text = flags.data ?? flags.dataBinary;
  if (text === undefined || text.trim() === '') return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`the signal is not JSON: ${(error as Error).message}`);
  }
}

/** The endpoint given, checked against its handle's token. */
function endpointDir(handle: string | undefined, flags: Flags): string {
  if (handle !== undefined || flags.deploymentId !== undefined)
    throw new UsageError('give a handle by --endpoint (and --token), or by node and -d, not both');
  const dir = flags.endpoint!;
  let token: string;
  try {
    token = handleToken(dir);
  } catch (error) {
    if (error instanceof SignalError) throw new UsageError(error.message);
    throw error;
  }
  if (flags.token !== token) throw new UsageError(`--token is not the token of the handle at ${dir}`);
  return dir;
}

/** The signal directory of a handle named by deployment and node. */
async function handleDir(handle: string | undefined, flags: Flags): Promise<string> {
  if (handle === undefined)
    throw new UsageError('name the handle: weft signal -d DEPLOYMENT HANDLE (or give its --endpoint)');
  if (flags.token !== undefined) throw new UsageError('--token goes with --endpoint');
  requireLocal(flags, 'signal');
  const state = await openState(flags, { create: false });
  try {
    const id = await deploymentFor(state.store, flags.deploymentId);
    const deployment = await state.store.getDeployment(id);
    const nodes = modelOf(deployment!.model).nodes;
    const node = Object.hasOwn(nodes, handle) ? nodes[handle] : undefined;
    if (!node) {
      const handles = Object.values(nodes)
        .filter((n) => n.typeHierarchy.includes(HANDLE_NODE_TYPE))
        .map((n) => n.name);
      throw new UsageError(
        `deployment '${id}' has no node '${handle}' (${handles.length ? `its wait condition handles: ${handles.join(', ')}` : 'it has no wait condition handle'})`,
      );
    }
    if (!node.typeHierarchy.includes(HANDLE_NODE_TYPE))
      throw new UsageError(`'${handle}' is a ${node.type}, not a wait condition handle`);
    const instance = (await state.store.listInstances(id)).find((i) => i.node === handle);
    const dir = instance?.runtimeProperties[SIGNAL_DIR];
    if (typeof dir !== 'string')
      throw new UsageError(
        `the handle '${handle}' of deployment '${id}' is not created (it is ${instance?.state ?? 'gone'})`,
      );
    return dir;
  } finally {
    await state.close();
  }
}
