// Every example's README, followed as a new user would: in a fresh state directory, the README's
// quick start command first, then the example README's commands in order, each of which must
// succeed. `npx weft ARGS` runs this checkout's weft; `curl URL` is a GET that must answer 2xx;
// `bash examples/NAME/SCRIPT` runs a script of the example (one that prepares its files).
// The ports the READMEs name are replaced by free ones, so that the test does not depend on what
// else listens on this machine; that the READMEs' own ports do not collide is checked apart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot, tempDir, weft } from './helpers.js';

/** The deployment the quick start installs, and the port it serves on (its blueprint's default). */
const QUICK_START_DEPLOYMENT = 'webserver-plugin';
const QUICK_START_PORT = 8000;

/** The commands of the indented code blocks of a README, continuation lines joined, comments removed. */
function commands(markdown: string): string[] {
  const lines: string[] = [];
  let pending = '';
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('    ')) continue;
    const text = line.trim();
    if (text.endsWith('\\')) {
      pending += `${text.slice(0, -1).trimEnd()} `;
      continue;
    }
    lines.push((pending + text).replace(/\s+#\s.*$/, ''));
    pending = '';
  }
  return lines;
}

/** Splits a command line into words as a POSIX shell does for quotes and backslashes. */
function words(line: string): string[] {
  const result: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > 0, `unclosed quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (; j < line.length && line[j] !== '"'; j++) text += line[j] === '\\' ? line[++j] : line[j];
      assert.ok(j < line.length, `unclosed quote in: ${line}`);
      word = (word ?? '') + text;
      i = j;
    } else if (c === '\\') word = (word ?? '') + line[++i];
    else if (/\s/.test(c)) {
      if (word !== undefined) result.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) result.push(word);
  return result;
}

/** The ports a command line names: `-i [name_]port=N` and `127.0.0.1:N`. */
function portsIn(line: string): number[] {
  return [...line.matchAll(/(?:port=|127\.0\.0\.1:)(\d{4,5})\b/g)].map((m) => Number(m[1]));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `npx weft ...` of the README's quick start (the first command, after `npm ci &&`). */
function quickStart(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const block = /## Quick start\n\n```sh\n([^\n]*)\n/.exec(readme);
  assert.ok(block, 'README.md has a Quick start block');
  const install = /npx weft .*$/.exec(block[1] as string);
  assert.ok(install, `the quick start installs with npx weft: ${block[1]}`);
  return install[0];
}

const examples = readdirSync(join(repoRoot, 'examples'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => ({
    name: entry.name,
    commands: commands(readFileSync(join(repoRoot, 'examples', entry.name, 'README.md'), 'utf8')),
  }));

test("no two examples' READMEs, nor the quick start, serve on the same port", () => {
  const owner = new Map<number, string>([[QUICK_START_PORT, 'the quick start']]);
  for (const example of examples)
    for (const port of new Set(example.commands.flatMap(portsIn))) {
      assert.equal(
        owner.get(port),
        undefined,
        `${example.name} serves on ${port}, as ${owner.get(port)} does`,
      );
      owner.set(port, example.name);
    }
});

describe('every example README works when followed after the quick start', () => {
  for (const example of examples)
    test(example.name, async () => {
      assert.ok(example.commands.length > 0, `examples/${example.name}/README.md has no commands`);
      const state = tempDir();
      const env = { WEFT_HOME: state };
      const free = new Map<number, number>();
      for (const port of example.commands.flatMap(portsIn))
        if (!free.has(port)) free.set(port, await freePort());
      const run = (line: string) => {
        const args = words(line).slice(2);
        const result = weft(args, { env, timeoutMs: 120_000 });
        assert.equal(result.code, 0, `${line}\n${result.stdout}${result.stderr}`);
      };
      let followed = false;
      try {
        run(`${quickStart()} -i port=${await freePort()}`);
        for (const written of example.commands) {
          const line = written.replace(
            /(port=|127\.0\.0\.1:)(\d{4,5})\b/g,
            (_, prefix: string, port: string) => `${prefix}${free.get(Number(port))}`,
          );
          if (line.startsWith('npx weft ')) run(line);
          else if (line.startsWith(`bash examples/${example.name}/`)) {
            const script = spawnSync('bash', words(line).slice(1), { cwd: repoRoot, encoding: 'utf8' });
            assert.equal(script.status, 0, `${line}\n${script.stdout}${script.stderr}`);
          } else if (line.startsWith('curl ')) {
            const url = words(line)[1] as string;
            const response = await fetch(url);
            assert.ok(response.ok, `${written}: HTTP ${response.status}`);
          } else
            assert.fail(`examples/${example.name}/README.md: a command the test does not know: ${written}`);
        }
        followed = true;
      } finally {
        // The quick start's server is stopped, and after a failure whatever else is still running.
        const listed = weft(['deployments', 'list', '--json'], { env });
        const deployments =
          listed.code === 0
            ? (JSON.parse(listed.stdout) as { deployments: { id: string }[] }).deployments
            : [];
        for (const { id } of deployments)
          if (!followed || id === QUICK_START_DEPLOYMENT)
            weft(['uninstall', '-d', id, '--ignore-failure', '--task-retries', '0'], { env });
        rmSync(state, { recursive: true, force: true });
      }
    });
});
