import { isAbsolute, relative, resolve } from 'node:path';
import type { Interfaces, Operation, PluginDef } from './blueprint-types.js';
import { type Diagnostics, didYouMean, type Loc } from './diagnostics.js';
import type { BlueprintReader } from './reader.js';
import { parseSchema } from './values.js';
import { type DslVersion, supports } from './versions.js';
import { isMapping, keyLocOf, locOf, type Value, type ValueMap } from './yaml-source.js';

const LONG_FORM_KEYS = [
  'implementation',
  'inputs',
  'executor',
  'max_retries',
  'retry_interval',
  'timeout',
  'timeout_recoverable',
];
/** Where an operation (or a plugin's operations) runs, in Cloudify's terms. */
export const EXECUTORS = ['central_deployment_agent', 'host_agent'];

export interface OperationContext {
  version: DslVersion;
  diagnostics: Diagnostics;
}

/**
 * Parses one `interfaces:` block. In types, operation inputs are schemas (`{x: {default: 1}}`);
 * in templates they are plain values.
 */
export function parseInterfaces(
  raw: Value | undefined,
  path: string,
  container: unknown,
  key: string,
  where: 'type' | 'template',
  ctx: OperationContext,
): Interfaces {
  const result: Interfaces = new Map();
  if (raw === undefined || raw === null) return result;
  if (!isMapping(raw)) {
    ctx.diagnostics.add(
      'type-mismatch',
      locOf(container, key),
      path,
      'expected a mapping of interface names to operations',
    );
    return result;
  }
  for (const [iface, ops] of Object.entries(raw)) {
    const ifacePath = `${path}.${iface}`;
    const operations = new Map<string, Operation>();
    result.set(iface, operations);
    if (ops === null) continue;
    if (!isMapping(ops)) {
      ctx.diagnostics.add(
        'type-mismatch',
        locOf(raw, iface),
        ifacePath,
        'expected a mapping of operation names to implementations',
      );
      continue;
    }
    for (const [name, def] of Object.entries(ops)) {
      const op = parseOperation(iface, name, def, `${ifacePath}.${name}`, locOf(ops, name), where, ctx);
      if (op) operations.set(name, op);
    }
  }
  return result;
}

function parseOperation(
  iface: string,
  name: string,
  def: Value,
  path: string,
  at: Loc | undefined,
  where: 'type' | 'template',
  ctx: OperationContext,
): Operation | undefined {
  const op: Operation = { interface: iface, name, implementation: '', kind: 'noop', inputs: {}, at };
  if (def === null) return op;
  if (typeof def === 'string') {
    op.implementation = def.trim() === '' ? '' : def;
    return op;
  }
  if (!isMapping(def)) {
    ctx.diagnostics.add(
      'type-mismatch',
      at,
      path,
      'expected an implementation string or a mapping (implementation, inputs, ...)',
    );
    return undefined;
  }
  for (const k of Object.keys(def)) {
    if (!LONG_FORM_KEYS.includes(k)) {
      ctx.diagnostics.add(
        'unknown-key',
        keyLocOf(def, k),
        `${path}.${k}`,
        `unknown operation key${didYouMean(k, LONG_FORM_KEYS)}`,
      );
    }
  }
  if (def.implementation !== undefined && def.implementation !== null) {
    if (typeof def.implementation !== 'string') {
      ctx.diagnostics.add(
        'type-mismatch',
        locOf(def, 'implementation'),
        `${path}.implementation`,
        'expected a string',
      );
    } else op.implementation = def.implementation.trim() === '' ? '' : def.implementation;
  }
  if (def.inputs !== undefined && def.inputs !== null) {
    if (!isMapping(def.inputs)) {
      ctx.diagnostics.add('type-mismatch', locOf(def, 'inputs'), `${path}.inputs`, 'expected a mapping');
    } else if (where === 'type') {
      op.inputSchemas = parseSchema(def.inputs, `${path}.inputs`, def, 'inputs', ctx);
      op.inputs = {};
      for (const schema of op.inputSchemas.values())
        if (schema.hasDefault) op.inputs[schema.name] = schema.default!;
    } else op.inputs = def.inputs;
  }
  if (def.executor !== undefined) {
    if (typeof def.executor !== 'string' || !EXECUTORS.includes(def.executor)) {
      ctx.diagnostics.add(
        'bad-value',
        locOf(def, 'executor'),
        `${path}.executor`,
        `executor must be one of ${EXECUTORS.join(', ')}`,
      );
    } else op.executor = def.executor;
  }
  for (const [field, prop, min] of [
    ['max_retries', 'maxRetries', -1],
    ['retry_interval', 'retryInterval', 0],
    ['timeout', 'timeout', 0],
  ] as const) {
    const v = def[field];
    if (v === undefined || v === null) continue;
    if (
      (field === 'max_retries' || field === 'retry_interval') &&
      !supports(ctx.version, 'operation_max_retries')
    ) {
      ctx.diagnostics.add(
        'version-gated',
        keyLocOf(def, field),
        `${path}.${field}`,
        `${field} needs cloudify_dsl_1_1 or later (this blueprint is ${ctx.version})`,
      );
      continue;
    }
    if (typeof v !== 'number' || v < min || (field === 'max_retries' && !Number.isInteger(v))) {
      ctx.diagnostics.add(
        'bad-value',
        locOf(def, field),
        `${path}.${field}`,
        `expected a number >= ${min}, got ${JSON.stringify(v)}`,
      );
      continue;
    }
    op[prop] = v;
  }
  if (def.timeout_recoverable !== undefined) {
    if (typeof def.timeout_recoverable !== 'boolean') {
      ctx.diagnostics.add(
        'type-mismatch',
        locOf(def, 'timeout_recoverable'),
        `${path}.timeout_recoverable`,
        'expected true or false',
      );
    } else op.timeoutRecoverable = def.timeout_recoverable;
  }
  return op;
}

/** Child type over parent type: an operation the child names replaces the parent's entirely. */
export function overrideInterfaces(parent: Interfaces, child: Interfaces): Interfaces {
  const merged: Interfaces = new Map();
  for (const [iface, ops] of parent) merged.set(iface, new Map(ops));
  for (const [iface, ops] of child) {
    const target = merged.get(iface) ?? new Map<string, Operation>();
    for (const [name, op] of ops) target.set(name, op);
    merged.set(iface, target);
  }
  return merged;
}

/**
 * Template over type: a template operation without an implementation keeps the type's and
 * adds its input values to the type's defaults; settings fall back to the type's only when the
 * implementation is the same.
 */
export function applyTemplateInterfaces(
  typeIfaces: Interfaces,
  template: Interfaces,
  path: string,
  diagnostics: Diagnostics,
  typeName: string,
): Interfaces {
  // Interfaces the template does not touch are shared with the type, not copied.
  const merged: Interfaces = new Map(typeIfaces);
  for (const [iface, ops] of template) {
    const target = new Map<string, Operation>(typeIfaces.get(iface) ?? []);
    for (const [name, op] of ops) {
      const base = typeIfaces.get(iface)?.get(name);
      if (!base) {
        target.set(name, op);
        continue;
      }
      if (op.implementation === '' || op.implementation === base.implementation) {
        const inputs: ValueMap = { ...base.inputs, ...op.inputs };
        if (base.inputSchemas && base.inputSchemas.size > 0) {
          for (const inputName of Object.keys(op.inputs)) {
            if (!base.inputSchemas.has(inputName)) {
              diagnostics.add(
                'unknown-input',
                keyLocOf(op.inputs, inputName),
                `${path}.${iface}.${name}.inputs.${inputName}`,
                `operation ${iface}.${name} of type '${typeName}' declares no input '${inputName}'${didYouMean(inputName, base.inputSchemas.keys())}`,
              );
            }
          }
        }
        target.set(name, {
          ...base,
          inputs,
          templateInputs: op.inputs,
          at: op.at ?? base.at,
          executor: op.executor ?? base.executor,
          maxRetries: op.maxRetries ?? base.maxRetries,
          retryInterval: op.retryInterval ?? base.retryInterval,
          timeout: op.timeout ?? base.timeout,
          timeoutRecoverable: op.timeoutRecoverable ?? base.timeoutRecoverable,
        });
      } else target.set(name, op);
    }
    merged.set(iface, target);
  }
  return merged;
}

const SCRIPT_EXTENSIONS = /\.(sh|bash|py|ps1|bat|cmd|js|mjs|cjs|ts|rb|pl)$/i;

export interface ResolveContext {
  plugins: Map<string, PluginDef>;
  baseDir: string;
  reader: BlueprintReader;
  diagnostics: Diagnostics;
  unresolvedPlugins: string[];
}

/** Decides what runs an operation: nothing, a script, or a plugin function. Reports what is unknown. */
export function resolveImplementation(op: Operation, path: string, ctx: ResolveContext): void {
  const impl = op.implementation;
  if (impl === '') {
    op.kind = 'noop';
    return;
  }
  const scriptPlugin = () => {
    op.kind = 'script';
    op.plugin = 'script';
    if (!ctx.plugins.has('script')) {
      ctx.diagnostics.add(
        'no-script-plugin',
        op.at,
        path,
        `'${impl}' is a script, but no 'script' plugin is declared (import the standard library)`,
      );
    }
  };
  if (impl.includes('\n') || impl.startsWith('#!')) {
    scriptPlugin();
    op.script = { source: impl };
    return;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(impl)) {
    scriptPlugin();
    op.script = { path: impl };
    return;
  }
  const dot = impl.indexOf('.');
  const prefix = dot > 0 ? impl.slice(0, dot) : impl;
  const pathLike = impl.includes('/') || impl.includes('\\') || SCRIPT_EXTENSIONS.test(impl);
  // A declared plugin's function is by far the common case: no file system look-up for it.
  if (dot > 0 && ctx.plugins.has(prefix) && !pathLike) {
    op.kind = 'plugin';
    op.plugin = prefix;
    op.function = impl.slice(dot + 1);
    return;
  }
  const file = resolve(ctx.baseDir, impl);
  const rel = relative(ctx.baseDir, file);
  const inside = !rel.startsWith('..') && !isAbsolute(rel);
  if (inside && ctx.reader.isFile(file)) {
    scriptPlugin();
    op.script = { path: rel.split('\\').join('/') };
    return;
  }
  if (pathLike) {
    const reason = inside
      ? `script '${impl}' not found in the blueprint directory`
      : `script '${impl}' is outside the blueprint directory`;
    ctx.diagnostics.add('script-not-found', op.at, path, reason);
    return;
  }
  const pending =
    ctx.unresolvedPlugins.length > 0
      ? ` (it may come from the plugin import that failed: ${ctx.unresolvedPlugins.map((p) => `'plugin:${p}'`).join(', ')})`
      : '';
  ctx.diagnostics.add(
    'unknown-plugin',
    op.at,
    path,
    `'${impl}' names no declared plugin '${prefix}'${pending || didYouMean(prefix, ctx.plugins.keys())}`,
  );
}
