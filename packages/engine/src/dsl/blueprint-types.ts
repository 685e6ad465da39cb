import type { Constraint } from './constraints.js';
import type { Loc } from './diagnostics.js';
import type { DslVersion } from './versions.js';
import type { Value, ValueMap } from './yaml-source.js';

/** The schema of one property, input, data type field or workflow parameter. */
export interface PropertySchema {
  name: string;
  type?: string;
  itemType?: string;
  description?: string;
  default?: Value;
  hasDefault: boolean;
  required: boolean;
  constraints: Constraint[];
  displayLabel?: string;
  hidden?: boolean;
  /**
   * false: the value is the blueprint author's alone (a Loom admin field without `override`): it
   * may not come from a deployment input, nor be replaced by an execution's operation inputs.
   */
  override?: boolean;
  at?: Loc;
  /** Where the default value and the type name are written. */
  defaultAt?: Loc;
  typeAt?: Loc;
}

export type Schema = Map<string, PropertySchema>;

export interface DataType {
  name: string;
  derivedFrom?: string;
  derivedFromAt?: Loc;
  description?: string;
  properties: Schema;
  at?: Loc;
}

export type OperationKind = 'noop' | 'plugin' | 'script';

export interface Operation {
  /** Full name, e.g. `cloudify.interfaces.lifecycle.create`. */
  interface: string;
  name: string;
  implementation: string;
  kind: OperationKind;
  /** For plugin operations: the plugin name and the function path after it. */
  plugin?: string;
  function?: string;
  /** For scripts: a path relative to the blueprint directory, a URL, or inline source. */
  script?: { path?: string; source?: string };
  /** Input values (templates) or schemas with defaults (types), as written. */
  inputs: ValueMap;
  inputSchemas?: Schema;
  /** The input values a template wrote over a type's operation (for positions). */
  templateInputs?: ValueMap;
  executor?: string;
  maxRetries?: number;
  retryInterval?: number;
  timeout?: number;
  timeoutRecoverable?: boolean;
  at?: Loc;
}

/** interface name -> operation name -> operation */
export type Interfaces = Map<string, Map<string, Operation>>;

/**
 * The interface of a Loom automator's BOOTSTRAP, which the node types generated from a Loom
 * manifest declare: a node with it is a Loom service, which runs on a machine (its host).
 */
export const LOOM_AUTOMATOR_INTERFACE = 'loom.interfaces.automator';

export interface NodeType {
  name: string;
  derivedFrom?: string;
  hierarchy: string[];
  properties: Schema;
  interfaces: Interfaces;
  at?: Loc;
}

export interface RelationshipType {
  name: string;
  derivedFrom?: string;
  hierarchy: string[];
  properties: Schema;
  sourceInterfaces: Interfaces;
  targetInterfaces: Interfaces;
  at?: Loc;
}

export type ConnectionType = 'all_to_all' | 'all_to_one';

export interface RelationshipTemplate {
  type: string;
  target: string;
  hierarchy: string[];
  properties: ValueMap;
  connectionType: ConnectionType;
  sourceInterfaces: Interfaces;
  targetInterfaces: Interfaces;
  index: number;
  at?: Loc;
}

export interface InstanceCounts {
  /** Numbers, or intrinsic function calls (get_input) resolved when planning. */
  default: Value;
  min: Value;
  max: Value;
  /** Where each count is written. */
  at?: { default?: Loc; min?: Loc; max?: Loc };
}

export interface NodeTemplate {
  name: string;
  type: string;
  hierarchy: string[];
  /** Properties with schema defaults applied; values may hold intrinsic function calls. */
  properties: ValueMap;
  interfaces: Interfaces;
  relationships: RelationshipTemplate[];
  instances: InstanceCounts;
  at?: Loc;
}

export interface OutputDef {
  name: string;
  description?: string;
  value: Value;
  at?: Loc;
  valueAt?: Loc;
}

export interface GroupDef {
  name: string;
  members: string[];
  at?: Loc;
  /** The members list as written (for positions). */
  membersList?: Value;
}

export interface PolicyDef {
  name: string;
  type: string;
  targets: string[];
  properties: ValueMap;
  at?: Loc;
}

export interface PluginDef {
  name: string;
  /** Where the plugin is declared. */
  at?: Loc;
  executor?: string;
  source?: string;
  /** Where `source` is written. */
  sourceAt?: Loc;
  install: boolean;
  packageName?: string;
  packageVersion?: string;
  properties: ValueMap;
}

export interface WorkflowDef {
  name: string;
  mapping: string;
  plugin?: string;
  function?: string;
  parameters: Schema;
  isCascading: boolean;
  at?: Loc;
}

/** A parsed, validated blueprint: everything a deployment plan needs. */
export interface Blueprint {
  version: DslVersion;
  mainFile: string;
  baseDir: string;
  description?: string;
  metadata?: Value;
  inputs: Schema;
  dataTypes: Map<string, DataType>;
  nodeTypes: Map<string, NodeType>;
  relationshipTypes: Map<string, RelationshipType>;
  nodeTemplates: Map<string, NodeTemplate>;
  outputs: Map<string, OutputDef>;
  capabilities: Map<string, OutputDef>;
  groups: Map<string, GroupDef>;
  policies: Map<string, PolicyDef>;
  plugins: Map<string, PluginDef>;
  workflows: Map<string, WorkflowDef>;
  unresolvedPlugins: string[];
  files: string[];
  /** The secrets named literally by get_secret calls, where each is first named. */
  secretReferences: Map<string, SecretReference>;
  /** Set when the blueprint was read from a HOT template: its heat_template_version. */
  heatTemplateVersion?: string;
  /** For a HOT template: the inputs made from its `hidden` parameters (masked wherever shown). */
  hiddenInputs?: string[];
  /** For a HOT template: its environment as given (parameters, parameter_defaults, resource_registry). */
  heatEnvironment?: Record<string, unknown>;
  /** For a HOT template: each template resource's template file, by node, for its abandon data. */
  heatNestedTemplates?: Record<string, string>;
  /** For a HOT template: the type each resource has in its template, by node, where its node's type is another. */
  heatTypes?: Record<string, string>;
  /**
   * For a HOT template only checked (no value for some parameters): the properties of each node
   * whose values read a parameter's stand-in, left out of the Resource classes' property checks.
   */
  heatStandIns?: Record<string, string[]>;
}

/** A get_secret call with a literal name, which a store can be asked about before anything runs. */
export interface SecretReference {
  name: string;
  at?: Loc;
  path: string;
}
