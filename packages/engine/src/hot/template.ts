/**
 * The HOT front end: a Heat template (heat_template_version), its environments and parameter
 * values, turned into the same main document the Cloudify DSL reads (node types, node templates,
 * relationships, inputs, outputs), so that the rest of the engine (validation of properties
 * against the resource classes' schemas, planning, install, update, rollback, uninstall) runs on
 * it unchanged. Every value keeps the position it had in its template, so a problem found later
 * points into the template.
 *
 * What parameters, conditions and files decide is evaluated here; get_resource and get_attr
 * become run-time expressions (functions.ts) and `cloudify.relationships.depends_on`
 * relationships, as Heat derives a resource's dependencies from them. ResourceGroup,
 * ResourceChain and nested stacks (a template file as a type, OS::Heat::Stack) are expanded into
 * their members, named `PARENT.MEMBER`; the parent stays as a node that depends on them.
 */
import { dirname, relative, resolve } from 'node:path';
import { setOwn } from '@weft/sdk/keys';
import { Diagnostics, didYouMean, shown } from '../dsl/diagnostics.js';
import type { BlueprintReader } from '../dsl/reader.js';
import {
  decodeSource,
  isMapping,
  keyLocOf,
  locOf,
  parseYaml,
  setLoc,
  type Value,
  type ValueMap,
} from '../dsl/yaml-source.js';
import {
  type Environment,
  emptyEnvironment,
  isTemplateFile,
  type RegistryTarget,
  readEnvironments,
  resolveType,
  restrictedActionsOf,
  userEnvironment,
} from './environment.js';
import {
  followPath,
  HotEvaluator,
  HotFunctionError,
  type HotScope,
  holdsRuntime,
  isRuntime,
  type Place,
  RUNTIME_KEY,
} from './functions.js';
import {
  checkConstraints,
  type HotParameter,
  PROJECT_ID,
  parseParameters,
  readParameterValue,
} from './parameters.js';
import { BUILTIN_PLUGINS, BUILTIN_TYPES, HOT_IMPORTS, knownTypes, NESTED_STACK } from './types.js';
import {
  HOT_VERSIONS,
  type HotVersion,
  hotVersion,
  OUTPUT_KEY_SINCE,
  RELEASE_NAMES,
  RESOURCE_KEY_SINCE,
  rank,
  SECTION_SINCE,
  since,
} from './versions.js';

export const VERSION_KEY = 'heat_template_version';

/** Whether a file's text is a HOT template (its version key at the top level). */
export function isHotText(text: string): boolean {
  return /^heat_template_version\s*:/m.test(text);
}

export interface HotLoadOptions {
  reader: BlueprintReader;
  /** The stack's name (the deployment id): OS::stack_name and OS::stack_id. */
  stackName: string;
  /** Parameter values given (-p / -i), as read from the command line. */
  parameters?: ValueMap;
  /** Environment files, merged in this order. */
  environments?: string[];
  /** Only checking the template: a parameter without a value gets a stand-in of its type. */
  checkOnly?: boolean;
}

export interface HotLoadResult {
  /** The main document for the Cloudify reader; undefined when the template cannot be read at all. */
  document?: ValueMap;
  /** Every parameter's value (the deployment's inputs). */
  inputs: ValueMap;
  /** Parameters declared hidden (masked wherever they are shown). */
  hidden: string[];
  /** Parameters declared immutable (an update may not change them). */
  immutable: string[];
  /** The template's version, kept with each run-time expression. */
  version?: HotVersion;
  /** Files read besides the main template (nested templates, get_file, environments). */
  files: string[];
  /** The environment as given (userEnvironment), kept with the stack. */
  environment?: Record<string, unknown>;
  /** Each template resource's template file, by node, from the main template's directory. */
  nestedTemplates: Record<string, string>;
  /** The type each resource has in its template, by node, where its node's type is another. */
  heatTypes: Record<string, string>;
  /**
   * Only checking: the properties of each node whose values read a parameter given no value (a
   * stand-in of its type): what the properties' own checks say of them says nothing.
   */
  standInProperties: Record<string, string[]>;
}

/** Where a problem is: the place's position in its template. */
function placeAt(place: Place | undefined): ReturnType<typeof locOf> {
  if (!place) return undefined;
  return place.key === undefined ? locOf(place.container) : locOf(place.container, place.key);
}

const DELETION_POLICIES = ['Delete', 'Retain', 'Snapshot'];
const STANDIN: Record<string, Value> = {
  string: '',
  number: 0,
  json: {},
  comma_delimited_list: [],
  boolean: false,
};

/** The node type a group, chain, nested stack or template resource is shown as. */
const PARENT_BASE = 'weft.nodes.NestedStack';
/** A ResourceGroup's node type: a parent that can pause between the batches of a rolling update. */
const GROUP_BASE = 'weft.nodes.ResourceGroup';

type PolicyRules = Record<string, { default: number; min: number; integer: boolean }>;
/** Heat's ResourceGroup update policies (rolling_update, batch_create): keys, defaults, least values. */
const GROUP_POLICIES: Record<string, PolicyRules> = {
  rolling_update: {
    min_in_service: { default: 0, min: 0, integer: true },
    max_batch_size: { default: 1, min: 1, integer: true },
    pause_time: { default: 0, min: 0, integer: false },
  },
  batch_create: {
    max_batch_size: { default: 1, min: 1, integer: true },
    pause_time: { default: 0, min: 0, integer: false },
  },
};

/**
 * How many spare members a ResourceGroup has: members past its count, of its definition, of which
 * no instance is made but by a rolling update that keeps min_in_service members in service (the
 * temporary members Heat's ResourceGroup._assemble_for_rolling_update adds past the count, removed
 * by the update's last batch). A batch's capacity (heat/scaling/rolling_update.py next_batch) is
 * at most the count plus the least of max_batch_size, min_in_service and the count.
 */
function spareMembers(count: number, policies: ValueMap | undefined): number {
  const rolling = policies?.rolling_update as Record<string, number> | undefined;
  if (!rolling) return 0;
  return Math.min(rolling.max_batch_size ?? 1, rolling.min_in_service ?? 0, count);
}

/**
 * Workflows a stack has besides the built-in ones: Heat's stack check (`weft exec check`), the
 * check_status workflow over the created resources in their dependency order, a failed check
 * failing the stack's CHECK.
 */
const STACK_WORKFLOWS: ValueMap = {
  check: {
    mapping: 'default_workflows.cloudify.plugins.workflows.check_status',
    parameters: {
      run_by_dependency_order: { default: true },
      heat_stack_check: {
        default: true,
        description:
          "Heat's stack check: every created resource is checked (not only started ones) and a failed check fails the check",
      },
    },
  },
};

/** What a resource turned into: the nodes it is, for references to it. */
interface Built {
  /** The node that stands for the resource (its id, its dependencies). */
  node: string;
  kind: 'plain' | 'group' | 'stack';
  /** The Heat type a plain resource runs as. */
  type?: string;
  /** Group members in order (ResourceGroup, ResourceChain): their Built. */
  members?: { name: string; built: Built }[];
  /** A nested stack's outputs, evaluated in it. */
  outputs?: Map<string, Value>;
  /** A nested stack's resources (get_attr's `resource.NAME`). */
  resources?: ReadonlyMap<string, Built>;
}

interface Shared {
  reader: BlueprintReader;
  diagnostics: Diagnostics;
  env: Environment;
  stackName: string;
  checkOnly: boolean;
  nodeTemplates: ValueMap;
  nodeTypes: ValueMap;
  files: Set<string>;
  /** Each template resource's template file, by node. */
  nestedTemplates: Record<string, string>;
  /** The type each resource has in its template, by node, where its node's type is another. */
  heatTypes: Record<string, string>;
  /** Only checking: the properties of each node whose values read a parameter's stand-in. */
  standInProperties: Record<string, string[]>;
  /** The main template's directory: files are read from under it only. */
  baseDir: string;
  /** Installed plugins' node types by name, to the plugin that declares each (read when first needed). */
  pluginTypes?: Map<string, string>;
  /** Plugins the document imports for their types. */
  imports: Set<string>;
  depth: number;
  /** Registry entries this stack's environment does not have (see resolveType). */
  removed: ReadonlySet<RegistryTarget>;
}

interface Facade {
  metadata: Value;
  deletion_policy: Value;
  update_policy: Value;
}

/** One template being turned into nodes: the top-level stack, or a nested one. */
class Stack {
  readonly version: HotVersion;
  readonly parameters = new Map<string, HotParameter>();
  readonly values = new Map<string, Value>();
  /** Only checking: the parameters given no value, which hold a stand-in of their type. */
  private readonly standIns = new Set<string>();
  /** How many times a stand-in was read (evaluateEach tells which values read one). */
  private standInReads = 0;

  /** Keys of a resource or output the template's version does not have (or Heat never had). */
  private checkKeys(
    def: Record<string, unknown>,
    path: string,
    table: Record<string, HotVersion>,
    what: string,
  ): void {
    for (const key of Object.keys(def))
      if (!since(table, key, this.version))
        this.diagnostics.add(
          'unknown-key',
          keyLocOf(def, key),
          `${path}.${key}`,
          table[key]
            ? `'${key}' needs heat_template_version ${table[key]} or later (this template is ${this.version})`
            : `unknown ${what} key${didYouMean(key, Object.keys(table))}`,
        );
  }
  private readonly conditionDefs: ValueMap = {};
  private readonly conditionValues = new Map<string, boolean | 'busy'>();
  private readonly resources: ValueMap = {};
  private readonly enabled = new Set<string>();
  /** Its resources as they were built (a nested stack's parent reads them: get_attr resource.NAME). */
  readonly built = new Map<string, Built>();
  /** Resource names a value being evaluated refers to (its implicit dependencies). */
  private refs = new Set<string>();
  readonly outputs = new Map<string, Value>();
  private readonly evaluator: HotEvaluator;

  constructor(
    private readonly shared: Shared,
    private readonly doc: ValueMap,
    private readonly file: string,
    private readonly prefix: string,
    version: HotVersion,
    private readonly facade: Facade | undefined,
  ) {
    this.version = version;
    const scope: HotScope = {
      version,
      param: (name) => this.param(name),
      resource: (name) => this.resourceRef(name),
      attr: (name, attribute, path) => this.attrRef(name, attribute, path),
      condition: (name) => this.condition(name),
      file: (path) => this.readFile(path),
      facade: (kind) => {
        if (!this.facade)
          throw new HotFunctionError(
            'resource_facade can only be used in a template used as a resource type',
          );
        return this.facade[kind as keyof Facade];
      },
    };
    this.evaluator = new HotEvaluator(scope);
  }

  private get diagnostics(): Diagnostics {
    return this.shared.diagnostics;
  }

  private report(error: unknown, fallback: Place): void {
    if (!(error instanceof HotFunctionError)) throw error;
    const place = error.place ?? fallback;
    this.diagnostics.add('bad-function', placeAt(place) ?? placeAt(fallback), place.path, error.message);
  }

  /** Evaluates a value, reporting a problem (and giving null) when it cannot be. */
  private evaluate(value: Value, place: Place): Value | undefined {
    try {
      return this.evaluator.value(value, place);
    } catch (error) {
      this.report(error, place);
      return undefined;
    }
  }

  /**
   * Evaluates each entry of a mapping on its own, so that one bad entry is reported and the
   * others are still checked; a bad one is left as an expression nothing checks again.
   */
  /** Evaluates each entry of a map; the keys whose values read a parameter's stand-in go in `standIn`. */
  private evaluateEach(map: ValueMap, place: Place, standIn?: Set<string>): ValueMap {
    const out: ValueMap = {};
    for (const key of Object.keys(map)) {
      const at = { path: `${place.path}.${key}`, container: map, key };
      const reads = this.standInReads;
      try {
        const value = this.evaluator.entry(map[key]!, at);
        if (value !== undefined) setOwn(out, key, value);
      } catch (error) {
        this.report(error, at);
        setOwn(out, key, { [RUNTIME_KEY]: null });
      }
      if (this.standInReads !== reads) standIn?.add(key);
    }
    return out;
  }

  checkSections(): void {
    for (const key of Object.keys(this.doc)) {
      if (since(SECTION_SINCE, key, this.version)) continue;
      this.diagnostics.add(
        'unknown-key',
        keyLocOf(this.doc, key),
        key,
        SECTION_SINCE[key]
          ? `'${key}' needs heat_template_version ${SECTION_SINCE[key]} or later (this template is ${this.version})`
          : `unknown section${didYouMean(key, Object.keys(SECTION_SINCE))}; the sections are ${Object.keys(
              SECTION_SINCE,
            )
              .filter((s) => since(SECTION_SINCE, s, this.version))
              .join(', ')}`,
      );
    }
    const description = this.doc.description;
    if (description !== undefined && description !== null && typeof description !== 'string')
      this.diagnostics.add(
        'type-mismatch',
        locOf(this.doc, 'description'),
        'description',
        'expected a string',
      );
  }

  /** Reads parameters and binds their values: given, then the environment's, then defaults. */
  bindParameters(given: ValueMap, givenPlace: string, useEnvironment: boolean): void {
    for (const [name, param] of parseParameters(this.doc.parameters, this.version, this.diagnostics))
      this.parameters.set(name, param);
    this.checkGroups();
    const env = this.shared.env;
    for (const name of Object.keys(given))
      if (!this.parameters.has(name))
        this.diagnostics.add(
          'unknown-parameter',
          keyLocOf(given, name),
          `${givenPlace}.${name}`,
          `the template has no parameter '${name}'${didYouMean(name, this.parameters.keys())}`,
        );
    if (useEnvironment)
      for (const name of Object.keys(env.parameters))
        if (!this.parameters.has(name) && !Object.hasOwn(given, name))
          this.diagnostics.add(
            'unknown-parameter',
            env.places.get(`parameters.${name}`),
            `parameters.${name}`,
            `the environment sets parameter '${name}', which the template does not declare${didYouMean(name, this.parameters.keys())}`,
          );
    for (const param of this.parameters.values()) {
      const path = `parameters.${param.name}`;
      let raw: Value | undefined;
      let at = param.at;
      if (Object.hasOwn(given, param.name)) {
        raw = given[param.name];
        at = locOf(given, param.name) ?? at;
      } else if (useEnvironment && Object.hasOwn(env.parameters, param.name)) {
        raw = env.parameters[param.name];
        at = env.places.get(`parameters.${param.name}`) ?? at;
      } else if (Object.hasOwn(env.parameterDefaults, param.name)) {
        raw = env.parameterDefaults[param.name];
        at = env.places.get(`parameter_defaults.${param.name}`) ?? at;
      }
      if (raw === undefined || raw === null) {
        if (param.default !== undefined) {
          this.values.set(param.name, param.default);
          continue;
        }
        if (this.shared.checkOnly) {
          this.values.set(param.name, STANDIN[param.type]!);
          this.standIns.add(param.name);
          continue;
        }
        this.diagnostics.add(
          'missing-parameter',
          param.at,
          path,
          `the parameter '${param.name}' was not provided (pass it with -p ${param.name}=VALUE or in an environment's parameters)`,
        );
        this.values.set(param.name, STANDIN[param.type]!);
        continue;
      }
      // A value from the parent stack that only exists at run time is taken as it is.
      if (holdsRuntime(raw)) {
        this.values.set(param.name, raw);
        continue;
      }
      const read = readParameterValue(param, raw);
      if ('problem' in read) {
        this.diagnostics.add('bad-parameter', at, path, `parameter '${param.name}': ${read.problem}`);
        this.values.set(param.name, STANDIN[param.type]!);
        continue;
      }
      const failed = checkConstraints(param, read.value);
      if (failed)
        this.diagnostics.add(
          'bad-parameter',
          at,
          path,
          // A hidden parameter's value is shown nowhere, not even in what is wrong with it.
          `parameter '${param.name}': ${param.hidden ? 'the value given does not satisfy its constraints' : failed}`,
        );
      this.values.set(param.name, read.value);
    }
  }

  private checkGroups(): void {
    const groups = this.doc.parameter_groups;
    if (groups === undefined || groups === null) return;
    if (!Array.isArray(groups)) {
      this.diagnostics.add(
        'type-mismatch',
        locOf(this.doc, 'parameter_groups'),
        'parameter_groups',
        'expected a list of groups',
      );
      return;
    }
    const grouped = new Set<string>();
    groups.forEach((group, i) => {
      const path = `parameter_groups[${i}]`;
      if (!isMapping(group)) {
        this.diagnostics.add(
          'type-mismatch',
          locOf(groups, i),
          path,
          'expected a mapping (label, description, parameters)',
        );
        return;
      }
      for (const key of Object.keys(group))
        if (!['label', 'description', 'parameters'].includes(key))
          this.diagnostics.add(
            'unknown-key',
            keyLocOf(group, key),
            `${path}.${key}`,
            'unknown key; expected label, description, parameters',
          );
      const names = group.parameters;
      if (!Array.isArray(names)) {
        this.diagnostics.add(
          'type-mismatch',
          locOf(group, 'parameters') ?? locOf(groups, i),
          `${path}.parameters`,
          'expected a list of parameter names',
        );
        return;
      }
      names.forEach((name, j) => {
        const at = locOf(names, j);
        if (typeof name !== 'string' || !this.parameters.has(name))
          this.diagnostics.add(
            'unknown-parameter',
            at,
            `${path}.parameters[${j}]`,
            `the parameter ${named(name)} is not defined in the template${typeof name === 'string' ? didYouMean(name, this.parameters.keys()) : ''}`,
          );
        else if (grouped.has(name))
          this.diagnostics.add(
            'bad-value',
            at,
            `${path}.parameters[${j}]`,
            `the parameter '${name}' is in more than one group`,
          );
        else grouped.add(name);
      });
    });
  }

  private param(name: string): Value | undefined {
    if (this.standIns.has(name)) this.standInReads++;
    if (name === 'OS::stack_name' || name === 'OS::stack_id')
      return this.prefix ? `${this.shared.stackName}.${this.prefix.slice(0, -1)}` : this.shared.stackName;
    if (name === 'OS::project_id') return PROJECT_ID;
    return this.values.get(name);
  }

  readConditions(): void {
    const section = this.doc.conditions;
    if (section === undefined || section === null) return;
    if (!isMapping(section)) {
      this.diagnostics.add(
        'type-mismatch',
        locOf(this.doc, 'conditions'),
        'conditions',
        'expected a mapping of condition names to conditions',
      );
      return;
    }
    Object.assign(this.conditionDefs, section);
    setLoc(this.conditionDefs, section);
    for (const name of Object.keys(section)) {
      try {
        this.condition(name);
      } catch (error) {
        this.report(error, { path: `conditions.${name}`, container: section, key: name });
        this.conditionValues.set(name, false);
      }
    }
  }

  private condition(name: string): boolean {
    const known = this.conditionValues.get(name);
    if (known === 'busy') throw new HotFunctionError(`the condition '${name}' refers to itself (a cycle)`);
    if (known !== undefined) return known;
    if (!Object.hasOwn(this.conditionDefs, name))
      throw new HotFunctionError(
        `unknown condition '${name}'${didYouMean(name, Object.keys(this.conditionDefs))}`,
      );
    this.conditionValues.set(name, 'busy');
    try {
      const value = this.evaluator.condition(this.conditionDefs[name]!, {
        path: `conditions.${name}`,
        container: this.conditionDefs,
        key: name,
      });
      this.conditionValues.set(name, value);
      return value;
    } catch (error) {
      this.conditionValues.delete(name);
      throw error;
    }
  }

  /**
   * Whether a file a template names (get_file, a template file as a type) lies outside the
   * directory of the template the stack was made from: a template names files beside it, never one
   * elsewhere on the machine that reads it (a server reading an uploaded template).
   */
  private outsideBase(file: string): boolean {
    return relative(this.shared.baseDir, file).startsWith('..');
  }

  private readFile(path: string): string {
    const base = dirname(this.file);
    const full = resolve(base, path.replace(/^file:\/\//, ''));
    if (/^[a-z]+:\/\//i.test(path) && !path.startsWith('file://'))
      throw new HotFunctionError(`get_file: URLs are not fetched, only files next to the template (${path})`);
    if (this.outsideBase(full))
      throw new HotFunctionError(`get_file: '${path}' is outside the template's directory`);
    let bytes: Uint8Array;
    try {
      bytes = this.shared.reader.read(full);
    } catch {
      throw new HotFunctionError(`get_file: cannot read '${path}' (file not found)`);
    }
    this.shared.files.add(full);
    return new TextDecoder().decode(bytes);
  }

  private nodeName(resource: string): string {
    return `${this.prefix}${resource}`;
  }

  private resourceRef(name: string): Value {
    if (!Object.hasOwn(this.resources, name))
      throw new HotFunctionError(
        `get_resource: the template has no resource '${name}'${didYouMean(name, Object.keys(this.resources))}`,
      );
    if (!this.enabled.has(name)) return null;
    this.refs.add(name);
    return referenceOf(
      this.built.get(name) ?? { node: this.nodeName(name), kind: 'plain' },
      this.shared.stackName,
    );
  }

  private attrRef(name: string, attribute: string | undefined, path: Value[]): Value {
    if (!Object.hasOwn(this.resources, name))
      throw new HotFunctionError(
        `get_attr: the template has no resource '${name}'${didYouMean(name, Object.keys(this.resources))}`,
      );
    if (!this.enabled.has(name)) return null;
    this.refs.add(name);
    // Not built yet only within a dependency cycle, which is reported on its own.
    const built = this.built.get(name) ?? { node: this.nodeName(name), kind: 'plain' };
    return attributeOf(built, attribute, path, this.shared.stackName);
  }

  /** Reads resources: their conditions first, then each resource in dependency order. */
  readResources(): void {
    const section = this.doc.resources;
    if (section === undefined || section === null) return;
    if (!isMapping(section)) {
      this.diagnostics.add(
        'type-mismatch',
        locOf(this.doc, 'resources'),
        'resources',
        'expected a mapping of resource names to resources',
      );
      return;
    }
    Object.assign(this.resources, section);
    for (const [name, def] of Object.entries(section)) {
      const path = `resources.${name}`;
      if (!isMapping(def)) {
        this.diagnostics.add(
          'type-mismatch',
          locOf(section, name),
          path,
          'expected a mapping (type, properties, ...)',
        );
        continue;
      }
      this.checkKeys(def, path, RESOURCE_KEY_SINCE, 'resource');
      let on = true;
      if (def.condition !== undefined && since(RESOURCE_KEY_SINCE, 'condition', this.version)) {
        try {
          on = this.evaluator.condition(def.condition, {
            path: `${path}.condition`,
            container: def,
            key: 'condition',
          });
        } catch (error) {
          this.report(error, { path: `${path}.condition`, container: def, key: 'condition' });
        }
      }
      if (on) this.enabled.add(name);
    }
    // Resources are built after the ones they refer to, so that get_attr of a group or a nested
    // stack can be expanded; a cycle is reported and broken.
    const order = this.order(section);
    for (const name of order) this.buildResource(name, section[name] as ValueMap, section);
  }

  /** The enabled resources in an order where each comes after those it names (depends_on, get_resource, get_attr). */
  private order(section: ValueMap): string[] {
    const names = [...this.enabled].filter((n) => isMapping(section[n]));
    const deps = new Map<string, string[]>();
    for (const name of names)
      deps.set(
        name,
        [...referencedResources(section[name]!)].filter((d) => d !== name && this.enabled.has(d)),
      );
    const out: string[] = [];
    const state = new Map<string, 'busy' | 'done'>();
    const visit = (name: string, trail: string[]) => {
      const s = state.get(name);
      if (s === 'done') return;
      if (s === 'busy') {
        const cycle = [...trail.slice(trail.indexOf(name)), name];
        this.diagnostics.add(
          'dependency-cycle',
          locOf(section, name),
          `resources.${name}`,
          `circular dependency: ${cycle.join(' -> ')}`,
        );
        return;
      }
      state.set(name, 'busy');
      for (const dep of deps.get(name) ?? []) if (Object.hasOwn(section, dep)) visit(dep, [...trail, name]);
      state.set(name, 'done');
      out.push(name);
    };
    for (const name of names) visit(name, []);
    return out;
  }

  private buildResource(name: string, def: ValueMap, section: ValueMap): void {
    const path = `resources.${name}`;
    const place = (key: string): Place => ({ path: `${path}.${key}`, container: def, key });
    const rawType = def.type;
    if (typeof rawType !== 'string') {
      this.diagnostics.add(
        rawType === undefined ? 'missing-key' : 'type-mismatch',
        rawType === undefined ? locOf(section, name) : locOf(def, 'type'),
        `${path}.type`,
        rawType === undefined ? 'missing type' : 'the type must be a string',
      );
      return;
    }
    this.refs = new Set();
    let properties: Value = {};
    const standIn = new Set<string>();
    if (def.properties !== undefined && def.properties !== null) {
      if (!isMapping(def.properties))
        this.diagnostics.add(
          'type-mismatch',
          locOf(def, 'properties'),
          `${path}.properties`,
          'expected a mapping',
        );
      else properties = this.evaluateEach(def.properties, place('properties'), standIn);
    }
    let metadata: Value = null;
    if (def.metadata !== undefined && def.metadata !== null) {
      if (!isMapping(def.metadata))
        this.diagnostics.add(
          'type-mismatch',
          locOf(def, 'metadata'),
          `${path}.metadata`,
          'expected a mapping',
        );
      else metadata = this.evaluate(def.metadata, place('metadata')) ?? null;
    }
    const depends = this.dependsOn(def, path, section);
    for (const ref of this.refs) depends.add(ref);
    depends.delete(name);
    const deletionPolicy = this.deletionPolicy(def, path);
    const updatePolicy = def.update_policy;
    if (updatePolicy !== undefined && updatePolicy !== null && !isMapping(updatePolicy))
      this.diagnostics.add(
        'type-mismatch',
        locOf(def, 'update_policy'),
        `${path}.update_policy`,
        'expected a mapping',
      );
    if (def.external_id !== undefined)
      this.diagnostics.add(
        'unsupported',
        keyLocOf(def, 'external_id'),
        `${path}.external_id`,
        'external_id (adopting a resource Weft did not create) is not supported',
      );
    // A resource that could not be made (its problem is reported) is no dependency.
    const dependencies = [...depends].flatMap((d) => {
      const node = this.built.get(d)?.node;
      return node ? [node] : [];
    });
    if (standIn.size > 0) setOwn(this.shared.standInProperties, this.nodeName(name), [...standIn]);
    const built = this.makeResource(this.nodeName(name), rawType, name, {
      def,
      path,
      properties: isMapping(properties) ? properties : {},
      propertiesFrom: isMapping(def.properties) ? def.properties : undefined,
      metadata,
      deletionPolicy,
      updatePolicy: isMapping(updatePolicy) ? updatePolicy : null,
      dependencies,
      typeAt: locOf(def, 'type'),
    });
    if (built) this.built.set(name, built);
  }

  private dependsOn(def: ValueMap, path: string, section: ValueMap): Set<string> {
    const out = new Set<string>();
    const raw = def.depends_on;
    if (raw === undefined || raw === null) return out;
    const list = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(list)) {
      this.diagnostics.add(
        'type-mismatch',
        locOf(def, 'depends_on'),
        `${path}.depends_on`,
        'expected a resource name or a list of them',
      );
      return out;
    }
    list.forEach((dep, i) => {
      const at = typeof raw === 'string' ? locOf(def, 'depends_on') : locOf(list, i);
      if (typeof dep !== 'string' || !Object.hasOwn(section, dep))
        this.diagnostics.add(
          'unknown-resource',
          at,
          `${path}.depends_on${typeof raw === 'string' ? '' : `[${i}]`}`,
          `the template has no resource ${named(dep)}${typeof dep === 'string' ? didYouMean(dep, Object.keys(section)) : ''}`,
        );
      else if (this.enabled.has(dep)) out.add(dep);
    });
    return out;
  }

  private deletionPolicy(def: ValueMap, path: string): string | undefined {
    const raw = def.deletion_policy;
    if (raw === undefined || raw === null) return undefined;
    const lowerOk = rank(this.version) >= rank('2016-10-14');
    const allowed = lowerOk
      ? [...DELETION_POLICIES, ...DELETION_POLICIES.map((p) => p.toLowerCase())]
      : DELETION_POLICIES;
    const value = this.evaluate(raw, {
      path: `${path}.deletion_policy`,
      container: def,
      key: 'deletion_policy',
    });
    if (typeof value !== 'string' || !allowed.includes(value)) {
      this.diagnostics.add(
        'bad-value',
        locOf(def, 'deletion_policy'),
        `${path}.deletion_policy`,
        `invalid deletion policy ${named(value ?? null)}; one of ${allowed.join(', ')}`,
      );
      return undefined;
    }
    return value[0]!.toUpperCase() + value.slice(1);
  }

  /**
   * Makes the nodes of a resource of a type, and keeps the type as the template gives it where
   * its node's type is another (a template file, an alias of the environment's registry): the
   * type Heat shows for it (heat/engine/resource.py Resource.type() is its definition's type).
   */
  private makeResource(node: string, type: string, resource: string, spec: ResourceSpec): Built | undefined {
    const built = this.makeResourceOfType(node, type, resource, spec);
    const made = this.shared.nodeTemplates[node] as ValueMap | undefined;
    if (built && made && made.type !== type) setOwn(this.shared.heatTypes, node, type);
    return built;
  }

  /**
   * Makes the nodes of a resource of a type: a built-in one, a group, a nested stack, or one
   * the environment's registry maps to another type or a template file.
   */
  private makeResourceOfType(
    node: string,
    type: string,
    resource: string,
    spec: ResourceSpec,
  ): Built | undefined {
    const target = resolveType(this.shared.env, resource, type, this.shared.removed);
    if (target?.template !== undefined) {
      this.checkFacade(type, resource, target, spec);
      return this.nestedStack(node, target.template, spec, target.at, target);
    }
    const resolved = target?.type ?? type;
    if (isTemplateFile(resolved)) {
      if (/^[a-z]+:\/\//i.test(resolved) && !resolved.startsWith('file://')) {
        this.diagnostics.add(
          'bad-value',
          spec.typeAt,
          `${spec.path}.type`,
          `template URLs are not fetched: use a local file (${resolved})`,
        );
        return undefined;
      }
      const file = resolve(dirname(this.file), resolved.replace(/^file:\/\//, ''));
      if (this.outsideBase(file)) {
        this.diagnostics.add(
          'bad-value',
          spec.typeAt,
          `${spec.path}.type`,
          `template '${resolved}' is outside the template's directory`,
        );
        return undefined;
      }
      return this.nestedStack(node, file, spec, spec.typeAt);
    }
    if (resolved === 'OS::Heat::ResourceGroup') return this.resourceGroup(node, spec);
    if (resolved === 'OS::Heat::ResourceChain') return this.resourceChain(node, spec);
    if (resolved === 'OS::Heat::Stack') return this.stackResource(node, spec);
    const base = BUILTIN_TYPES[resolved];
    const plugin = base ? undefined : this.pluginOf(resolved);
    if (plugin) {
      // A plugin's Resource class under its Heat type name: the plugin's node type itself.
      this.shared.imports.add(`plugin:${plugin}`);
      this.addNode(node, resolved, this.withPolicies(withoutNulls(spec.properties), resource, spec), spec);
      return { node, kind: 'plain', type: resolved };
    }
    if (!base) {
      this.diagnostics.add(
        'unknown-type',
        spec.typeAt,
        `${spec.path}.type`,
        `unknown resource type '${resolved}' (the types here are ${knownTypes().join(', ')}, a template file (name.yaml), a plugin's type, or a type an environment's resource_registry maps to one of these with -e env.yaml)${didYouMean(resolved, knownTypes())}`,
      );
      return undefined;
    }
    if (BUILTIN_PLUGINS[resolved]) this.shared.imports.add(`plugin:${BUILTIN_PLUGINS[resolved]}`);
    this.declareType(resolved, base);
    const properties = resolved === 'OS::Heat::None' ? {} : withoutNulls(spec.properties);
    this.addNode(node, resolved, this.withPolicies(properties, resource, spec), spec);
    return { node, kind: 'plain', type: resolved };
  }

  /**
   * A resource's properties with what its Resource class reads besides them (a built-in's or a
   * plugin's): the deletion_policy, and the actions the environment restricts (Heat's
   * restricted_actions, for the resources of the top-level stack: a nested stack's environment
   * has none of them).
   */
  private withPolicies(properties: ValueMap, resource: string, spec: ResourceSpec): ValueMap {
    if (spec.deletionPolicy) properties.deletion_policy = spec.deletionPolicy;
    const restricted = this.prefix ? [] : restrictedActionsOf(this.shared.env, resource);
    if (restricted.length > 0) properties.restricted_actions = restricted;
    return properties;
  }

  /**
   * A template standing in for a type that the environment also maps to another template (its
   * facade: the global entry under a resource's own one) must take what the facade takes and
   * give what it gives (Heat's TemplateResource._validate_against_facade): the facade's required
   * properties (parameters without a default) with the same types, no required property the
   * facade lacks, and the facade's attributes (outputs).
   */
  private checkFacade(type: string, resource: string, provider: RegistryTarget, spec: ResourceSpec): void {
    const facade = resolveType(this.shared.env, resource, type, new Set([...this.shared.removed, provider]));
    if (facade?.template === undefined || facade.template === provider.template) return;
    const read = (file: string) => {
      const doc = readTemplate(file, this.shared.reader, this.diagnostics, spec.typeAt, `${spec.path}.type`);
      const version = doc && templateVersion(doc, this.diagnostics);
      if (!doc || !version) return undefined;
      this.shared.files.add(file);
      const quiet = new Diagnostics();
      return {
        parameters: parseParameters(doc.parameters, version, quiet),
        outputs: new Set(isMapping(doc.outputs) ? Object.keys(doc.outputs) : []),
      };
    };
    const [outer, inner] = [read(facade.template), read(provider.template!)];
    if (!outer || !inner) return;
    const fail = (message: string) =>
      this.diagnostics.add('facade', spec.typeAt, `${spec.path}.type`, message);
    for (const [name, p] of outer.parameters) {
      const own = inner.parameters.get(name);
      if (p.default === undefined && !own)
        fail(`Required property ${name} for facade ${type} missing in provider`);
      else if (own && own.type !== p.type)
        fail(`Property ${name} type mismatch between facade ${type} (${p.type}) and provider (${own.type})`);
    }
    for (const [name, p] of inner.parameters)
      if (p.default === undefined && !outer.parameters.has(name))
        fail(`Provider requires property ${name} unknown in facade ${type}`);
    for (const name of outer.outputs)
      if (!inner.outputs.has(name)) fail(`Attribute ${name} for facade ${type} missing in provider`);
  }

  /** The installed plugin whose plugin.yaml declares a node type of this name. */
  private pluginOf(type: string): string | undefined {
    const { reader } = this.shared;
    if (!this.shared.pluginTypes) {
      const types = new Map<string, string>();
      for (const name of reader.pluginNames?.() ?? []) {
        let file: string | undefined;
        try {
          file = reader.resolvePlugin?.(name, undefined);
        } catch {
          continue;
        }
        if (!file) continue;
        // A plugin's own problems are reported when it is imported, not here.
        const quiet = new Diagnostics();
        const text = decodeSource(reader.read(file), file, quiet);
        const doc = text === undefined ? undefined : parseYaml(text, file, quiet);
        if (isMapping(doc) && isMapping(doc.node_types))
          for (const declared of Object.keys(doc.node_types))
            if (!types.has(declared)) types.set(declared, name);
      }
      this.shared.pluginTypes = types;
    }
    return this.shared.pluginTypes.get(type);
  }

  private declareType(name: string, base: string): void {
    if (Object.hasOwn(this.shared.nodeTypes, name)) return;
    setOwn(this.shared.nodeTypes, name, {
      derived_from: base,
      properties: {
        deletion_policy: { type: 'string', required: false },
        restricted_actions: { type: 'list', required: false },
        ...(base === GROUP_BASE
          ? {
              rolling_update: { type: 'dict', required: false },
              batch_create: { type: 'dict', required: false },
            }
          : {}),
      },
    });
  }

  private addNode(node: string, type: string, properties: ValueMap, spec: ResourceSpec): void {
    if (spec.propertiesFrom) setLoc(properties, spec.propertiesFrom);
    const template: ValueMap = {
      type,
      properties,
      relationships: spec.dependencies.map((target) => ({
        type: 'cloudify.relationships.depends_on',
        target,
      })),
    };
    setLoc(template, spec.def);
    setOwn(this.shared.nodeTemplates, node, template);
  }

  /**
   * A node that stands for a group or a stack: made once its members are, deleted before them.
   * Restricted actions reach it as a plain resource's (a top-level stack's node is named as its
   * resource): since a stack resource is updated in every stack update (StackResource's
   * _needs_update), Heat fails every update of a stack whose environment restricts `update` on one.
   */
  private addParent(
    node: string,
    type: string,
    members: string[],
    spec: ResourceSpec,
    policies?: ValueMap,
  ): void {
    this.declareType(type, type === 'OS::Heat::ResourceGroup' ? GROUP_BASE : PARENT_BASE);
    const properties = this.withPolicies({}, node, spec);
    Object.assign(properties, policies);
    this.addNode(node, type, properties, {
      ...spec,
      dependencies: [...spec.dependencies, ...members],
      propertiesFrom: undefined,
    });
  }

  private resourceGroup(node: string, spec: ResourceSpec): Built | undefined {
    const props = spec.properties;
    const known = ['count', 'resource_def', 'removal_policies', 'removal_policies_mode', 'index_var'];
    for (const key of Object.keys(props))
      if (!known.includes(key))
        this.diagnostics.add(
          'unknown-property',
          keyLocOf(spec.propertiesFrom, key) ?? spec.typeAt,
          `${spec.path}.properties.${key}`,
          `unknown property of OS::Heat::ResourceGroup${didYouMean(key, known)}`,
        );
    const count = props.count ?? 1;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
      this.diagnostics.add(
        'bad-value',
        locOf(spec.propertiesFrom, 'count') ?? spec.typeAt,
        `${spec.path}.properties.count`,
        `count must be a whole number of 0 or more, got ${shown(count)}`,
      );
      return undefined;
    }
    const def = props.resource_def;
    if (!isMapping(def) || typeof def.type !== 'string') {
      this.diagnostics.add(
        'bad-value',
        locOf(spec.propertiesFrom, 'resource_def') ?? spec.typeAt,
        `${spec.path}.properties.resource_def`,
        'resource_def must be a mapping with a type (and properties, metadata)',
      );
      return undefined;
    }
    const indexVar = typeof props.index_var === 'string' ? props.index_var : '%index%';
    // Members named in a removal policy's resource_list are skipped, and not named again.
    const removed = new Set<string>();
    const policies = props.removal_policies;
    if (Array.isArray(policies))
      for (const policy of policies) {
        const list = isMapping(policy) ? policy.resource_list : undefined;
        if (Array.isArray(list)) for (const item of list) removed.add(String(item));
      }
    const updatePolicies = this.groupPolicies(spec);
    const names: string[] = [];
    const total = count + spareMembers(count, updatePolicies);
    for (let i = 0; names.length < total; i++) if (!removed.has(String(i))) names.push(String(i));
    const members: { name: string; built: Built }[] = [];
    for (const [position, member] of names.entries()) {
      const defn = replaceIndex(def, indexVar, member) as ValueMap;
      const properties = isMapping(defn.properties) ? defn.properties : {};
      const before = new Set(Object.keys(this.shared.nodeTemplates));
      const built = this.makeResource(`${node}.${member}`, defn.type as string, `${node}.${member}`, {
        ...spec,
        path: `${spec.path}.properties.resource_def`,
        properties,
        propertiesFrom: isMapping(def.properties) ? (def.properties as ValueMap) : undefined,
        metadata: defn.metadata ?? null,
        deletionPolicy: undefined,
      });
      if (position < count) {
        if (built) members.push({ name: member, built });
        continue;
      }
      // A spare: no instance of it is made, but by an update that needs a temporary member.
      for (const made of Object.keys(this.shared.nodeTemplates))
        if (!before.has(made)) (this.shared.nodeTemplates[made] as ValueMap).instances = { deploy: 0 };
    }
    this.addParent(
      node,
      'OS::Heat::ResourceGroup',
      members.map((m) => m.built.node),
      spec,
      updatePolicies,
    );
    return { node, kind: 'group', members };
  }

  /** A ResourceGroup's update_policy (rolling_update, batch_create), their defaults filled in. */
  private groupPolicies(spec: ResourceSpec): ValueMap | undefined {
    const policy = spec.updatePolicy;
    if (!policy) return undefined;
    const path = `${spec.path}.update_policy`;
    const out: ValueMap = {};
    for (const key of Object.keys(policy))
      if (!Object.hasOwn(GROUP_POLICIES, key))
        this.diagnostics.add(
          'unknown-property',
          keyLocOf(policy, key),
          `${path}.${key}`,
          `unknown update_policy of OS::Heat::ResourceGroup${didYouMean(key, Object.keys(GROUP_POLICIES))}`,
        );
    for (const [name, rules] of Object.entries(GROUP_POLICIES)) {
      const given = policy[name];
      if (given === undefined || given === null) continue;
      if (!isMapping(given)) {
        this.diagnostics.add('type-mismatch', locOf(policy, name), `${path}.${name}`, 'expected a mapping');
        continue;
      }
      for (const key of Object.keys(given))
        if (!Object.hasOwn(rules, key))
          this.diagnostics.add(
            'unknown-property',
            keyLocOf(given, key),
            `${path}.${name}.${key}`,
            `unknown key of ${name}${didYouMean(key, Object.keys(rules))}`,
          );
      const read: ValueMap = {};
      for (const [key, rule] of Object.entries(rules)) {
        const raw = given[key] ?? rule.default;
        // As Heat's integer and number properties, a number written as a string is read as one.
        const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
        if (
          typeof value !== 'number' ||
          Number.isNaN(value) ||
          value < rule.min ||
          (rule.integer && !Number.isInteger(value))
        ) {
          this.diagnostics.add(
            'bad-value',
            locOf(given, key),
            `${path}.${name}.${key}`,
            `${key} must be ${rule.integer ? 'a whole number' : 'a number'} of ${rule.min} or more, got ${shown(value)}`,
          );
          continue;
        }
        read[key] = value;
      }
      out[name] = read;
    }
    return out;
  }

  private resourceChain(node: string, spec: ResourceSpec): Built | undefined {
    const props = spec.properties;
    const known = ['resources', 'concurrent', 'resource_properties'];
    for (const key of Object.keys(props))
      if (!known.includes(key))
        this.diagnostics.add(
          'unknown-property',
          keyLocOf(spec.propertiesFrom, key) ?? spec.typeAt,
          `${spec.path}.properties.${key}`,
          `unknown property of OS::Heat::ResourceChain${didYouMean(key, known)}`,
        );
    const types = props.resources;
    if (!Array.isArray(types) || !types.every((t) => typeof t === 'string')) {
      this.diagnostics.add(
        'bad-value',
        locOf(spec.propertiesFrom, 'resources') ?? spec.typeAt,
        `${spec.path}.properties.resources`,
        'resources must be a list of resource types',
      );
      return undefined;
    }
    const concurrent = props.concurrent === true;
    const properties = isMapping(props.resource_properties) ? props.resource_properties : {};
    const members: { name: string; built: Built }[] = [];
    types.forEach((type, i) => {
      const previous = members[members.length - 1];
      const dependencies =
        concurrent || !previous ? spec.dependencies : [...spec.dependencies, previous.built.node];
      const built = this.makeResource(`${node}.${i}`, type as string, `${node}.${i}`, {
        ...spec,
        path: `${spec.path}.properties.resources[${i}]`,
        properties,
        propertiesFrom: isMapping(spec.propertiesFrom?.resource_properties)
          ? (spec.propertiesFrom.resource_properties as ValueMap)
          : undefined,
        deletionPolicy: undefined,
        dependencies,
        typeAt: locOf(types, i),
      });
      if (built) members.push({ name: String(i), built });
    });
    this.addParent(
      node,
      'OS::Heat::ResourceChain',
      members.map((m) => m.built.node),
      spec,
    );
    return { node, kind: 'group', members };
  }

  /** OS::Heat::Stack with a local template (its text, or a mapping; get_file brings a file's). */
  private stackResource(node: string, spec: ResourceSpec): Built | undefined {
    const props = spec.properties;
    const known = ['template', 'parameters', 'timeout', 'context'];
    for (const key of Object.keys(props))
      if (!known.includes(key))
        this.diagnostics.add(
          'unknown-property',
          keyLocOf(spec.propertiesFrom, key) ?? spec.typeAt,
          `${spec.path}.properties.${key}`,
          `unknown property of OS::Heat::Stack${didYouMean(key, known)}`,
        );
    if (props.context !== undefined)
      this.diagnostics.add(
        'unsupported',
        keyLocOf(spec.propertiesFrom, 'context'),
        `${spec.path}.properties.context`,
        'a remote stack (context) is not supported: Weft makes local stacks',
      );
    const template = props.template;
    let doc: Value | undefined;
    if (typeof template === 'string') {
      doc = parseYaml(template, `${this.file} (${spec.path}.properties.template)`, this.diagnostics);
    } else doc = template;
    if (!isMapping(doc)) {
      this.diagnostics.add(
        'bad-value',
        locOf(spec.propertiesFrom, 'template') ?? spec.typeAt,
        `${spec.path}.properties.template`,
        'template must be a HOT template (a mapping, or its text: get_file: FILE)',
      );
      return undefined;
    }
    const parameters = isMapping(props.parameters) ? props.parameters : {};
    if (isMapping(spec.propertiesFrom?.parameters))
      setLoc(parameters, spec.propertiesFrom.parameters as ValueMap);
    return this.buildNested(
      node,
      doc,
      this.file,
      'OS::Heat::Stack',
      parameters,
      spec,
      `${spec.path}.properties.parameters`,
    );
  }

  private nestedStack(
    node: string,
    file: string,
    spec: ResourceSpec,
    at: ReturnType<typeof locOf>,
    /** The registry entry that mapped the resource's type to the template. */
    entry?: RegistryTarget,
  ): Built | undefined {
    const doc = readTemplate(file, this.shared.reader, this.diagnostics, at, `${spec.path}.type`);
    if (!doc) return undefined;
    this.shared.files.add(file);
    setOwn(this.shared.nestedTemplates, node, file);
    return this.buildNested(
      node,
      doc,
      file,
      NESTED_STACK,
      spec.properties,
      spec,
      `${spec.path}.properties`,
      entry,
    );
  }

  private buildNested(
    node: string,
    doc: ValueMap,
    file: string,
    type: string,
    parameters: ValueMap,
    spec: ResourceSpec,
    parametersPath: string,
    entry?: RegistryTarget,
  ): Built | undefined {
    if (this.shared.depth >= 5) {
      this.diagnostics.add(
        'too-deep',
        spec.typeAt,
        `${spec.path}.type`,
        "nested stacks go deeper than 5 levels (Heat's max_nested_stack_depth)",
      );
      return undefined;
    }
    const version = templateVersion(doc, this.diagnostics);
    if (!version) return undefined;
    if (spec.propertiesFrom) setLoc(parameters, spec.propertiesFrom);
    const nested = new Stack(
      {
        ...this.shared,
        depth: this.shared.depth + 1,
        removed: entry ? new Set([...this.shared.removed, entry]) : this.shared.removed,
      },
      doc,
      file,
      `${node}.`,
      version,
      {
        metadata: spec.metadata,
        deletion_policy: spec.deletionPolicy ?? 'Delete',
        update_policy: spec.updatePolicy ?? {},
      },
    );
    const before = new Set(Object.keys(this.shared.nodeTemplates));
    nested.build(withoutNulls(parameters), parametersPath, false, spec.dependencies);
    const members = Object.keys(this.shared.nodeTemplates).filter((n) => !before.has(n));
    this.addParent(node, type, members, spec);
    return { node, kind: 'stack', outputs: nested.outputs, resources: nested.built };
  }

  /** The whole stack: parameters, conditions, resources, outputs. */
  build(
    given: ValueMap,
    givenPlace: string,
    useEnvironment: boolean,
    extraDependencies: string[] = [],
  ): void {
    this.checkSections();
    this.bindParameters(given, givenPlace, useEnvironment);
    if (since(SECTION_SINCE, 'conditions', this.version)) this.readConditions();
    const before = new Set(Object.keys(this.shared.nodeTemplates));
    this.readResources();
    // A nested stack's resources wait for what its parent resource depends on.
    if (extraDependencies.length > 0)
      for (const node of Object.keys(this.shared.nodeTemplates)) {
        if (before.has(node)) continue;
        const relationships = (this.shared.nodeTemplates[node] as ValueMap).relationships as ValueMap[];
        for (const target of extraDependencies)
          if (!relationships.some((r) => r.target === target))
            relationships.push({ type: 'cloudify.relationships.depends_on', target });
      }
    this.readOutputs();
  }

  private readOutputs(): void {
    const section = this.doc.outputs;
    if (section === undefined || section === null) return;
    if (!isMapping(section)) {
      this.diagnostics.add(
        'type-mismatch',
        locOf(this.doc, 'outputs'),
        'outputs',
        'expected a mapping of output names to outputs',
      );
      return;
    }
    for (const [name, def] of Object.entries(section)) {
      const path = `outputs.${name}`;
      if (!isMapping(def)) {
        this.diagnostics.add(
          'type-mismatch',
          locOf(section, name),
          path,
          'expected a mapping (value, description, condition)',
        );
        continue;
      }
      this.checkKeys(def, path, OUTPUT_KEY_SINCE, 'output');
      if (def.condition !== undefined && since(OUTPUT_KEY_SINCE, 'condition', this.version)) {
        const place = { path: `${path}.condition`, container: def, key: 'condition' };
        try {
          // As in Heat, an output whose condition is false is there, without a value.
          if (!this.evaluator.condition(def.condition, place)) {
            this.outputs.set(name, null);
            continue;
          }
        } catch (error) {
          this.report(error, place);
          continue;
        }
      }
      this.refs = new Set();
      const value =
        def.value === undefined
          ? null
          : this.evaluate(def.value, { path: `${path}.value`, container: def, key: 'value' });
      this.outputs.set(name, value ?? null);
    }
  }

  /** The top-level stack's outputs, as the Cloudify document's. */
  outputSection(): ValueMap {
    const section = this.doc.outputs;
    const out: ValueMap = {};
    for (const [name, value] of this.outputs) {
      const def = isMapping(section) && isMapping(section[name]) ? (section[name] as ValueMap) : undefined;
      const output: ValueMap = { value: finalize(value, this.version) };
      if (typeof def?.description === 'string') output.description = def.description;
      if (def) setLoc(output, def);
      setOwn(out, name, output);
    }
    if (isMapping(section)) setLoc(out, section);
    return out;
  }
}

interface ResourceSpec {
  def: ValueMap;
  path: string;
  properties: ValueMap;
  propertiesFrom: ValueMap | undefined;
  metadata: Value;
  deletionPolicy: string | undefined;
  updatePolicy: ValueMap | null;
  dependencies: string[];
  typeAt: ReturnType<typeof locOf>;
}

/** A name as messages quote it. */
function named(value: Value): string {
  return typeof value === 'string' ? `'${value}'` : shown(value);
}

/** Heat leaves a property set to null unset (its default applies). */
function withoutNulls(properties: ValueMap): ValueMap {
  const out: ValueMap = {};
  for (const [k, v] of Object.entries(properties)) if (v !== null) setOwn(out, k, v);
  setLoc(out, properties);
  return out;
}

/** The resource names a resource definition refers to (for the order resources are built in). */
function referencedResources(def: Value): Set<string> {
  const out = new Set<string>();
  const walk = (v: Value) => {
    if (Array.isArray(v)) {
      for (const item of v) walk(item);
      return;
    }
    if (!isMapping(v)) return;
    for (const [key, item] of Object.entries(v)) {
      if (key === 'get_resource' && typeof item === 'string') out.add(item);
      else if (key === 'get_attr' && Array.isArray(item) && typeof item[0] === 'string') out.add(item[0]);
      else if (key === 'depends_on') {
        if (typeof item === 'string') out.add(item);
        else if (Array.isArray(item)) for (const d of item) if (typeof d === 'string') out.add(d);
      }
      walk(item);
    }
  };
  walk(def);
  return out;
}

/** %index% replaced in every string of a member's definition (keys too), as Heat does. */
function replaceIndex(value: Value, indexVar: string, index: string): Value {
  if (typeof value === 'string') return value.split(indexVar).join(index);
  if (Array.isArray(value)) {
    const out = value.map((v) => replaceIndex(v, indexVar, index));
    setLoc(out, value);
    return out;
  }
  if (isMapping(value)) {
    if (isRuntime(value)) return value;
    const out: ValueMap = {};
    for (const [k, v] of Object.entries(value))
      setOwn(out, k.split(indexVar).join(index), replaceIndex(v, indexVar, index));
    setLoc(out, value);
    return out;
  }
  return value;
}

/** get_attr of a built resource: a plain node's attribute, a group's members', a nested stack's outputs. */
function attributeOf(built: Built, attribute: string | undefined, path: Value[], stackName: string): Value {
  if (built.kind === 'plain')
    return {
      [RUNTIME_KEY]: { get_attr: [built.node, ...(attribute !== undefined ? [attribute] : []), ...path] },
    };
  if (built.kind === 'stack') {
    const outputs = built.outputs ?? new Map();
    if (attribute === undefined) {
      const all: ValueMap = {};
      for (const [k, v] of outputs) setOwn(all, k, v);
      return all;
    }
    if (attribute === 'OS::stack_id') return built.node;
    // A template resource reaches into its stack as a group does into its members (Heat's
    // TemplateResource.get_attribute, grouputils.get_nested_attrs).
    if (attribute.startsWith('resource.'))
      return nestedAttribute(attribute, path, stackName, (name) => built.resources?.get(name));
    if (!outputs.has(attribute))
      throw new HotFunctionError(
        `get_attr: the nested stack has no output '${attribute}'${didYouMean(attribute, outputs.keys())}`,
      );
    return pathOver(outputs.get(attribute)!, path);
  }
  const members = built.members ?? [];
  if (attribute === undefined) throw new HotFunctionError('get_attr of a group needs an attribute name');
  if (attribute === 'refs')
    return pathOver(
      members.map((m) => referenceOf(m.built, stackName)),
      path,
    );
  if (attribute === 'refs_map') {
    const map: ValueMap = {};
    for (const m of members) setOwn(map, m.name, referenceOf(m.built, stackName));
    return pathOver(map, path);
  }
  if (attribute === 'removed_rsrc_list') return [];
  if (attribute.startsWith('resource.'))
    return nestedAttribute(attribute, path, stackName, (name) => members.find((m) => m.name === name)?.built);
  if (attribute === 'attributes') {
    const [name, ...rest] = path;
    const map: ValueMap = {};
    for (const m of members) setOwn(map, m.name, attributeOf(m.built, String(name), rest, stackName));
    return map;
  }
  return members.map((m) => attributeOf(m.built, attribute, path, stackName));
}

/**
 * What get_resource of a resource is (Heat's get_reference_id): a RandomString's value; a template
 * resource's OS::stack_id output, else its stack's ARN (the stack named as its OS::stack_id names
 * it); a plain resource's id, known at run time; a group's node.
 */
function referenceOf(built: Built, stackName: string): Value {
  if (built.type === 'OS::Heat::RandomString') return { [RUNTIME_KEY]: { get_attr: [built.node, 'value'] } };
  if (built.kind === 'plain') return { [RUNTIME_KEY]: { get_resource: built.node } };
  if (built.kind === 'stack') {
    const own = built.outputs?.get('OS::stack_id');
    if (own !== undefined) return own;
    const id = `${stackName}.${built.node}`;
    return `arn:openstack:heat::${PROJECT_ID}:stacks/${id}/${id}`;
  }
  return built.node;
}

/**
 * get_attr `resource.NAME[.ATTRIBUTE]` of a group or nested stack: NAME's id, or its attribute
 * (the rest of the key, then the path). As in Heat, a resource the stack does not have (now) has
 * no attributes.
 */
function nestedAttribute(
  key: string,
  path: Value[],
  stackName: string,
  find: (name: string) => Built | undefined,
): Value {
  const [name, attribute] = key.slice('resource.'.length).split(/\.(.*)/s);
  const found = find(name!);
  if (!found) return null;
  const [first, ...rest] = attribute ? [attribute, ...path] : path;
  if (first === undefined) return referenceOf(found, stackName);
  return attributeOf(found, String(first), rest, stackName);
}

/**
 * A path into a value that may hold run-time expressions: followed now through what is known,
 * and added to the get_attr of an attribute known only at run time.
 */
function pathOver(value: Value, path: Value[]): Value {
  let current = value;
  for (let i = 0; i < path.length; i++) {
    if (isRuntime(current)) {
      const expression = (current as ValueMap)[RUNTIME_KEY]!;
      const call = isMapping(expression) ? expression.get_attr : undefined;
      if (!Array.isArray(call))
        throw new HotFunctionError(
          'get_attr: a path cannot lead into a value computed at run time, other than an attribute',
        );
      return { [RUNTIME_KEY]: { get_attr: [...call, ...path.slice(i)] } };
    }
    current = followPath(current, [path[i]!], 'get_attr');
  }
  return current;
}

/** Each run-time expression with its template version, as the engine stores it. */
function finalize(value: Value, version: HotVersion): Value {
  // Most values hold no run-time expression: kept as they are, with their positions.
  if (!holdsRuntime(value)) return value;
  if (Array.isArray(value)) return value.map((v) => finalize(v, version));
  if (!isMapping(value)) return value;
  if (isRuntime(value)) return { [RUNTIME_KEY]: { version, expression: value[RUNTIME_KEY]! } };
  const out: ValueMap = {};
  for (const [k, v] of Object.entries(value)) setOwn(out, k, finalize(v, version));
  setLoc(out, value);
  return out;
}

function templateVersion(doc: ValueMap, diagnostics: Diagnostics): HotVersion | undefined {
  const raw = doc[VERSION_KEY];
  const version = hotVersion(raw);
  if (version) return version;
  const known = [...HOT_VERSIONS, ...Object.keys(RELEASE_NAMES)].join(', ');
  diagnostics.add(
    raw === undefined ? 'missing-version' : 'unknown-version',
    raw === undefined ? locOf(doc) : locOf(doc, VERSION_KEY),
    VERSION_KEY,
    raw === undefined
      ? `missing; use one of ${known}`
      : `unknown version '${shown(raw)}'; known versions are ${known}`,
  );
  return undefined;
}

function readTemplate(
  file: string,
  reader: BlueprintReader,
  diagnostics: Diagnostics,
  at: ReturnType<typeof locOf>,
  path: string,
): ValueMap | undefined {
  let bytes: Uint8Array;
  try {
    bytes = reader.read(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    diagnostics.add('template-not-found', at, path, `cannot read template '${file}': ${reason}`);
    return undefined;
  }
  const text = decodeSource(bytes, file, diagnostics);
  if (text === undefined) return undefined;
  const doc = parseYaml(text, file, diagnostics);
  if (doc === undefined) return undefined;
  if (!isMapping(doc)) {
    diagnostics.add('not-a-mapping', locOf(doc) ?? at, path, 'a HOT template must be a YAML mapping');
    return undefined;
  }
  return doc;
}

/**
 * Reads a HOT template with its environments and parameter values into the main document of a
 * Cloudify blueprint, reporting every problem found to `diagnostics`.
 */
export function loadHotTemplate(
  mainFile: string,
  options: HotLoadOptions,
  diagnostics: Diagnostics,
): HotLoadResult {
  const main = resolve(mainFile);
  const result: HotLoadResult = {
    inputs: {},
    hidden: [],
    immutable: [],
    files: [],
    nestedTemplates: {},
    heatTypes: {},
    standInProperties: {},
  };
  const doc = readTemplate(main, options.reader, diagnostics, undefined, '');
  if (!doc) return result;
  const version = templateVersion(doc, diagnostics);
  if (!version) return result;
  result.version = version;
  const env = options.environments?.length
    ? readEnvironments(options.environments, options.reader, diagnostics)
    : emptyEnvironment();
  const shared: Shared = {
    reader: options.reader,
    diagnostics,
    env,
    stackName: options.stackName,
    checkOnly: options.checkOnly === true,
    nodeTemplates: {},
    nodeTypes: {},
    files: new Set([main]),
    nestedTemplates: {},
    heatTypes: {},
    standInProperties: {},
    baseDir: dirname(main),
    imports: new Set(HOT_IMPORTS),
    depth: 0,
    removed: new Set(),
  };
  const stack = new Stack(shared, doc, main, '', version, undefined);
  stack.build(options.parameters ?? {}, 'parameters', true);
  const inputs: ValueMap = {};
  for (const [name, param] of stack.parameters) {
    setOwn(inputs, name, {
      default: stack.values.get(name) ?? null,
      ...(param.description ? { description: param.description } : {}),
    });
    if (param.hidden) result.hidden.push(name);
    if (param.immutable) result.immutable.push(name);
    setOwn(result.inputs, name, stack.values.get(name) ?? null);
  }
  const nodeTemplates: ValueMap = {};
  for (const [name, template] of Object.entries(shared.nodeTemplates)) {
    const t = template as ValueMap;
    const out: ValueMap = { ...t, properties: finalize(t.properties!, version) };
    setLoc(out, t);
    setOwn(nodeTemplates, name, out);
  }
  if (isMapping(doc.resources)) setLoc(nodeTemplates, doc.resources);
  const document: ValueMap = {
    tosca_definitions_version: 'cloudify_dsl_1_4',
    imports: [...shared.imports],
    ...(typeof doc.description === 'string' ? { description: doc.description } : {}),
    inputs,
    node_types: shared.nodeTypes,
    node_templates: nodeTemplates,
    outputs: stack.outputSection(),
    workflows: STACK_WORKFLOWS,
  };
  setLoc(document, doc);
  result.document = document;
  result.files = [...shared.files].filter((f) => f !== main).concat(env.files);
  result.environment = userEnvironment(env, options.parameters ?? {}, dirname(main));
  for (const [node, file] of Object.entries(shared.nestedTemplates))
    setOwn(result.nestedTemplates, node, relative(dirname(main), file));
  result.heatTypes = shared.heatTypes;
  result.standInProperties = shared.standInProperties;
  return result;
}
