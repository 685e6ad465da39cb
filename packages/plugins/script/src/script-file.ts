import { execFile } from 'node:child_process';
import { constants, readFileSync } from 'node:fs';
import { access, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NonRecoverableError, type OperationContext } from '@weft/sdk';

/** The plugin's own files: the ctx command and the Python module. */
export const BIN_DIR = fileURLToPath(new URL('../../bin', import.meta.url));
export const PYTHON_DIR = fileURLToPath(new URL('../../python', import.meta.url));
const PYTHON_RUNNER = join(PYTHON_DIR, 'weft_run_python.py');

/**
 * The ctx function as bash imports it from the environment (`BASH_FUNC_ctx%%`): bash scripts
 * then call it without starting another bash.
 */
const CTX_BASH = readFileSync(join(BIN_DIR, 'ctx.bash'), 'utf8');
export const CTX_FUNCTION = CTX_BASH.slice(CTX_BASH.indexOf('\nctx() ') + '\nctx'.length);

/** The ctx command as one self-contained bash script, to copy to another host. */
export const CTX_COMMAND = `#!/usr/bin/env bash\n${CTX_BASH}ctx "$@"\n`;

/** Where the script to run comes from: a path relative to the blueprint, a URL, or its text. */
export type ScriptSpec = { path: string } | { source: string };

/**
 * The script as a local file: a blueprint's own script where it is (it is only read, and the
 * path cannot leave the blueprint's directory), others written to a new temporary directory.
 */
export async function materialize(
  ctx: Pick<OperationContext, 'blueprint'>,
  spec: ScriptSpec,
): Promise<string> {
  if ('source' in spec) {
    const dir = await mkdtemp(join(tmpdir(), 'weft-script-'));
    // Named for what runs it (commandFor): a `#!` line says so itself; otherwise Python when the
    // text parses as Python, as Cloudify's script runner decides, else bash.
    const python = !spec.source.startsWith('#!') && (await parsesAsPython(spec.source));
    const file = join(dir, python ? 'script.py' : 'script');
    await writeFile(file, spec.source);
    return file;
  }
  if (/^https?:\/\//i.test(spec.path)) return fetchScript(spec.path);
  const file = resolve(ctx.blueprint.dir, spec.path);
  const inside = relative(ctx.blueprint.dir, file);
  if (isAbsolute(spec.path) || inside.startsWith('..') || isAbsolute(inside))
    throw new NonRecoverableError(`script '${spec.path}' is outside the blueprint's directory`);
  try {
    await access(file, constants.R_OK);
  } catch {
    throw new NonRecoverableError(`script '${spec.path}' cannot be read in ${ctx.blueprint.dir}`);
  }
  return file;
}

/**
 * Whether an inline script is Python: Cloudify's script runner takes one that `ast.parse` accepts
 * for Python and any other for a shell script (shell commands hardly ever parse as Python). Without
 * python3 it could not run as Python anyway.
 */
function parsesAsPython(source: string): Promise<boolean> {
  const check =
    'import ast, sys\ntry:\n    ast.parse(sys.stdin.read())\nexcept (SyntaxError, ValueError):\n    sys.exit(1)\n';
  return new Promise((done) => {
    const child = execFile('python3', ['-c', check], (error) => done(!error));
    child.stdin?.on('error', () => {}).end(source);
  });
}

async function fetchScript(url: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`script ${url} cannot be downloaded: ${(error as Error).message}`);
  }
  if (!response.ok) {
    const message = `script ${url} cannot be downloaded: HTTP ${response.status}`;
    // A missing script will not appear by retrying; a server error may go away.
    if (response.status >= 400 && response.status < 500) throw new NonRecoverableError(message);
    throw new Error(message);
  }
  const dir = await mkdtemp(join(tmpdir(), 'weft-script-'));
  const file = join(dir, basename(new URL(url).pathname) || 'script');
  await writeFile(file, Buffer.from(await response.arrayBuffer()));
  return file;
}

async function onPath(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * The interpreter a `#!` line names, as the kernel reads it (one optional argument), with
 * `/usr/bin/env NAME` resolved here: one process start instead of two.
 */
function shebang(content: Buffer): string[] | undefined {
  if (content[0] !== 0x23 || content[1] !== 0x21) return undefined;
  const end = content.indexOf(0x0a);
  const line = content
    .subarray(2, end < 0 ? undefined : end)
    .toString('utf8')
    .replace(/\r$/, '')
    .trim();
  const space = line.search(/[ \t]/);
  const program = space < 0 ? line : line.slice(0, space);
  const argument = space < 0 ? '' : line.slice(space).trim();
  if (/^\/(usr\/)?bin\/env$/.test(program) && argument) {
    // `env -S a b` splits; plain env takes one program name (with no options, it runs it).
    if (argument.startsWith('-S')) return argument.slice(2).trim().split(/\s+/);
    if (!argument.startsWith('-')) return [argument];
  }
  return argument ? [program, argument] : [program];
}

/**
 * The command line that runs a script: a command_prefix when given; Python through the runner
 * that gives its exceptions Cloudify's meaning; a shebang; else by extension (bash when none).
 */
export async function commandFor(
  file: string,
  displayName: string,
  commandPrefix: string | undefined,
  args: string[],
): Promise<string[]> {
  if (commandPrefix) return [...commandPrefix.trim().split(/\s+/), file, ...args];
  const extension = extname(displayName).toLowerCase();
  if (extension === '.py') return ['python3', PYTHON_RUNNER, file, ...args];
  const interpreter = shebang(await readFile(file));
  if (interpreter) return [...interpreter, file, ...args];
  switch (extension) {
    case '.js':
    case '.mjs':
    case '.cjs':
      return [process.execPath, file, ...args];
    case '.ps1':
      if (!(await onPath('pwsh')))
        throw new NonRecoverableError(
          `${displayName} is a PowerShell script, and pwsh is not installed on this machine`,
        );
      return ['pwsh', '-NoProfile', '-NonInteractive', '-File', file, ...args];
    case '.rb':
      return ['ruby', file, ...args];
    case '.pl':
      return ['perl', file, ...args];
    case '.bat':
    case '.cmd':
      if (process.platform !== 'win32')
        throw new NonRecoverableError(
          `${displayName} is a Windows batch file; it cannot run on ${process.platform}`,
        );
      return ['cmd.exe', '/c', file, ...args];
    default:
      return ['bash', file, ...args];
  }
}
