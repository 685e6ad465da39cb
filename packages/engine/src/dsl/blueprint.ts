import { DELETION_POLICY_PROPERTY, RESTRICTED_ACTIONS_PROPERTY } from '@weft/sdk/resource-keys';
import {
  type Blueprint,
  type DataType,
  type GroupDef,
  type InstanceCounts,
  type Interfaces,
  LOOM_AUTOMATOR_INTERFACE,
  type NodeTemplate,
  type NodeType,
  type Operation,
  type OutputDef,
  type PluginDef,
  type PolicyDef,
  type RelationshipTemplate,
  type RelationshipType,
  type Schema,
  type WorkflowDef,
} from './blueprint-types.js';
import { checkDeploymentSettings, checkLabels } from './deployment-settings.js';
import { Diagnostics, didYouMean, type Loc, shown } from './diagnostics.js';
import {
  checkFunctions,
  type FunctionScope,
  functionName,
  hasCall,
  hasRuntimeCall,
  inputsReadIn,
  type ScopeKind,
} from './functions.js';
import { checkGroupPolicies, parsePolicyDefinitions } from './group-policies.js';
import { type Entry, type LoadedBlueprint, loadImports, type SectionName } from './imports.js';
import {
  applyTemplateInterfaces,
  EXECUTORS,
  overrideInterfaces,
  parseInterfaces,
  type ResolveContext,
  resolveImplementation,
} from './operations.js';
import type { BlueprintReader } from './reader.js';
import {
  applySchema,
  checkSchema,
  checkValue,
  notOverridable,
  parseSchema,
  parseSchemaEntry,
  type ValueContext,
} from './values.js';
import { type DslVersion, FEATURE_SINCE, type Feature, supports } from './versions.js';
import { isMapping, keyLocOf, locOf, type Value, type ValueMap } from './yaml-source.js';

const NODE_TYPE_KEYS = ['derived_from', 'properties', 'interfaces', 'runtime_properties', 'description'];
const RELATIONSHIP_KEYS = [
  'derived_from',
  'properties',
  'source_interfaces',
  'target_interfaces',
  'description',
];
const DATA_TYPE_KEYS = ['derived_from', 'properties', 'description', 'version'];
const TEMPLATE_KEYS = [
  'type',
  'properties',
  'interfaces',
  'relationships',
  'instances',
  'capabilities',
  'description',
];
const TEMPLATE_REL_KEYS = ['type', 'target', 'properties', 'source_interfaces', 'target_interfaces'];
const PLUGIN_KEYS = [
  'executor',
  'source',
  'install',
  'package_name',
  'package_version',
  'supported_platform',
  'distribution',
  'distribution_version',
  'distribution_release',
  'install_arguments',
  'properties',
  'properties_description',
  // Weft: the plugins this one needs (checked by plugin discovery, runtime/plugins.ts).
  'requires',
  // Weft: how many operations one worker process of the plugin runs at once (default 1).
  'operations_per_worker',
  // Weft: the heap limit of the plugin's worker processes, in MB (default 1024).
  'memory_limit_mb',
  // Weft: the plugin stands in for another: imports asking for any version of it get this one.
  'any_version',
];
/** Plugin fields and the DSL version they arrived in. */
const PLUGIN_GATED: [string, Feature][] = [
  ['install_arguments', 'plugin_install_arguments'],
  ...[
    'package_name',
    'package_version',
    'supported_platform',
    'distribution',
    'distribution_version',
    'distribution_release',
  ].map((key): [string, Feature] => [key, 'plugin_package']),
  ['properties', 'plugin_properties'],
  ['properties_description', 'plugin_properties'],
];
const OUTPUT_KEYS = ['description', 'value'];
const WORKFLOW_KEYS = ['mapping', 'parameters', 'is_cascading', 'availability_rules'];
const POLICY_KEYS = ['type', 'targets', 'properties'];
const SCALING_POLICY = 'cloudify.policies.scaling';
const SCALING_PROPERTIES = [
  'default_instances',
  'min_instances',
  'max_instances',
  'current_instances',
  'planned_instances',
];

export const ROOT_RELATIONSHIP = 'cloudify.relationships.depends_on';
export const CONTAINED_IN = 'cloudify.relationships.contained_in';
const COMPUTE = 'cloudify.nodes.Compute';

export interface ParseResult {
  blueprint?: Blueprint;
  problems: Diagnostics;
  /** Where a problem's path leads in the blueprint's files (for problems found later, by planning). */
  locate?: (path: string) => Loc | undefined;
}

class Builder {
  readonly diagnostics: Diagnostics;
  readonly version: DslVersion;
  readonly bp: Blueprint;

  constructor(
    readonly loaded: LoadedBlueprint,
    readonly reader: BlueprintReader,
    diagnostics: Diagnostics,
    private readonly heatValues = false,
  ) {
    this.diagnostics = diagnostics;
    this.version = loaded.version;
    this.bp = {
      version: loaded.version,
      mainFile: loaded.mainFile,
      baseDir: loaded.baseDir,
      description: loaded.description,
      metadata: loaded.metadata,
      inputs: new Map(),
      dataTypes: new Map(),
      nodeTypes: new Map(),
      relationshipTypes: new Map(),
      nodeTemplates: new Map(),
      outputs: new Map(),
      capabilities: new Map(),
      groups: new Map(),
      policies: new Map(),
      plugins: new Map(),
      workflows: new Map(),
      unresolvedPlugins: loaded.unresolvedPlugins,
      files: loaded.files,
      secretReferences: new Map(),
    };
  }

  get valueContext(): ValueContext {
    return {
      version: this.version,
      dataTypes: this.bp.dataTypes,
      diagnostics: this.diagnostics,
      ...(this.heatValues ? { heatValues: true } : {}),
    };
  }

  entries(section: SectionName): Entry[] {
    return [...(this.loaded.sections.get(section)?.values() ?? [])];
  }

  /** The entry's value as a mapping, reporting anything else; checks keys against `allowed`. */
  mapping(entry: Entry, path: string, allowed: string[], what: string): ValueMap | undefined {
    if (entry.value === null) return {};
    if (!isMapping(entry.value)) {
      this.diagnostics.add('type-mismatch', entry.at, path, `expected a mapping describing the ${what}`);
      return undefined;
    }
    const parent = entry.value.derived_from;
    if (parent !== undefined && typeof parent !== 'string') {
      const hint =
        isMapping(parent) && Object.keys(parent).some((k) => k.startsWith('cloudify.interfaces.'))
          ? " (operations belong under 'interfaces:')"
          : '';
      const got = Array.isArray(parent) ? 'a list' : isMapping(parent) ? 'a mapping' : JSON.stringify(parent);
      this.diagnostics.add(
        'type-mismatch',
        locOf(entry.value, 'derived_from'),
        `${path}.derived_from`,
        `expected the name of the parent type, got ${got}${hint}`,
      );
    }
    for (const key of Object.keys(entry.value)) {
      if (!allowed.includes(key)) {
        this.diagnostics.add(
          'unknown-key',
          keyLocOf(entry.value, key),
          `${path}.${key}`,
          `unknown key in ${what}${didYouMean(key, allowed)}`,
        );
      }
    }
    return entry.value;
  }

  gate(feature: Parameters<typeof supports>[1], at: Loc | undefined, path: string, what: string): boolean {
    if (supports(this.version, feature)) return true;
    this.diagnostics.add(
      'version-gated',
      at,
      path,
      `${what} needs ${FEATURE_SINCE[feature]} or later (this blueprint is ${this.version})`,
    );
    return false;
  }

  build(): Blueprint {
    this.parsePlugins();
    this.parseDataTypes();
    // Inputs come before types: function checks in type defaults need the input names.
    this.parseInputs();
    this.parseNodeTypes();
    this.parseRelationshipTypes();
    this.parseNodeTemplates();
    this.parseGroupsAndPolicies();
    this.parseOutputs('outputs', this.bp.outputs);
    this.parseOutputs('capabilities', this.bp.capabilities);
    this.parseWorkflows();
    checkDeploymentSettings(this.loaded.deploymentSettings, this.diagnostics, (value, path, container, key) =>
      this.checkFunctionsIn(value, path, container, key, 'other'),
    );
    checkLabels('labels', this.entries('labels'), this.diagnostics);
    checkLabels('blueprint_labels', this.entries('blueprint_labels'), this.diagnostics);
    this.checkTemplateGraph();
    return this.bp;
  }

  parsePlugins(): void {
    for (const entry of this.entries('plugins')) {
      const path = `plugins.${entry.name}`;
      const def = this.mapping(entry, path, PLUGIN_KEYS, 'plugin');
      if (!def) continue;
      const plugin: PluginDef = { name: entry.name, install: def.install !== false, properties: {} };
      if (entry.at) plugin.at = entry.at;
      if (typeof def.executor === 'string') plugin.executor = def.executor;
      if (typeof def.source === 'string') {
        plugin.source = def.source;
        const at = locOf(def, 'source');
        if (at) plugin.sourceAt = at;
      }
      if (typeof def.package_name === 'string') plugin.packageName = def.package_name;
      if (def.package_version !== undefined && def.package_version !== null)
        plugin.packageVersion = String(def.package_version);
      if (isMapping(def.properties)) plugin.properties = def.properties;
      this.checkPluginFields(def, path, entry.trusted);
      this.bp.plugins.set(entry.name, plugin);
    }
  }

  /** Cloudify's rules for a plugin declaration: a known executor, fields of the blueprint's DSL version. */
  checkPluginFields(def: ValueMap, path: string, trusted: boolean): void {
    if (def.executor !== undefined && !EXECUTORS.includes(def.executor as string))
      this.diagnostics.add(
        'bad-value',
        locOf(def, 'executor'),
        `${path}.executor`,
        `executor must be ${EXECUTORS.join(' or ')}, not ${JSON.stringify(def.executor)}`,
      );
    // Weft's own and installed plugins' declarations serve every DSL version.
    if (trusted) return;
    for (const [key, feature] of PLUGIN_GATED)
      if (def[key] !== undefined) this.gate(feature, keyLocOf(def, key), `${path}.${key}`, key);
  }

  /** Resolves single inheritance for a section, reporting unknown parents and cycles. */
  hierarchy<T extends { name: string; derivedFrom?: string; derivedFromAt?: Loc; at?: Loc }>(
    items: Map<string, T>,
    section: string,
    what: string,
  ): Map<string, string[]> {
    const result = new Map<string, string[]>();
    for (const item of items.values()) {
      const chain: string[] = [];
      const seen = new Set<string>();
      let current: T | undefined = item;
      let broken = false;
      while (current) {
        if (seen.has(current.name)) {
          this.diagnostics.add(
            'inheritance-cycle',
            item.derivedFromAt ?? item.at,
            `${section}.${item.name}.derived_from`,
            `${what} inheritance cycle: ${[...seen, current.name].join(' -> ')}`,
          );
          broken = true;
          break;
        }
        seen.add(current.name);
        chain.unshift(current.name);
        if (!current.derivedFrom) break;
        const parent = items.get(current.derivedFrom);
        if (!parent) {
          if (current === item) {
            this.diagnostics.add(
              'unknown-type',
              item.derivedFromAt ?? item.at,
              `${section}.${item.name}.derived_from`,
              `unknown ${what} '${current.derivedFrom}'${didYouMean(current.derivedFrom, items.keys())}${this.pluginHint()}`,
            );
          }
          broken = true;
          break;
        }
        current = parent;
      }
      result.set(item.name, broken ? [item.name] : chain);
    }
    return result;
  }

  pluginHint(): string {
    const missing = this.loaded.unresolvedPlugins;
    return missing.length > 0
      ? ` (it may come from ${missing.map((p) => `'plugin:${p}'`).join(', ')}, which is not installed)`
      : '';
  }

  parseDataTypes(): void {
    for (const entry of this.entries('data_types')) {
      const path = `data_types.${entry.name}`;
      if (!this.gate('data_types', entry.keyAt, path, 'data_types')) continue;
      const def = this.mapping(entry, path, DATA_TYPE_KEYS, 'data type');
      if (!def) continue;
      const type: DataType = {
        name: entry.name,
        properties: parseSchema(def.properties, `${path}.properties`, def, 'properties', this),
        at: entry.keyAt,
      };
      if (typeof def.derived_from === 'string') {
        type.derivedFrom = def.derived_from;
        type.derivedFromAt = locOf(def, 'derived_from');
      }
      if (typeof def.description === 'string') type.description = def.description;
      this.bp.dataTypes.set(entry.name, type);
    }
    this.hierarchy(this.bp.dataTypes, 'data_types', 'data type');
    for (const type of this.bp.dataTypes.values())
      checkSchema(type.properties, `data_types.${type.name}.properties`, this.valueContext);
  }

  /**
   * Parses a section of types with single inheritance (node types, relationship types): their
   * property schemas merged by name and each of their interface blocks merged operation by
   * operation, parent first.
   */
  parseTypes<K extends string>(
    section: 'node_types' | 'relationships',
    keys: string[],
    what: string,
    interfaceKeys: readonly K[],
  ): {
    name: string;
    derivedFrom?: string;
    hierarchy: string[];
    properties: Schema;
    interfaces: Record<K, Interfaces>;
    at?: Loc;
  }[] {
    type Raw = {
      name: string;
      derivedFrom?: string;
      derivedFromAt?: Loc;
      at?: Loc;
      properties: Schema;
      interfaces: Record<K, Interfaces>;
    };
    const raw = new Map<string, Raw>();
    for (const entry of this.entries(section)) {
      const path = `${section}.${entry.name}`;
      const def = this.mapping(entry, path, keys, what);
      if (!def) continue;
      if (def.runtime_properties !== undefined) {
        this.gate(
          'runtime_properties_schema',
          keyLocOf(def, 'runtime_properties'),
          `${path}.runtime_properties`,
          'runtime_properties',
        );
      }
      const interfaces = {} as Record<K, Interfaces>;
      for (const key of interfaceKeys)
        interfaces[key] = parseInterfaces(def[key], `${path}.${key}`, def, key, 'type', this);
      raw.set(entry.name, {
        name: entry.name,
        at: entry.keyAt,
        derivedFrom: typeof def.derived_from === 'string' ? def.derived_from : undefined,
        derivedFromAt: locOf(def, 'derived_from'),
        properties: parseSchema(def.properties, `${path}.properties`, def, 'properties', this),
        interfaces,
      });
    }
    const chains = this.hierarchy(raw, section, what);
    return [...raw.values()].map((item) => {
      const hierarchy = chains.get(item.name) ?? [item.name];
      let properties: Schema = new Map();
      const interfaces = {} as Record<K, Interfaces>;
      for (const key of interfaceKeys) interfaces[key] = new Map();
      for (const name of hierarchy) {
        const level = raw.get(name)!;
        properties = new Map([...properties, ...level.properties]);
        for (const key of interfaceKeys)
          interfaces[key] = overrideInterfaces(interfaces[key], level.interfaces[key]);
      }
      checkSchema(item.properties, `${section}.${item.name}.properties`, this.valueContext);
      this.checkDefaults(item.properties, `${section}.${item.name}.properties`);
      const type = { name: item.name, hierarchy, properties, interfaces, at: item.at };
      return item.derivedFrom ? { ...type, derivedFrom: item.derivedFrom } : type;
    });
  }

  parseNodeTypes(): void {
    for (const t of this.parseTypes('node_types', NODE_TYPE_KEYS, 'node type', ['interfaces'] as const)) {
      const type: NodeType = {
        name: t.name,
        hierarchy: t.hierarchy,
        properties: t.properties,
        interfaces: t.interfaces.interfaces,
        at: t.at,
      };
      if (t.derivedFrom) type.derivedFrom = t.derivedFrom;
      this.bp.nodeTypes.set(t.name, type);
    }
  }

  parseRelationshipTypes(): void {
    for (const t of this.parseTypes('relationships', RELATIONSHIP_KEYS, 'relationship type', [
      'source_interfaces',
      'target_interfaces',
    ] as const)) {
      const type: RelationshipType = {
        name: t.name,
        hierarchy: t.hierarchy,
        properties: t.properties,
        sourceInterfaces: t.interfaces.source_interfaces,
        targetInterfaces: t.interfaces.target_interfaces,
        at: t.at,
      };
      if (t.derivedFrom) type.derivedFrom = t.derivedFrom;
      this.bp.relationshipTypes.set(t.name, type);
    }
  }

  parseInputs(): void {
    for (const entry of this.entries('inputs')) {
      this.bp.inputs.set(
        entry.name,
        parseSchemaEntry(entry.name, entry.value, `inputs.${entry.name}`, entry.keyAt, this),
      );
    }
    checkSchema(this.bp.inputs, 'inputs', this.valueContext);
    for (const input of this.bp.inputs.values()) {
      // Nobody is asked for a hidden input, so a required one must have a default.
      if (input.hidden && input.required && !input.hasDefault && supports(this.version, 'hidden'))
        this.diagnostics.add(
          'missing-default',
          input.at,
          `inputs.${input.name}`,
          'a hidden input that is required needs a default',
        );
      if (
        input.hasDefault &&
        input.constraints.length > 0 &&
        (functionName(input.default) || hasRuntimeCall(input.default!))
      ) {
        this.diagnostics.add(
          'bad-default',
          input.defaultAt,
          `inputs.${input.name}.default`,
          'an input with constraints cannot have an intrinsic function as its default',
        );
      }
      if (input.hasDefault) {
        this.checkFunctionsIn(
          input.default!,
          `inputs.${input.name}.default`,
          undefined,
          0,
          'input-default',
          input.defaultAt,
        );
      }
    }
  }

  private names?: { inputs: Set<string>; nodes: Set<string> };
  private readonly checkedOperations = new WeakSet<Operation>();

  scope(kind: ScopeKind): FunctionScope {
    // Built once: scopes are made for every template and operation.
    this.names ??= {
      inputs: new Set(this.bp.inputs.keys()),
      nodes: new Set(this.loaded.sections.get('node_templates')?.keys() ?? []),
    };
    return {
      kind,
      version: this.version,
      ...this.names,
      diagnostics: this.diagnostics,
      secrets: this.bp.secretReferences,
    };
  }

  checkFunctionsIn(
    value: Value,
    path: string,
    container: unknown,
    key: string | number,
    kind: ScopeKind,
    fallbackAt?: Loc,
  ): void {
    checkFunctions(value, path, container, key, this.scope(kind), fallbackAt);
  }

  /** Function calls in property defaults are checked like those in templates. */
  checkDefaults(schema: Schema, path: string): void {
    for (const prop of schema.values()) {
      if (prop.hasDefault && prop.default !== null && typeof prop.default === 'object') {
        this.checkFunctionsIn(
          prop.default!,
          `${path}.${prop.name}.default`,
          undefined,
          0,
          'node-properties',
          prop.defaultAt,
        );
      }
    }
  }

  parseNodeTemplates(): void {
    const resolveCtx = {
      plugins: this.bp.plugins,
      baseDir: this.bp.baseDir,
      reader: this.reader,
      diagnostics: this.diagnostics,
      unresolvedPlugins: this.loaded.unresolvedPlugins,
    };
    const nodeNames = new Set(this.loaded.sections.get('node_templates')?.keys() ?? []);
    for (const entry of this.entries('node_templates')) {
      const path = `node_templates.${entry.name}`;
      const def = this.mapping(entry, path, TEMPLATE_KEYS, 'node template');
      if (!def) continue;
      if (typeof def.type !== 'string') {
        this.diagnostics.add(
          'missing-type',
          def.type === undefined ? entry.keyAt : locOf(def, 'type'),
          `${path}.type`,
          'every node template needs a type',
        );
        this.checkUntypedTemplate(def, path, entry.name, nodeNames, resolveCtx);
        continue;
      }
      const type = this.bp.nodeTypes.get(def.type);
      if (!type) {
        this.diagnostics.add(
          'unknown-type',
          locOf(def, 'type'),
          `${path}.type`,
          `unknown type '${def.type}'${didYouMean(def.type, this.bp.nodeTypes.keys())}${this.pluginHint()}`,
        );
        this.checkUntypedTemplate(def, path, entry.name, nodeNames, resolveCtx);
        continue;
      }
      const rawProps = def.properties ?? {};
      let properties: ValueMap = {};
      if (!isMapping(rawProps)) {
        this.diagnostics.add(
          'type-mismatch',
          locOf(def, 'properties'),
          `${path}.properties`,
          'expected a mapping',
        );
      } else {
        properties = applySchema(
          this.heatValues ? withoutHeatPolicies(rawProps, type.properties) : rawProps,
          type.properties,
          `${path}.properties`,
          this.valueContext,
          {
            what: `type '${type.name}'`,
            skipRequired: rawProps.use_external_resource === true,
            at: def.properties === undefined ? entry.keyAt : locOf(def, 'properties'),
          },
        );
        if (this.heatValues) Object.assign(properties, heatPolicies(rawProps, type.properties));
        this.checkFunctionsIn(rawProps, `${path}.properties`, def, 'properties', 'node-properties');
        // An input that a hidden property (a Loom manifest's sensitive field) reads is hidden as
        // well: masked wherever shown, sealed where the deployment is stored.
        for (const [name, value] of Object.entries(rawProps))
          if (type.properties.get(name)?.hidden === true)
            for (const input of inputsReadIn(value))
              if (!this.bp.hiddenInputs?.includes(input)) (this.bp.hiddenInputs ??= []).push(input);
        for (const [name, value] of Object.entries(rawProps))
          if (type.properties.get(name)?.override === false && hasCall(value, 'get_input'))
            this.diagnostics.add(
              'not-overridable',
              locOf(rawProps, name),
              `${path}.properties.${name}`,
              notOverridable(name, type.name, 'a deployment input'),
            );
        const external = rawProps.use_external_resource;
        // It decides which required properties may be left out, so it must be known now.
        if (external !== undefined && typeof external !== 'boolean')
          this.diagnostics.add(
            'type-mismatch',
            locOf(rawProps, 'use_external_resource'),
            `${path}.properties.use_external_resource`,
            'expected true or false',
          );
      }
      const templateIfaces = parseInterfaces(
        def.interfaces,
        `${path}.interfaces`,
        def,
        'interfaces',
        'template',
        this,
      );
      // An operation's inputs are the fields its task gets: one named after a fixed property is
      // the blueprint's to give, not a deployment input's.
      for (const [iface, ops] of templateIfaces)
        for (const [opName, op] of ops)
          for (const [name, value] of Object.entries(op.inputs))
            if (type.properties.get(name)?.override === false && hasCall(value, 'get_input'))
              this.diagnostics.add(
                'not-overridable',
                locOf(op.inputs, name),
                `${path}.interfaces.${iface}.${opName}.inputs.${name}`,
                notOverridable(name, type.name, 'a deployment input'),
              );
      const interfaces = applyTemplateInterfaces(
        type.interfaces,
        templateIfaces,
        `${path}.interfaces`,
        this.diagnostics,
        type.name,
      );
      this.checkOperations(interfaces, `${path}.interfaces`, resolveCtx, 'node-operation');
      const template: NodeTemplate = {
        name: entry.name,
        type: type.name,
        hierarchy: type.hierarchy,
        properties,
        interfaces,
        relationships: this.parseTemplateRelationships(def, path, entry.name, nodeNames, resolveCtx),
        instances: this.parseInstances(def, path),
        at: entry.keyAt,
      };
      this.bp.nodeTemplates.set(entry.name, template);
    }
  }

  /** Resolves every operation's implementation and checks the functions in its inputs. */
  checkOperations(interfaces: Interfaces, base: string, resolveCtx: ResolveContext, kind: ScopeKind): void {
    for (const [iface, ops] of interfaces) {
      for (const [name, op] of ops) {
        // Operations inherited unchanged are shared by every template of a type: check them once.
        if (this.checkedOperations.has(op)) continue;
        this.checkedOperations.add(op);
        resolveImplementation(op, `${base}.${iface}.${name}`, resolveCtx);
        this.checkFunctionsIn(op.inputs, `${base}.${iface}.${name}.inputs`, op, 'inputs', kind);
      }
    }
  }

  /**
   * A template whose type is missing or unknown: what can be checked without it still is (its
   * functions, operations, relationships and instances), so one run reports every problem.
   */
  checkUntypedTemplate(
    def: ValueMap,
    path: string,
    self: string,
    nodeNames: Set<string>,
    resolveCtx: ResolveContext,
  ): void {
    if (isMapping(def.properties))
      this.checkFunctionsIn(def.properties, `${path}.properties`, def, 'properties', 'node-properties');
    const interfaces = parseInterfaces(
      def.interfaces,
      `${path}.interfaces`,
      def,
      'interfaces',
      'template',
      this,
    );
    this.checkOperations(interfaces, `${path}.interfaces`, resolveCtx, 'node-operation');
    this.parseTemplateRelationships(def, path, self, nodeNames, resolveCtx);
    this.parseInstances(def, path);
  }

  parseTemplateRelationships(
    def: ValueMap,
    path: string,
    self: string,
    nodeNames: Set<string>,
    resolveCtx: ResolveContext,
  ): RelationshipTemplate[] {
    const raw = def.relationships;
    if (raw === undefined || raw === null) return [];
    if (!Array.isArray(raw)) {
      this.diagnostics.add(
        'type-mismatch',
        locOf(def, 'relationships'),
        `${path}.relationships`,
        'expected a list of relationships',
      );
      return [];
    }
    const result: RelationshipTemplate[] = [];
    raw.forEach((item, index) => {
      const relPath = `${path}.relationships[${index}]`;
      const at = locOf(raw, index);
      if (!isMapping(item)) {
        this.diagnostics.add('type-mismatch', at, relPath, 'expected a mapping with type and target');
        return;
      }
      const type = this.relationshipTypeOf(item, relPath, at, self, nodeNames);
      if (!type) return;
      const { properties, connectionType } = this.relationshipProperties(item, type, relPath, at);
      const { source, target } = this.relationshipInterfaces(item, type, relPath, resolveCtx);
      result.push({
        type: type.name,
        target: item.target as string,
        hierarchy: type.hierarchy,
        properties,
        connectionType,
        sourceInterfaces: source,
        targetInterfaces: target,
        index,
        at,
      });
    });
    return result;
  }

  /** A relationship's keys, type and target; its type when they are all right. */
  relationshipTypeOf(
    item: ValueMap,
    relPath: string,
    at: Loc | undefined,
    self: string,
    nodeNames: Set<string>,
  ): RelationshipType | undefined {
    for (const key of Object.keys(item)) {
      if (!TEMPLATE_REL_KEYS.includes(key)) {
        this.diagnostics.add(
          'unknown-key',
          keyLocOf(item, key),
          `${relPath}.${key}`,
          `unknown key in relationship${didYouMean(key, TEMPLATE_REL_KEYS)}`,
        );
      }
    }
    if (typeof item.type !== 'string') {
      this.diagnostics.add('missing-type', at, `${relPath}.type`, 'a relationship needs a type');
      return undefined;
    }
    if (typeof item.target !== 'string') {
      this.diagnostics.add('missing-target', at, `${relPath}.target`, 'a relationship needs a target node');
      return undefined;
    }
    const type = this.bp.relationshipTypes.get(item.type);
    if (!type) {
      this.diagnostics.add(
        'unknown-type',
        locOf(item, 'type'),
        `${relPath}.type`,
        `unknown relationship type '${item.type}'${didYouMean(item.type, this.bp.relationshipTypes.keys())}${this.pluginHint()}`,
      );
      return undefined;
    }
    if (item.target === self) {
      this.diagnostics.add(
        'self-target',
        locOf(item, 'target'),
        `${relPath}.target`,
        `node '${self}' cannot have a relationship to itself`,
      );
      return undefined;
    }
    if (!nodeNames.has(item.target)) {
      this.diagnostics.add(
        'unknown-target',
        locOf(item, 'target'),
        `${relPath}.target`,
        `relationship target '${item.target}' is not a node template${didYouMean(item.target, nodeNames)}`,
      );
      return undefined;
    }
    return type;
  }

  /** A relationship's properties against its type's schema, and its connection type. */
  relationshipProperties(
    item: ValueMap,
    type: RelationshipType,
    relPath: string,
    at: Loc | undefined,
  ): { properties: ValueMap; connectionType: RelationshipTemplate['connectionType'] } {
    const rawProps = item.properties ?? {};
    let properties: ValueMap = {};
    if (isMapping(rawProps)) {
      properties = applySchema(rawProps, type.properties, `${relPath}.properties`, this.valueContext, {
        what: `relationship type '${type.name}'`,
        at,
      });
      this.checkFunctionsIn(rawProps, `${relPath}.properties`, item, 'properties', 'relationship');
    } else
      this.diagnostics.add(
        'type-mismatch',
        locOf(item, 'properties'),
        `${relPath}.properties`,
        'expected a mapping',
      );
    const connection = properties.connection_type;
    if (
      connection !== undefined &&
      !functionName(connection) &&
      connection !== 'all_to_all' &&
      connection !== 'all_to_one'
    ) {
      this.diagnostics.add(
        'bad-value',
        isMapping(rawProps) ? locOf(rawProps, 'connection_type') : at,
        `${relPath}.properties.connection_type`,
        `connection_type must be all_to_all or all_to_one, got ${JSON.stringify(connection)}${didYouMean(String(connection), ['all_to_all', 'all_to_one'])}`,
      );
    }
    return { properties, connectionType: connection === 'all_to_one' ? 'all_to_one' : 'all_to_all' };
  }

  /** A relationship's source and target operations: its type's, overridden by its own; each resolved and checked once. */
  relationshipInterfaces(
    item: ValueMap,
    type: RelationshipType,
    relPath: string,
    resolveCtx: ResolveContext,
  ): { source: Interfaces; target: Interfaces } {
    const side = (key: 'source_interfaces' | 'target_interfaces', inherited: Interfaces): Interfaces => {
      const ifaces = applyTemplateInterfaces(
        inherited,
        parseInterfaces(item[key], `${relPath}.${key}`, item, key, 'template', this),
        `${relPath}.${key}`,
        this.diagnostics,
        type.name,
      );
      this.checkOperations(ifaces, `${relPath}.${key}`, resolveCtx, 'relationship-operation');
      return ifaces;
    };
    return {
      source: side('source_interfaces', type.sourceInterfaces),
      target: side('target_interfaces', type.targetInterfaces),
    };
  }

  parseInstances(def: ValueMap, path: string): InstanceCounts {
    const counts: InstanceCounts = { default: 1, min: 0, max: -1 };
    const check = (value: Value, at: Loc | undefined, p: string, allowUnbounded: boolean): Value => {
      if (functionName(value)) {
        this.checkFunctionsIn(value, p, undefined, 0, 'instances');
        return value;
      }
      if (allowUnbounded && value === 'UNBOUNDED') return -1;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowUnbounded ? -1 : 0)) {
        this.diagnostics.add(
          'bad-value',
          at,
          p,
          `expected a non-negative integer${allowUnbounded ? ' (or UNBOUNDED / -1)' : ''}, got ${JSON.stringify(value)}`,
        );
        return allowUnbounded ? -1 : 1;
      }
      return value;
    };
    if (def.instances !== undefined) {
      const inst = def.instances;
      if (!isMapping(inst))
        this.diagnostics.add(
          'type-mismatch',
          locOf(def, 'instances'),
          `${path}.instances`,
          'expected a mapping with deploy',
        );
      else {
        for (const key of Object.keys(inst)) {
          if (key !== 'deploy')
            this.diagnostics.add(
              'unknown-key',
              keyLocOf(inst, key),
              `${path}.instances.${key}`,
              `unknown key${didYouMean(key, ['deploy'])}`,
            );
        }
        if (inst.deploy !== undefined)
          counts.default = check(inst.deploy, locOf(inst, 'deploy'), `${path}.instances.deploy`, false);
        else
          this.diagnostics.add(
            'missing-key',
            locOf(def, 'instances'),
            `${path}.instances.deploy`,
            'instances needs deploy',
          );
        counts.at = { ...counts.at, default: locOf(inst, 'deploy') };
      }
    }
    if (def.capabilities !== undefined) {
      const caps = def.capabilities;
      const capsPath = `${path}.capabilities`;
      if (
        !this.gate(
          'scalable_capabilities',
          keyLocOf(def, 'capabilities'),
          capsPath,
          'node template capabilities',
        )
      )
        return counts;
      if (!isMapping(caps)) {
        this.diagnostics.add('type-mismatch', locOf(def, 'capabilities'), capsPath, 'expected a mapping');
        return counts;
      }
      for (const key of Object.keys(caps)) {
        if (key !== 'scalable')
          this.diagnostics.add(
            'unknown-key',
            keyLocOf(caps, key),
            `${capsPath}.${key}`,
            `unknown capability${didYouMean(key, ['scalable'])}`,
          );
      }
      // Cloudify refuses instances.deploy beside any capabilities section, even an empty one.
      if (def.instances !== undefined && def.instances !== null) {
        this.diagnostics.add(
          'conflict',
          keyLocOf(def, 'instances'),
          `${path}.instances`,
          'use either instances.deploy or capabilities.scalable, not both',
        );
      }
      const scalable = caps.scalable;
      if (scalable !== undefined && scalable !== null) {
        if (!isMapping(scalable) || (scalable.properties !== undefined && !isMapping(scalable.properties))) {
          this.diagnostics.add(
            'type-mismatch',
            locOf(caps, 'scalable'),
            `${capsPath}.scalable`,
            'expected {properties: {default_instances, min_instances, max_instances}}',
          );
        } else {
          for (const key of Object.keys(scalable)) {
            if (key !== 'properties')
              this.diagnostics.add(
                'unknown-key',
                keyLocOf(scalable, key),
                `${capsPath}.scalable.${key}`,
                `unknown key${didYouMean(key, ['properties'])}`,
              );
          }
          const props = (scalable.properties ?? {}) as ValueMap;
          this.scalingProperties(props, `${capsPath}.scalable.properties`, counts, check);
        }
      }
    }
    return counts;
  }

  scalingProperties(
    props: ValueMap,
    path: string,
    counts: InstanceCounts,
    check: (v: Value, at: Loc | undefined, p: string, unbounded: boolean) => Value,
  ): void {
    const allowed = ['default_instances', 'min_instances', 'max_instances'];
    for (const key of Object.keys(props)) {
      if (!allowed.includes(key) && !SCALING_PROPERTIES.includes(key)) {
        this.diagnostics.add(
          'unknown-key',
          keyLocOf(props, key),
          `${path}.${key}`,
          `unknown scaling property${didYouMean(key, allowed)}`,
        );
      }
    }
    if (props.default_instances !== undefined)
      counts.default = check(
        props.default_instances,
        locOf(props, 'default_instances'),
        `${path}.default_instances`,
        false,
      );
    if (props.min_instances !== undefined)
      counts.min = check(props.min_instances, locOf(props, 'min_instances'), `${path}.min_instances`, false);
    if (props.max_instances !== undefined)
      counts.max = check(props.max_instances, locOf(props, 'max_instances'), `${path}.max_instances`, true);
    counts.at = {
      default: locOf(props, 'default_instances'),
      min: locOf(props, 'min_instances'),
      max: locOf(props, 'max_instances'),
    };
    checkCounts(counts, path, locOf(props), this.diagnostics);
  }

  parseGroupsAndPolicies(): void {
    const policyTypeSchemas = parsePolicyDefinitions(this, 'policy_types');
    const triggerSchemas = parsePolicyDefinitions(this, 'policy_triggers');
    const nodeNames = new Set(this.bp.nodeTemplates.keys());
    const groupNames = new Set(this.loaded.sections.get('groups')?.keys() ?? []);
    for (const entry of this.entries('groups')) {
      const path = `groups.${entry.name}`;
      const def = this.mapping(entry, path, ['members', 'policies'], 'group');
      if (!def) continue;
      checkGroupPolicies(def, path, policyTypeSchemas, triggerSchemas, this);
      const members: string[] = [];
      if (!Array.isArray(def.members) || def.members.length === 0) {
        this.diagnostics.add(
          'bad-value',
          def.members === undefined ? entry.keyAt : locOf(def, 'members'),
          `${path}.members`,
          'a group needs a non-empty list of members',
        );
      } else {
        def.members.forEach((member, index) => {
          const at = locOf(def.members, index);
          if (typeof member !== 'string') {
            this.diagnostics.add(
              'type-mismatch',
              at,
              `${path}.members[${index}]`,
              'expected a node template or group name',
            );
          } else if (member === entry.name) {
            this.diagnostics.add(
              'bad-value',
              at,
              `${path}.members[${index}]`,
              'a group cannot contain itself',
            );
          } else if (
            !nodeNames.has(member) &&
            !groupNames.has(member) &&
            !this.loaded.sections.get('node_templates')?.has(member)
          ) {
            this.diagnostics.add(
              'unknown-member',
              at,
              `${path}.members[${index}]`,
              `'${member}' is not a node template or group${didYouMean(member, [...nodeNames, ...groupNames])}`,
            );
          } else if (members.includes(member)) {
            this.diagnostics.add('bad-value', at, `${path}.members[${index}]`, `'${member}' is listed twice`);
          } else members.push(member);
        });
      }
      const group: GroupDef = {
        name: entry.name,
        members,
        at: entry.keyAt,
        membersList: isMapping(def) ? def.members : undefined,
      };
      this.bp.groups.set(entry.name, group);
    }
    const policyTypes = new Set([
      SCALING_POLICY,
      ...(this.loaded.sections.get('policy_types')?.keys() ?? []),
    ]);
    for (const entry of this.entries('policies')) {
      const path = `policies.${entry.name}`;
      const def = this.mapping(entry, path, POLICY_KEYS, 'policy');
      if (!def) continue;
      if (typeof def.type !== 'string' || !policyTypes.has(def.type)) {
        const name = typeof def.type === 'string' ? def.type : '';
        this.diagnostics.add(
          'unknown-type',
          def.type === undefined ? entry.keyAt : locOf(def, 'type'),
          `${path}.type`,
          `unknown policy type '${name}'${didYouMean(name, policyTypes)}`,
        );
        continue;
      }
      const targets: string[] = [];
      if (!Array.isArray(def.targets) || def.targets.length === 0) {
        this.diagnostics.add(
          'bad-value',
          def.targets === undefined ? entry.keyAt : locOf(def, 'targets'),
          `${path}.targets`,
          'a policy needs a non-empty list of target groups',
        );
      } else {
        def.targets.forEach((target, index) => {
          if (typeof target === 'string' && this.bp.groups.has(target)) targets.push(target);
          else {
            const name = shown(target);
            this.diagnostics.add(
              'unknown-group',
              locOf(def.targets, index),
              `${path}.targets[${index}]`,
              `'${name}' is not a group${didYouMean(name, this.bp.groups.keys())}`,
            );
          }
        });
      }
      const properties = isMapping(def.properties) ? def.properties : {};
      if (def.properties !== undefined && !isMapping(def.properties)) {
        this.diagnostics.add(
          'type-mismatch',
          locOf(def, 'properties'),
          `${path}.properties`,
          'expected a mapping',
        );
      }
      if (def.type === SCALING_POLICY) {
        const counts: InstanceCounts = { default: 1, min: 0, max: -1 };
        const check = (value: Value, at: Loc | undefined, p: string, unbounded: boolean): Value => {
          if (functionName(value)) {
            this.checkFunctionsIn(value, p, undefined, 0, 'policy');
            return value;
          }
          if (unbounded && value === 'UNBOUNDED') return -1;
          if (typeof value !== 'number' || !Number.isInteger(value) || value < (unbounded ? -1 : 0)) {
            this.diagnostics.add(
              'bad-value',
              at,
              p,
              `expected a non-negative integer, got ${JSON.stringify(value)}`,
            );
            return unbounded ? -1 : 1;
          }
          return value;
        };
        this.scalingProperties(properties, `${path}.properties`, counts, check);
        properties.default_instances = counts.default;
        properties.min_instances = counts.min;
        properties.max_instances = counts.max;
        for (const target of targets) {
          const owner = [...this.bp.policies.values()].find(
            (p) => p.type === SCALING_POLICY && p.targets.includes(target),
          );
          if (owner)
            this.diagnostics.add(
              'bad-value',
              locOf(def, 'targets'),
              `${path}.targets`,
              `group '${target}' already has scaling policy '${owner.name}'`,
            );
        }
      }
      const policy: PolicyDef = { name: entry.name, type: def.type, targets, properties, at: entry.keyAt };
      this.bp.policies.set(entry.name, policy);
    }
    this.checkScalingGroupsNest();
  }

  /**
   * Scaling groups as Cloudify's parser has them: a node or group is a member of one scaling
   * group at most (groups nest by being members), and nodes sharing a group are contained in a
   * shared node (or one contains the other), so their instances can be scaled together.
   */
  checkScalingGroupsNest(): void {
    const scaling = new Set<string>();
    for (const policy of this.bp.policies.values())
      if (policy.type === SCALING_POLICY) for (const t of policy.targets) scaling.add(t);
    const owner = new Map<string, string>();
    for (const group of this.bp.groups.values()) {
      if (this.bp.nodeTemplates.has(group.name))
        this.diagnostics.add(
          'duplicate-name',
          group.at,
          `groups.${group.name}`,
          `a group and a node template are both named '${group.name}'`,
        );
      if (!scaling.has(group.name)) continue;
      for (const member of group.members) {
        const other = owner.get(member);
        if (!other) {
          owner.set(member, group.name);
          continue;
        }
        const index = Array.isArray(group.membersList)
          ? group.membersList.indexOf(member)
          : group.members.indexOf(member);
        this.diagnostics.add(
          'scaling-groups-overlap',
          locOf(group.membersList, index),
          `groups.${group.name}.members[${index}]`,
          `'${member}' is also in scaling group '${other}'; a member belongs to one scaling group (nest groups to combine them)`,
        );
      }
    }
    this.checkScalingGroupContainment(scaling);
  }

  /** Nodes sharing a scaling group must be contained in a shared node, or one in the other. */
  checkScalingGroupContainment(scaling: Set<string>): void {
    const containers = (node: string): string[] => {
      const chain: string[] = [];
      let current = this.bp.nodeTemplates.get(node);
      while (current) {
        const host = current.relationships.find((r) => r.hierarchy.includes(CONTAINED_IN))?.target;
        if (!host || chain.includes(host) || host === node) break;
        chain.push(host);
        current = this.bp.nodeTemplates.get(host);
      }
      return chain;
    };
    const nodesOf = (group: string, seen = new Set<string>()): string[] => {
      if (seen.has(group)) return [];
      seen.add(group);
      return (this.bp.groups.get(group)?.members ?? []).flatMap((m) =>
        this.bp.nodeTemplates.has(m) ? [m] : nodesOf(m, seen),
      );
    };
    const related = (a: string, b: string): boolean => {
      const above = { a: containers(a), b: containers(b) };
      if (a === b || (above.a.length === 0 && above.b.length === 0)) return true;
      return above.a.includes(b) || above.b.includes(a) || above.a.some((n) => above.b.includes(n));
    };
    for (const name of scaling) {
      const group = this.bp.groups.get(name);
      const nodes = nodesOf(name);
      for (const [i, a] of nodes.entries()) {
        for (const b of nodes.slice(i + 1)) {
          // A pair also passes through a container of one that is in the group and passes with the other.
          const through = (node: string, other: string) =>
            containers(node).some((c) => nodes.includes(c) && related(c, other));
          if (related(a, b) || through(a, b) || through(b, a)) continue;
          this.diagnostics.add(
            'scaling-group-containment',
            group?.at,
            `groups.${name}`,
            `nodes '${a}' and '${b}' share this scaling group but no node contains both (or one the other)`,
          );
        }
      }
    }
  }

  parseOutputs(section: 'outputs' | 'capabilities', into: Map<string, OutputDef>): void {
    for (const entry of this.entries(section)) {
      const path = `${section}.${entry.name}`;
      const def = this.mapping(entry, path, OUTPUT_KEYS, section === 'outputs' ? 'output' : 'capability');
      if (!def) continue;
      if (!Object.hasOwn(def, 'value')) {
        this.diagnostics.add(
          'missing-value',
          entry.keyAt,
          `${path}.value`,
          `${section === 'outputs' ? 'an output' : 'a capability'} needs a value`,
        );
        continue;
      }
      this.checkFunctionsIn(def.value!, `${path}.value`, def, 'value', 'outputs');
      const output: OutputDef = {
        name: entry.name,
        value: def.value!,
        at: entry.keyAt,
        valueAt: locOf(def, 'value'),
      };
      if (typeof def.description === 'string') output.description = def.description;
      into.set(entry.name, output);
    }
  }

  parseWorkflows(): void {
    for (const entry of this.entries('workflows')) {
      const path = `workflows.${entry.name}`;
      let mapping: string | undefined;
      let parameters: Schema = new Map();
      let isCascading = false;
      let mappingAt: Loc | undefined;
      if (typeof entry.value === 'string') mapping = entry.value;
      else {
        const def = this.mapping(entry, path, WORKFLOW_KEYS, 'workflow');
        if (!def) continue;
        if (typeof def.mapping === 'string') {
          mapping = def.mapping;
          mappingAt = locOf(def, 'mapping');
        }
        parameters = parseSchema(def.parameters, `${path}.parameters`, def, 'parameters', this);
        checkSchema(parameters, `${path}.parameters`, this.valueContext);
        if (def.is_cascading === true) isCascading = true;
        if (def.availability_rules !== undefined)
          this.gate(
            'availability_rules',
            keyLocOf(def, 'availability_rules'),
            `${path}.availability_rules`,
            'availability_rules',
          );
      }
      if (!mapping) {
        this.diagnostics.add(
          'missing-value',
          entry.at,
          `${path}.mapping`,
          'a workflow needs a mapping (plugin.module.function)',
        );
        continue;
      }
      const workflow: WorkflowDef = { name: entry.name, mapping, parameters, isCascading, at: entry.at };
      const dot = mapping.indexOf('.');
      const prefix = dot > 0 ? mapping.slice(0, dot) : mapping;
      // A file of the blueprint first, as Cloudify looks (`script.py` is a script, not plugin `script`).
      if (this.reader.isFile(`${this.bp.baseDir}/${mapping}`)) {
        workflow.plugin = 'script';
        workflow.function = mapping;
      } else if (dot > 0 && this.bp.plugins.has(prefix)) {
        workflow.plugin = prefix;
        workflow.function = mapping.slice(dot + 1);
      } else {
        this.diagnostics.add(
          'unknown-plugin',
          mappingAt ?? entry.at,
          path,
          `workflow mapping '${mapping}' names no declared plugin '${prefix}'${this.loaded.unresolvedPlugins.length ? this.pluginHint() : didYouMean(prefix, this.bp.plugins.keys())}`,
        );
      }
      this.bp.workflows.set(entry.name, workflow);
    }
  }

  /**
   * A Loom service (a node of an automator type) is on a machine: Coopr places every service on a
   * cluster node, whose BOOTSTRAP, provider results (ssh-auth, ipaddress) and earlier tasks'
   * results its tasks get. One contained in no Compute has none of them, so it is refused.
   */
  checkLoomServicesHosted(): void {
    for (const template of this.bp.nodeTemplates.values()) {
      if (!template.interfaces.get(LOOM_AUTOMATOR_INTERFACE)?.has('bootstrap')) continue;
      const seen = new Set<string>();
      let current: NodeTemplate | undefined = template;
      while (current && !current.hierarchy.includes(COMPUTE) && !seen.has(current.name)) {
        seen.add(current.name);
        const host: string | undefined = current.relationships.find((r) =>
          r.hierarchy.includes(CONTAINED_IN),
        )?.target;
        current = host === undefined ? undefined : this.bp.nodeTemplates.get(host);
      }
      if (current?.hierarchy.includes(COMPUTE)) continue;
      this.diagnostics.add(
        'loom-service-without-host',
        template.at,
        `node_templates.${template.name}`,
        `'${template.name}' is a Loom service (${template.type}) on no machine: Coopr runs every service on a cluster node, whose BOOTSTRAP and provider results its tasks get; contain it in a host (a loom.provider node, or any ${COMPUTE}) with ${CONTAINED_IN}`,
      );
    }
  }

  /** At most one host per node, and no cycles through relationships. */
  checkTemplateGraph(): void {
    for (const template of this.bp.nodeTemplates.values()) {
      const hosts = template.relationships.filter((r) => r.hierarchy.includes(CONTAINED_IN));
      if (hosts.length > 1) {
        this.diagnostics.add(
          'multiple-hosts',
          hosts[1]!.at,
          `node_templates.${template.name}.relationships[${hosts[1]!.index}]`,
          `node '${template.name}' is contained in more than one node (${hosts.map((h) => `'${h.target}'`).join(' and ')}); a node can have only one host`,
        );
      }
    }
    this.checkLoomServicesHosted();
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const reported = new Set<string>();
    const visit = (name: string): void => {
      state.set(name, 'visiting');
      stack.push(name);
      const template = this.bp.nodeTemplates.get(name)!;
      for (const rel of template.relationships) {
        const next = state.get(rel.target);
        if (next === 'visiting') {
          const cycle = [...stack.slice(stack.indexOf(rel.target)), rel.target];
          const key = [...cycle].sort().join(',');
          if (!reported.has(key)) {
            reported.add(key);
            this.diagnostics.add(
              'relationship-cycle',
              rel.at,
              `node_templates.${name}.relationships[${rel.index}]`,
              `relationship cycle: ${cycle.join(' -> ')}`,
            );
          }
        } else if (next === undefined && this.bp.nodeTemplates.has(rel.target)) visit(rel.target);
      }
      stack.pop();
      state.set(name, 'done');
    };
    for (const name of this.bp.nodeTemplates.keys()) if (!state.has(name)) visit(name);
  }
}

export function checkCounts(
  counts: InstanceCounts,
  path: string,
  at: Loc | undefined,
  diagnostics: Diagnostics,
): void {
  const { default: def, min, max } = counts;
  if (typeof def !== 'number' || typeof min !== 'number' || typeof max !== 'number') return;
  if (def < min)
    diagnostics.add('bad-value', at, path, `default_instances (${def}) is less than min_instances (${min})`);
  if (max !== -1 && def > max)
    diagnostics.add(
      'bad-value',
      at,
      path,
      `default_instances (${def}) is greater than max_instances (${max})`,
    );
  if (max !== -1 && min > max)
    diagnostics.add('bad-value', at, path, `min_instances (${min}) is greater than max_instances (${max})`);
}

/**
 * The properties a HOT template's translation gives every resource's node besides the ones its
 * type declares: the resource's deletion_policy and the actions the environment restricts, which
 * a plugin's Resource class reads from its node (the SDK reserves their names). The node type of
 * a plugin's Heat type is the plugin's own and does not declare them.
 */
const HEAT_POLICIES = [DELETION_POLICY_PROPERTY, RESTRICTED_ACTIONS_PROPERTY];

function heatPolicies(values: ValueMap, declared: Schema): ValueMap {
  const policies: ValueMap = {};
  for (const name of HEAT_POLICIES)
    if (Object.hasOwn(values, name) && !declared.has(name)) policies[name] = values[name]!;
  return policies;
}

function withoutHeatPolicies(values: ValueMap, declared: Schema): ValueMap {
  if (!HEAT_POLICIES.some((name) => Object.hasOwn(values, name) && !declared.has(name))) return values;
  const rest: ValueMap = {};
  for (const [name, value] of Object.entries(values))
    if (!HEAT_POLICIES.includes(name) || declared.has(name)) rest[name] = value;
  return rest;
}

/**
 * Reads a blueprint and everything it imports into a validated model; every problem is collected.
 * `mainDocument` is the main file as another front end (HOT) read it, with its problems so far.
 */
export function parseBlueprint(
  mainFile: string,
  reader: BlueprintReader,
  mainDocument?: ValueMap,
  diagnostics = new Diagnostics(),
): ParseResult {
  const loaded = loadImports(mainFile, reader, diagnostics, mainDocument);
  if (!loaded) return { problems: diagnostics };
  const blueprint = new Builder(loaded, reader, diagnostics, mainDocument !== undefined).build();
  const locate = pathLocator(loaded);
  diagnostics.placeUnplaced(locate);
  return { blueprint, problems: diagnostics, locate };
}

/**
 * Where a dotted problem path (`node_templates.web.interfaces.cloudify.interfaces.lifecycle.create`)
 * leads: the deepest value along it that has a place, in the file that defines it.
 */
function pathLocator(loaded: LoadedBlueprint): (path: string) => Loc | undefined {
  return (path) => {
    const steps = [...path.matchAll(/\[(\d+)\]|[^.[\]]+/g)].map((m) =>
      m[1] !== undefined ? Number(m[1]) : m[0],
    );
    const [section, name] = steps;
    const entry =
      typeof section === 'string' && typeof name === 'string'
        ? loaded.sections.get(section as SectionName)?.get(name)
        : undefined;
    let best = entry ? (entry.at ?? entry.keyAt) : undefined;
    let container: unknown = entry ? entry.value : loaded.mainDocument;
    let i = entry ? 2 : 0;
    while (i < steps.length && container !== null && typeof container === 'object') {
      let next = -1;
      // A key may hold dots itself (an interface or operation name): the longest one that exists.
      for (let j = steps.length; j > i && next < 0; j--) {
        const part = steps.slice(i, j);
        const key =
          part.length === 1
            ? part[0]!
            : part.every((s) => typeof s === 'string')
              ? part.join('.')
              : undefined;
        if (key !== undefined && Object.hasOwn(container, key)) next = j;
      }
      if (next < 0) break;
      const key = next === i + 1 ? steps[i]! : steps.slice(i, next).join('.');
      best = locOf(container, key) ?? best;
      container = (container as Record<string, unknown>)[key];
      i = next;
    }
    return best;
  };
}

export { checkValue };
