import type { OperationContext } from './context.js';
import {
  type DeletionPolicy,
  RESOURCE_STATE_KEY,
  type ResourceAction,
  type ResourceState,
} from './resource.js';
import type { Json } from './workflow.js';

/** How far an unfinished action got: about to start, its handler running, or its check polling. */
export type Phase = 'queued' | 'handling' | 'polling';

/** An action started and not yet finished, kept so that the next run of the operation goes on with it. */
export interface Pending {
  action: ResourceAction;
  phase: Phase;
  token?: Json;
  /** Under DELETE: the policy the deletion started with. */
  policy?: DeletionPolicy;
  /** Under UPDATE: the new properties. */
  properties?: Record<string, Json>;
  /** Part of a replacement: the new properties. */
  replace?: Record<string, Json>;
  /**
   * Under the CREATE of a replacement that creates first: the runtime properties of the resource
   * being replaced (its own heat record inside), which is deleted once its successor is complete.
   */
  replaces?: Record<string, Json>;
}

/**
 * A resource of the instance that is to be deleted, seen through its own runtime properties (its
 * own heat record inside, where its deletion keeps its state): one that was replaced, whose
 * deletion ends the replacement, or a replacement whose create failed, deleted by the next update
 * or delete.
 */
export interface Condemned {
  runtimeProperties: Record<string, Json>;
  why: 'replaced' | 'failed replacement';
  /**
   * Of a failed replacement: the state of the resource it was to replace, which is the instance's
   * resource again, as it was. The next update starts from it (not from the failed one), as Heat's
   * Stack._get_best_existing_rsrc_db prefers the old resource to a FAILED replacement.
   */
  reinstated?: ResourceState;
}

/**
 * A check of the resource (Heat's CHECK action) that is polling or failed; one that passed leaves
 * nothing, so that checking a healthy deployment changes nothing stored. Kept apart from `state`,
 * which stays the last action that changed the resource, so that a check changes nothing the
 * other operations go by (a suspended resource stays suspended, as resume wants it).
 */
export interface CheckRecord {
  status: 'IN_PROGRESS' | 'FAILED';
  reason?: string;
  /** While polling: what handleCheck returned. */
  token?: Json;
}

/** What is kept between runs of a resource's operations, in the `heat` runtime property. */
export interface HeatRecord {
  state?: ResourceState;
  check?: CheckRecord;
  /** The properties the resource was created (or last updated) with, validated. */
  properties?: Record<string, Json>;
  pending?: Pending;
  condemned?: Condemned;
  /**
   * The update or replacement the environment restricted (restricted_actions) when an update
   * was to bring the resource to its node's properties: it still has its old ones, and the next
   * update of the deployment tries again.
   */
  refused?: 'update' | 'replace';
  /** While the deletion of a snapshot polls: what handleDeleteSnapshot returned. */
  snapshotDeletion?: { token: Json };
}

/** The instance's record, made (empty) when it has none. */
export function heatRecord(ctx: OperationContext): HeatRecord {
  const rp = ctx.instance.runtimeProperties;
  const existing = rp[RESOURCE_STATE_KEY];
  if (existing && typeof existing === 'object' && !Array.isArray(existing)) return existing as HeatRecord;
  const fresh: HeatRecord = {};
  rp[RESOURCE_STATE_KEY] = fresh as unknown as Json;
  return fresh;
}

/** Leaves no empty record behind (an operation that had nothing to do). */
export function dropEmptyRecord(ctx: OperationContext): void {
  const heat = ctx.instance.runtimeProperties[RESOURCE_STATE_KEY];
  if (heat && typeof heat === 'object' && Object.keys(heat).length === 0) {
    delete ctx.instance.runtimeProperties[RESOURCE_STATE_KEY];
  }
}

/** Whether the physical resource exists, as far as the record tells. */
export function resourceExists(heat: HeatRecord): boolean {
  const s = heat.state;
  if (!s || heat.properties === undefined) return false;
  if (s.action === 'DELETE') return s.status !== 'COMPLETE';
  if (s.action === 'CREATE' || s.action === 'ADOPT') return s.status === 'COMPLETE';
  return true;
}
