import type { Json } from '@weft/sdk';

/** Lifecycle states of an instance, as Cloudify names them. */
export type InstanceState =
  | 'uninitialized'
  | 'initializing'
  | 'creating'
  | 'created'
  | 'configuring'
  | 'configured'
  | 'starting'
  | 'started'
  | 'stopping'
  | 'stopped'
  | 'deleting'
  | 'deleted';

export interface NodeInstanceRecord {
  id: string;
  deploymentId: string;
  node: string;
  index: number;
  state: InstanceState;
  runtimeProperties: Record<string, Json>;
  /** Incremented by every runtime properties write (optimistic concurrency). */
  version: number;
  containedIn: string | null;
  hostId: string | null;
  /** Relationship instances: [{type, hierarchy, target, targetId, index}] */
  relationships: Json;
  scalingGroups: Json;
}
