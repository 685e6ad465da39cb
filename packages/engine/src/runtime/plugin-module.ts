import { existsSync, readFileSync, statSync } from 'node:fs';
import Module, { register } from 'node:module';
import { join } from 'node:path';
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

/**
 * `a.b.c` looked up as an export named `a.b.c`, then as nested properties (`export const a =
 * { b: { c } }`), then, when the module exports nothing named `a` (a Cloudify module path such as
 * `tasks.create`), by its last part. `say.ok` where `say` is an export without `ok` is not found.
 */
export function lookup(module: Loaded, path: string): unknown {
  if (path in module) return module[path];
  const parts = path.split('.');
  let current: unknown = module;
  for (const part of parts) {
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

let hooked = false;

type ResolveFilename = (request: string, ...rest: unknown[]) => string;

/**
 * Lets plugins without a copy of the SDK of their own (a plugin directory outside any npm
 * project) import the engine's, once per process. ES modules resolve through a hook; TypeScript
 * outside a `"type": "module"` package is compiled to CommonJS, whose `require` resolves through
 * Module._resolveFilename, so that gets the same fallback (as module-alias does).
 */
function provideSdk(): void {
  if (hooked) return;
  hooked = true;
  const sdkUrl = import.meta.resolve('@weft/sdk');
  register(new URL('./sdk-resolve-hook.js', import.meta.url), { data: { sdkUrl } });
  const sdkPath = fileURLToPath(sdkUrl);
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

/** Imports a plugin's entry module; TypeScript sources are compiled as they load (tsx). */
export async function loadModule(path: string): Promise<Loaded> {
  provideSdk();
  const entry = entryOf(path);
  if (TYPESCRIPT.test(entry)) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(pathToFileURL(entry).href, import.meta.url)) as Loaded;
  }
  return (await import(pathToFileURL(entry).href)) as Loaded;
}
