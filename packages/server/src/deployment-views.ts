/**
 * What GET /deployments/:id shows of a deployment's record (its nodes, its workflows with their
 * parameters, its inputs masked), worked out once per version of the record instead of at every
 * request: the stored model is about 12 KB of JSON to send, parse and walk. The store says when
 * the record changed (DeploymentDetail.version), whichever process changed it, and sends the
 * record only then. Kept per tenant store, so nothing crosses tenants, and bounded in size.
 */
import {
  type DeploymentDetail,
  type DeploymentRecord,
  heatTypeOf,
  hiddenValues,
  isDeploymentUpdate,
  type Json,
  listedWorkflows,
  type Masker,
  modelOf,
} from '@weft/engine';
import type { Static } from 'typebox';
import type { Deployment } from './schemas/deployments.js';
import type { TenantState } from './tenants.js';

type Shown = Static<typeof Deployment>;

interface View {
  version: string;
  record: DeploymentRecord;
  /** A HOT template's deployment (its stack status is read at every request). */
  hot: boolean;
  /** Its nodes by name, without their instance counts. */
  nodes: { id: string; type: string }[];
  workflows: { name: string; parameters: Json; deploymentUpdate: boolean }[];
  /** The secrets' values and the deployment's hidden ones masked, for one version of the secrets. */
  masked?: { secretsVersion: string; inputs: Shown['inputs']; workflows: Shown['workflows'] };
}

/** Deployments remembered per tenant, at most; the one remembered first goes first. */
export const VIEWS_KEPT = 1000;

const kept = new WeakMap<TenantState['store'], Map<string, View>>();

/** The deployment's record as last read, if this server holds it (to ask the store for it only when changed). */
export function heldVersion(tenant: TenantState, id: string): string | undefined {
  return kept.get(tenant.store)?.get(id)?.version;
}

/**
 * The parts of the view that come from the deployment's record, masked with `masker` (made for
 * `detail.secretsVersion`); `detail` was read with heldVersion(tenant, id) as the known version.
 */
export async function recordView(
  tenant: TenantState,
  id: string,
  detail: DeploymentDetail,
  masker: () => Promise<Masker>,
) {
  let views = kept.get(tenant.store);
  if (!views) kept.set(tenant.store, (views = new Map()));
  let view = views.get(id);
  if (detail.deployment || view?.version !== detail.version) {
    // The store leaves the record out only when it is the version held: it is here.
    view = derive(detail.version, detail.deployment!);
    views.delete(id);
    if (views.size >= VIEWS_KEPT) views.delete(views.keys().next().value!);
    views.set(id, view);
  }
  let masked = view.masked;
  if (masked?.secretsVersion !== detail.secretsVersion) {
    const masking = (await masker()).with(hiddenValues(view.record));
    masked = {
      secretsVersion: detail.secretsVersion,
      inputs: masking.maskJson(view.record.inputs) as Shown['inputs'],
      workflows: view.workflows.map((w) => ({ ...w, parameters: masking.maskJson(w.parameters) as never })),
    };
    view.masked = masked;
  }
  return {
    record: view.record,
    hot: view.hot,
    nodes: view.nodes,
    inputs: masked.inputs,
    workflows: masked.workflows,
  };
}

function derive(version: string, record: DeploymentRecord): View {
  const model = modelOf(record.model);
  const hot = model.blueprint.heatTemplateVersion !== undefined;
  return {
    version,
    record,
    hot,
    // By name: PostgreSQL's jsonb does not keep the order the blueprint gave.
    nodes: Object.values(model.nodes)
      .filter((n) => !n.removed)
      .sort((a, b) => a.name.localeCompare(b.name))
      // A HOT stack's resources by their types as Heat shows them.
      .map((n) => ({ id: n.name, type: hot ? heatTypeOf(model, n.name)! : n.type })),
    // The parameters the engine takes, which for Cloudify's built-in workflows are not always
    // those the blueprint's types declare; workflows Weft does not run are left out.
    workflows: listedWorkflows(model).map(({ name, parameters }) => ({
      name,
      parameters: parameters as unknown as Json,
      deploymentUpdate: isDeploymentUpdate(model, name),
    })),
  };
}
