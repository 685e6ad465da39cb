import { existsSync, readFileSync, statSync } from 'node:fs';
import Module, { isBuiltin, register } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Loaded = Record<string, unknown>;

/** The entry module of a plugin source: a file, or a directory with package.json `main` or index.js. */
export function entryOf(path: string): string {
  if (statSync(path).isFile()) return path;
  const pkg = join(path, 'package.json');
  if (existsSync(pkg)) {
    const main = (JSON.parse(readFileSync(pkg, 'utf8')) as { main?: string }).main;
    if (main) return join(path, main);
  }
  return join(path, 'index.js');
}

const loomOperationsOf = new WeakMap<object, Loaded>();

/**
 * The SDK's Loom classes, loaded with the first module that exports a class: a command that
 * loads only ordinary plugin modules (weft validate) does not load the plugin API.
 */
let sdk: typeof import('@weft/sdk') | undefined;

const isClass = (value: unknown) =>
  typeof value === 'function' && /^class\b/.test(Function.prototype.toString.call(value));

/**
 * A Loom Provider or Automator class stands for its operations (loomOperations), so that a Loom
 * manifest's `classname` names what its node types run: `NAME.ShellAutomator.create`.
 */
function asOperations(value: unknown): unknown {
  if (typeof value !== 'function' || !sdk) return value;
  const proto = (value as { prototype?: unknown }).prototype;
  if (!(proto instanceof sdk.Provider) && !(proto instanceof sdk.Automator)) return value;
  let ops = loomOperationsOf.get(value);
  if (!ops) {
    ops = sdk.loomOperations(value as never) as unknown as Loaded;
    loomOperationsOf.set(value, ops);
  }
  return ops;
}

/**
 * `a.b.c` looked up as an export named `a.b.c`, then as nested properties (`export const a =
 * { b: { c } }`, or a Loom class `a` with its operations), then, when the module exports nothing
 * named `a` (a Cloudify module path such as `tasks.create`), by its last part. `say.ok` where
 * `say` is an export without `ok` is not found.
 */
export function lookup(module: Loaded, path: string): unknown {
  if (path in module) return module[path];
  const parts = path.split('.');
  let current: unknown = module;
  for (const part of parts) {
    current = asOperations(current);
    if (current === null || (typeof current !== 'object' && typeof current !== 'function')) {
      current = undefined;
      break;
    }
    current = (current as Loaded)[part];
  }
  if (current !== undefined || parts.length === 1 || parts[0]! in module) return current;
  return module[parts.at(-1)!];
}

const TYPESCRIPT = /\.(ts|mts|cts)$/;

let patched = false;
let hooked = false;

type ResolveFilename = (request: string, ...rest: unknown[]) => string;

/**
 * Lets plugins without a copy of the SDK of their own (a plugin directory outside any npm
 * project) import the engine's, once per process. TypeScript outside a `"type": "module"`
 * package is compiled to CommonJS, whose `require` resolves through Module._resolveFilename,
 * which gets the fallback (as module-alias does). ES modules resolve through a hook, which runs on
 * a thread of its own that every later import waits on: it is registered only for a plugin that
 * may need it (see {@link mayNeedSdkHook}).
 */
function provideSdk(hook: boolean): void {
  if (hook && !hooked) {
    hooked = true;
    register(new URL('./sdk-resolve-hook.js', import.meta.url), {
      data: { sdkUrl: import.meta.resolve('@weft/sdk') },
    });
  }
  if (patched) return;
  patched = true;
  const sdkPath = fileURLToPath(import.meta.resolve('@weft/sdk'));
  const modules = Module as unknown as { _resolveFilename: ResolveFilename };
  const resolveFilename = modules._resolveFilename;
  modules._resolveFilename = function (this: unknown, request, ...rest) {
    try {
      return resolveFilename.call(this, request, ...rest);
    } catch (error) {
      const notFound = (error as { code?: string }).code === 'MODULE_NOT_FOUND';
      if (request === '@weft/sdk' && notFound) return sdkPath;
      throw error;
    }
  };
}

/** Whether `@weft/sdk` resolves from a module in `dir` by itself: a node_modules above it has it. */
function sdkInstalledAbove(dir: string): boolean {
  for (let at = dir; ; at = dirname(at)) {
    if (existsSync(join(at, 'node_modules', '@weft', 'sdk', 'package.json'))) return true;
    if (dirname(at) === at) return false;
  }
}

/** Module specifiers in JavaScript source: static imports and re-exports, and `import(...)`. */
const SPECIFIER = /\b(?:from|import)\s*\(?\s*(['"])([^'"\n]+)\1|\bimport\s*\(/g;

/**
 * Whether importing the ES module `file` might ask for `@weft/sdk` where it does not resolve, so
 * that the resolve hook is needed. Read from the source (the plugin's own modules, followed through
 * relative imports): no when every import is a built-in or one of its own modules and none names
 * the SDK, or when the SDK is installed above it (then so it is for the packages it imports);
 * otherwise (a package that might import the SDK, an `import()` of a computed name, a module that
 * cannot be read) yes, as it always was before.
 */
export function mayNeedSdkHook(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file)) return false;
  seen.add(file);
  if (sdkInstalledAbove(dirname(file))) return false;
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch {
    return true;
  }
  if (source.includes('@weft/sdk')) return true;
  for (const [, quote, specifier] of source.matchAll(SPECIFIER)) {
    if (quote === undefined || specifier === undefined) return true;
    if (isBuiltin(specifier)) continue;
    if (!/^\.{1,2}\//.test(specifier)) return true;
    if (mayNeedSdkHook(resolve(dirname(file), specifier), seen)) return true;
  }
  return false;
}

/** Imports a plugin's entry module; TypeScript sources are compiled as they load (tsx). */
export async function loadModule(path: string): Promise<Loaded> {
  const entry = entryOf(path);
  const typescript = TYPESCRIPT.test(entry);
  // tsx resolves through hooks of its own anyway.
  provideSdk(typescript || mayNeedSdkHook(entry));
  let loaded: Loaded;
  if (typescript) {
    const { tsImport } = await import('tsx/esm/api');
    loaded = (await tsImport(pathToFileURL(entry).href, import.meta.url)) as Loaded;
  } else loaded = (await import(pathToFileURL(entry).href)) as Loaded;
  if (!sdk && Object.values(loaded).some(isClass)) sdk = await import('@weft/sdk');
  return loaded;
}
