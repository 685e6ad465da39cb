/**
 * Fetching a plugin as DevStack's git_clone does: a clone only when its directory ($DEST/NAME)
 * does not exist yet, then the ref (branch, tag or commit) fetched and checked out. The clone is
 * made next to its directory and renamed into place, so that a crash mid-clone leaves no
 * half-made plugin that a later run would take for a fetched one.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { NonRecoverableError } from '@weft/sdk';

export interface PluginSource {
  name: string;
  url: string;
  ref: string;
  /** Where it is cloned ($DEST/NAME). */
  dir: string;
}

function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      args,
      { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const lines = stderr.trim().split('\n').filter(Boolean);
          // git's first fatal line says what went wrong; the lines after it are advice.
          const detail = lines.find((l) => /^(fatal|error):/.test(l)) ?? lines.at(-1) ?? error.message;
          reject(new Error(detail));
        } else resolvePromise(stdout.trim());
      },
    );
  });
}

/** A URL git reads as is, else a path: relative ones are relative to local.conf's directory. */
export function cloneSource(url: string, baseDir: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\s]+@[^/\s]+:/.test(url) || isAbsolute(url)) return url;
  return resolve(baseDir, url);
}

/** Clones the plugin at its ref unless it is there; returns the commit checked out. */
export async function fetchPlugin(plugin: PluginSource, baseDir: string): Promise<string> {
  if (!existsSync(plugin.dir)) {
    const source = cloneSource(plugin.url, baseDir);
    const partial = `${plugin.dir}.weft-partial`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(dirname(plugin.dir), { recursive: true });
    try {
      await git(['clone', '--quiet', '--no-checkout', source, partial]);
      await git(['fetch', '--quiet', 'origin', plugin.ref], partial);
      await git(['checkout', '--quiet', 'FETCH_HEAD'], partial);
    } catch (error) {
      rmSync(partial, { recursive: true, force: true });
      throw new NonRecoverableError(
        `DevStack plugin ${plugin.name}: cannot fetch ${plugin.url} at ${plugin.ref}: ${(error as Error).message}`,
      );
    }
    renameSync(partial, plugin.dir);
  }
  try {
    return await git(['rev-parse', 'HEAD'], plugin.dir);
  } catch (error) {
    throw new NonRecoverableError(
      `DevStack plugin ${plugin.name}: ${plugin.dir} exists but is not a git checkout (${(error as Error).message}); remove it to fetch ${plugin.url} again`,
    );
  }
}
