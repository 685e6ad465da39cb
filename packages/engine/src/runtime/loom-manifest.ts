/**
 * Loom (Coopr) plugin manifests as Loom users write them, e.g. Coopr's shell_automator.json:
 *
 *   { "name": "shell", "description": "...", "automatortypes": ["shell"],
 *     "shell": { "name": "shell", "classname": "ShellAutomator",
 *                "resourceTypes": { "scripts": { "format": "file", "permissions": "0755" } },
 *                "parameters": { "admin": { "fields": { "script": { "label": "Script",
 *                  "type": "text", "tip": "...", "override": false } }, "required": [["script"]] } } } }
 *
 * Every type a manifest lists under `providertypes` / `automatortypes` becomes a node type that
 * `plugin:NAME` imports, generated from its fields, so that nobody writes node types by hand:
 * `loom.provider.TYPE` (a Compute host: create runs CREATE then CONFIRM, delete DELETE) and
 * `loom.automator.TYPE` (a service, on a host as in Coopr, where a node contained in no Compute is
 * refused; create runs BOOTSTRAP then INSTALL, configure,
 * start runs INITIALIZE then START, stop, delete REMOVE; `loom.interfaces.automator.bootstrap`
 * runs BOOTSTRAP alone, which install runs once per host and automator before the services'
 * tasks there, so that create's finds the host bootstrapped), their operations
 * `NAME.CLASSNAME.OPERATION`, CLASSNAME being the Provider or Automator class the plugin's entry
 * module exports (see plugin-module.ts). Fields (of `parameters.admin` and `parameters.user`)
 * become properties: `text` and `select` strings
 * (a select's `options` its valid values), `password` strings, `checkbox` booleans, `number`
 * numbers; `default`, `label` and `tip` as written. The fields named by every alternative of a
 * section's `required` are required properties (a node without them is a problem at its place in the
 * blueprint); `required` naming a field the type lacks, and a `resourceTypes` entry with a format
 * other than Coopr's `file`/`archive` or permissions that are not octal, are manifest problems. A
 * `password` field, or one marked
 * `sensitive`, is a secret: its property defaults to the secret `TYPE_FIELD` (get_secret), so
 * its value lives in the encrypted store, and is declared `hidden`, so that a value given otherwise
 * (an input, a literal) is masked wherever it would appear too, and sealed where the deployment is
 * stored. An admin field without `override: true` is declared `override: false`: Loom lets the
 * user who creates a cluster give only user fields and overridable admin fields (Coopr's
 * ProviderType.groupFields), so its value is the blueprint's, never a deployment input's nor an
 * execution's operation_kwargs.
 */
import { basename, dirname, join } from 'node:path';
import { LOOM_RESOURCE_TYPES_PROPERTY } from '@weft/sdk/loom-keys';
import { LOOM_AUTOMATOR_INTERFACE } from '../dsl/blueprint-types.js';
import type { Diagnostics, Loc } from '../dsl/diagnostics.js';
import { setGeneratedFile } from '../io/generated-files.js';

export interface LoomField {
  name: string;
  /** The parameters section it is declared in. */
  section: 'admin' | 'user';
  label?: string;
  type?: string;
  tip?: string;
  default?: unknown;
  override?: boolean;
  options?: unknown[];
  sensitive: boolean;
}

export interface LoomType {
  kind: 'provider' | 'automator';
  /** The type's name (`aws`, `shell`). */
  name: string;
  classname: string;
  fields: LoomField[];
  /** Loom's `required`, by section: alternatives, each a list of fields that must all be given. */
  required: Record<'admin' | 'user', string[][]>;
  /** Coopr's resource types (`{format, permissions}`): what the plugin keeps among its files. */
  resourceTypes: Record<string, unknown>;
}

export interface LoomManifest {
  name: string;
  description?: string;
  types: LoomType[];
}

const isMap = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Whether parsed JSON is a Loom manifest (it lists provider or automator types). */
export function isLoomManifest(value: unknown): value is Record<string, unknown> {
  return isMap(value) && (Array.isArray(value.providertypes) || Array.isArray(value.automatortypes));
}

const FIELD_TYPES = new Set(['text', 'password', 'select', 'checkbox', 'number', 'textarea']);

/**
 * Reads a manifest, adding a problem (placed at its key) for everything Loom's plugin manager
 * would refuse, and for fields Weft cannot read.
 */
export function readLoomManifest(
  def: Record<string, unknown>,
  keyAt: (path: string[]) => Loc | undefined,
  problems: Diagnostics,
): LoomManifest {
  const manifest: LoomManifest = { name: typeof def.name === 'string' ? def.name : '', types: [] };
  if (typeof def.description === 'string') manifest.description = def.description;
  for (const kind of ['provider', 'automator'] as const) {
    const listKey = `${kind}types`;
    const listed = def[listKey];
    if (listed === undefined) continue;
    if (!Array.isArray(listed) || listed.some((t) => typeof t !== 'string')) {
      problems.add('loom-manifest', keyAt([listKey]), listKey, 'expected a list of type names');
      continue;
    }
    for (const name of listed as string[]) {
      const spec = def[name];
      if (!isMap(spec)) {
        problems.add(
          'loom-manifest',
          keyAt([listKey]),
          listKey,
          `declared ${kind}type "${name}" is not defined (no "${name}" object in the manifest)`,
        );
        continue;
      }
      if (manifest.types.some((t) => t.name === name)) {
        problems.add('loom-manifest', keyAt([name]), name, `"${name}" is declared twice`);
        continue;
      }
      if (typeof spec.classname !== 'string' || spec.classname === '') {
        problems.add(
          'loom-manifest',
          keyAt([name]),
          name,
          `${kind}type "${name}" does not define an implementor classname`,
        );
        continue;
      }
      const type: LoomType = {
        kind,
        name,
        classname: spec.classname,
        fields: [],
        required: { admin: [], user: [] },
        resourceTypes: isMap(spec.resourceTypes) ? spec.resourceTypes : {},
      };
      for (const section of SECTIONS) readSection(type, spec.parameters, section, keyAt, problems);
      readResourceTypes(type, spec.resourceTypes, keyAt, problems);
      manifest.types.push(type);
    }
  }
  if (manifest.types.length === 0)
    problems.add('loom-manifest', keyAt([]), '', 'lists no providertypes or automatortypes');
  return manifest;
}

/**
 * Loom's parameter sections: `admin` fields, set where the provider or service is defined (here,
 * the blueprint), and `user` fields, given by whoever creates a cluster (here, also the blueprint,
 * or its inputs). Each has its `fields` and its `required`.
 */
const SECTIONS = ['admin', 'user'] as const;
type Section = (typeof SECTIONS)[number];

function readSection(
  type: LoomType,
  parameters: unknown,
  section: Section,
  keyAt: (path: string[]) => Loc | undefined,
  problems: Diagnostics,
): void {
  const def = isMap(parameters) && isMap(parameters[section]) ? parameters[section] : {};
  const fields = def.fields;
  if (fields !== undefined && !isMap(fields))
    problems.add(
      'loom-manifest',
      keyAt([type.name, 'parameters', section]),
      `${type.name}.parameters.${section}.fields`,
      'expected an object of fields',
    );
  for (const [fieldName, field] of Object.entries(isMap(fields) ? fields : {})) {
    const path = `${type.name}.parameters.${section}.fields.${fieldName}`;
    const at = keyAt([type.name, 'parameters', section, 'fields', fieldName]);
    if (!isMap(field)) {
      problems.add('loom-manifest', at, path, 'expected an object (label, type, tip, default, override)');
      continue;
    }
    if (type.fields.some((f) => f.name === fieldName)) {
      problems.add('loom-manifest', at, path, `"${fieldName}" is also an admin field`);
      continue;
    }
    if (field.type !== undefined && !FIELD_TYPES.has(String(field.type)))
      problems.add(
        'loom-manifest',
        at,
        `${path}.type`,
        `unknown field type ${JSON.stringify(field.type)} (text, password, select, checkbox, number, textarea)`,
      );
    const read: LoomField = {
      name: fieldName,
      section,
      sensitive: field.sensitive === true || field.type === 'password',
    };
    if (typeof field.label === 'string') read.label = field.label;
    if (typeof field.type === 'string') read.type = field.type;
    if (typeof field.tip === 'string') read.tip = field.tip;
    if (field.default !== undefined) read.default = field.default;
    if (typeof field.override === 'boolean') read.override = field.override;
    if (Array.isArray(field.options)) read.options = field.options;
    type.fields.push(read);
  }
  readRequired(type, section, def.required, keyAt([type.name, 'parameters', section, 'required']), problems);
}

/** Loom's `required` of a section: a list of alternatives, each a list of the section's fields. */
function readRequired(
  type: LoomType,
  section: Section,
  required: unknown,
  at: Loc | undefined,
  problems: Diagnostics,
): void {
  if (required === undefined) return;
  const path = `${type.name}.parameters.${section}.required`;
  if (
    !Array.isArray(required) ||
    required.some((g) => !Array.isArray(g) || g.some((f) => typeof f !== 'string'))
  ) {
    problems.add('loom-manifest', at, path, 'expected a list of lists of field names, e.g. [["script"]]');
    return;
  }
  for (const group of required as string[][]) {
    const unknown = group.filter(
      (f) => !type.fields.some((field) => field.name === f && field.section === section),
    );
    if (unknown.length)
      problems.add(
        'loom-manifest',
        at,
        path,
        `names ${unknown.map((f) => `"${f}"`).join(', ')}, not among the ${section} fields of ${type.kind}type "${type.name}"`,
      );
    else type.required[section].push(group);
  }
}

/** Coopr's resource formats: a file kept as it is, or an archive unpacked. */
const RESOURCE_FORMATS = new Set(['file', 'archive']);

/** Coopr's `resourceTypes`: by name, a `format` and, for files, octal `permissions` (e.g. "0755"). */
function readResourceTypes(
  type: LoomType,
  resourceTypes: unknown,
  keyAt: (path: string[]) => Loc | undefined,
  problems: Diagnostics,
): void {
  if (resourceTypes === undefined) return;
  const path = `${type.name}.resourceTypes`;
  if (!isMap(resourceTypes)) {
    problems.add(
      'loom-manifest',
      keyAt([type.name, 'resourceTypes']),
      path,
      'expected an object of resource types',
    );
    return;
  }
  for (const [name, resource] of Object.entries(resourceTypes)) {
    const at = keyAt([type.name, 'resourceTypes', name]);
    if (!isMap(resource) || !RESOURCE_FORMATS.has(String(resource.format)))
      problems.add(
        'loom-manifest',
        at,
        `${path}.${name}`,
        'expected {"format": "file" or "archive", "permissions"?}',
      );
    else if (resource.permissions !== undefined && !/^0?[0-7]{3}$/.test(String(resource.permissions)))
      problems.add(
        'loom-manifest',
        at,
        `${path}.${name}.permissions`,
        `expected octal permissions such as "0755", not ${JSON.stringify(resource.permissions)}`,
      );
  }
}

/**
 * The fields every one of the type's `required` alternatives names: a node of the type must give
 * them (Loom accepts a task's fields when all of one alternative are given; with one alternative,
 * the usual case, that is exactly these).
 */
function alwaysRequired(type: LoomType): Set<string> {
  return new Set(
    SECTIONS.flatMap((section) => {
      const [first, ...rest] = type.required[section];
      return (first ?? []).filter((f) => rest.every((group) => group.includes(f)));
    }),
  );
}

/** A YAML scalar: JSON's double-quoted strings, numbers and booleans are YAML's. */
const yaml = (value: unknown) => JSON.stringify(value);

function propertyType(field: LoomField): string | undefined {
  if (field.type === 'checkbox') return 'boolean';
  if (field.type === 'number') return 'float';
  if (field.type === undefined) return undefined;
  return 'string';
}

function propertyLines(type: LoomType, field: LoomField): string[] {
  const about = [field.label, field.tip].filter(Boolean).join(': ');
  const notes = [
    about,
    field.sensitive ? `a secret: by default the secret ${type.name}_${field.name}` : '',
    field.section === 'user' ? 'a user field (Loom: parameters.user)' : '',
    field.override === true ? 'may be overridden per deployment (Loom: override)' : '',
  ].filter(Boolean);
  const lines = [`      ${field.name}:`];
  const dataType = propertyType(field);
  if (dataType) lines.push(`        type: ${dataType}`);
  if (notes.length) lines.push(`        description: ${yaml(notes.join('; '))}`);
  // Whatever value is given (a secret, an input, a literal), it is masked wherever shown.
  if (field.sensitive) lines.push('        hidden: true');
  if (field.sensitive && field.default === undefined)
    lines.push(`        default: {get_secret: ${yaml(`${type.name}_${field.name}`)}}`);
  else if (field.default !== undefined) lines.push(`        default: ${yaml(field.default)}`);
  else lines.push(`        required: ${alwaysRequired(type).has(field.name)}`);
  if (field.type === 'select' && field.options?.length)
    lines.push(`        constraints: [{valid_values: ${yaml(field.options)}}]`);
  // Loom lets whoever creates a cluster give user fields and the admin fields marked override;
  // the others are the admin's: here, the blueprint's (not an input's, nor an execution's).
  if (field.section === 'admin' && field.override !== true) lines.push('        override: false');
  return lines;
}

/** The YAML `plugin:NAME` imports: the plugin's declaration and a node type per listed type. */
export function loomTypesYaml(manifest: LoomManifest, version?: string): string {
  const lines = [
    `# Generated by Weft from the Loom manifest of plugin ${manifest.name}.`,
    'plugins:',
    `  ${manifest.name}:`,
    '    executor: central_deployment_agent',
    `    package_name: ${yaml(manifest.name)}`,
    ...(version ? [`    package_version: ${yaml(version)}`] : []),
    'node_types:',
  ];
  for (const type of manifest.types) {
    const op = (name: string) => `${manifest.name}.${type.classname}.${name}`;
    const provider = type.kind === 'provider';
    lines.push(
      `  loom.${type.kind}.${type.name}:`,
      `    derived_from: ${provider ? 'cloudify.nodes.Compute' : 'cloudify.nodes.SoftwareComponent'}`,
      `    description: ${yaml(`${manifest.description ?? manifest.name}: Loom ${type.kind} type ${type.name} (${type.classname})`)}`,
    );
    if (type.fields.length || provider || Object.keys(type.resourceTypes).length > 0)
      lines.push('    properties:');
    // The machine is reached with what the provider returns (ssh-auth), not through an agent.
    if (provider) lines.push('      agent_config:', '        default: {install_method: none}');
    for (const field of type.fields) lines.push(...propertyLines(type, field));
    // What the SDK stages into each task's work directory from the plugin's resources/ (loom.ts).
    if (Object.keys(type.resourceTypes).length > 0)
      lines.push(
        `      ${LOOM_RESOURCE_TYPES_PROPERTY}:`,
        `        description: ${yaml("Coopr's resourceTypes: the plugin's resources/TYPE/NAME, staged into each task's work directory")}`,
        `        default: ${yaml(type.resourceTypes)}`,
        '        override: false',
      );
    lines.push('    interfaces:', '      cloudify.interfaces.lifecycle:');
    const operations = provider ? ['create', 'delete'] : ['create', 'configure', 'start', 'stop', 'delete'];
    for (const name of operations) lines.push(`        ${name}: ${op(name)}`);
    // Install runs it once per host for the automator, before its services' tasks there.
    if (!provider) lines.push(`      ${LOOM_AUTOMATOR_INTERFACE}:`, `        bootstrap: ${op('bootstrap')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The path `plugin:NAME` resolves to for a manifest's generated types: beside the manifest, a name
 * no plugin author writes; its text is held in memory (io/generated-files.ts), never written.
 */
export function loomTypesFile(manifestFile: string, text: string): string {
  const path = join(dirname(manifestFile), `(node types generated from ${basename(manifestFile)}).yaml`);
  setGeneratedFile(path, text);
  return path;
}
