import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

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

/** `a.b.c` looked up as an export named `a.b.c`, then as nested properties, then by its last part. */
export function lookup(module: Loaded, path: string): unknown {
  if (path in module) return module[path];
  let current: unknown = module;
  for (const part of path.split('.')) {
    if (current === null || (typeof current !== 'object' && typeof current !== 'function')) {
      current = undefined;
      break;
    }
    current = (current as Loaded)[part];
  }
  if (current !== undefined) return current;
  return module[path.split('.').pop()!];
}

const TYPESCRIPT = /\.(ts|mts|cts)$/;

/** Imports a plugin's entry module; TypeScript sources are compiled as they load (tsx). */
export async function loadModule(path: string): Promise<Loaded> {
  const entry = entryOf(path);
  if (TYPESCRIPT.test(entry)) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(pathToFileURL(entry).href, import.meta.url)) as Loaded;
  }
  return (await import(pathToFileURL(entry).href)) as Loaded;
}
