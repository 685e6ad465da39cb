/**
 * What the tests comparing the CLI with a server and without one share: a real `weft serve` (on a
 * PostgreSQL database of its own), a directory of files both read, and the same command run on
 * local state and through the server.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunResult, serveForCli, tempDir, weft } from './helpers.js';

/** A Cloudify blueprint whose outputs show its inputs; `extra` adds node templates. */
export const APP = (extra: string) => `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
inputs:
  port: {type: integer, default: 80}
node_templates:
  db: {type: cloudify.nodes.Root}
${extra}outputs:
  port: {value: {get_input: port}}
`;

export const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

/** Writes `files` (path relative to `root` -> text) under `root`, making directories. */
export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

export async function parityRig(
  t: { after(fn: () => void | Promise<void>): void },
  files: Record<string, string>,
) {
  const { run, url, env } = await serveForCli(t, { postgres: true });
  const root = tempDir();
  writeFiles(root, files);
  const state = join(root, 'local-state');
  /** The command on local state, from the same directory. */
  const local = (args: string[]) =>
    weft([...args, '--state-dir', state], {
      cwd: root,
      env: { ...env, WEFT_SERVER: undefined, WEFT_TOKEN: undefined },
    });
  /** The command through the server. */
  const remote = (args: string[]) => run(args, root);
  /** A request to the server's API as the CLI's user. */
  const api = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${env.WEFT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  return { root, state, url, env, local, remote, api };
}
