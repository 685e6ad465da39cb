import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { delimiter } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type ErrorCause,
  type Json,
  NonRecoverableError,
  type OperationContext,
  operation,
  pythonJson,
  pythonStr,
  RecoverableError,
} from '@weft/sdk';
import { CtxServer } from './ctx-server.js';
import { ctxTree, type ScriptState } from './ctx-tree.js';
import {
  BIN_DIR,
  CTX_FUNCTION,
  commandFor,
  materialize,
  PYTHON_DIR,
  type ScriptSpec,
} from './script-file.js';

/** Cloudify's `process` input. */
interface ProcessOptions {
  env?: Record<string, Json>;
  cwd?: string;
  args?: Json[];
  command_prefix?: string;
}

/** How long output is still read after the script exits, when something it started holds the pipes. */
const OUTPUT_GRACE_MS = 200;

/** Lines of stderr kept for the error of a failed script. */
const STDERR_TAIL = 20;

/** The end of a script's stderr, as the cause of its failure. */
export function stderrCauses(exit: Exit): ErrorCause[] {
  const tail = exit.stderr.join('\n');
  return tail ? [{ type: 'stderr', message: exit.stderr[exit.stderr.length - 1]!, stack: tail }] : [];
}

/** Variables of the engine's own that a script has no business seeing. */
const PRIVATE_ENV = /^WEFT_SECRET/;

/**
 * An input as an environment variable, as Cloudify's script plugin writes it: maps, lists and
 * booleans as Python's json.dumps, anything else as Python's str() (null is `None`).
 */
const asText = (value: Json): string =>
  typeof value === 'string'
    ? value
    : value !== null && typeof value === 'object'
      ? pythonJson(value)
      : typeof value === 'boolean'
        ? String(value)
        : pythonStr(value);

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function processOptions(value: Json | undefined): ProcessOptions {
  if (value === undefined || value === null) return {};
  if (!isMap(value))
    throw new NonRecoverableError(`the 'process' input must be a map, got ${JSON.stringify(value)}`);
  const options = value as ProcessOptions;
  if (options.env !== undefined && !isMap(options.env))
    throw new NonRecoverableError('process.env must be a map of variable names to values');
  if (options.args !== undefined && !Array.isArray(options.args))
    throw new NonRecoverableError('process.args must be a list');
  return options;
}

/** The inputs a script is given: all but those that say what to run and how. */
function scriptInputs(inputs: Record<string, Json>): Record<string, Json> {
  const { script_path: _path, script_source: _source, process: _process, ...rest } = inputs;
  return rest;
}

function scriptSpec(inputs: Record<string, Json>): ScriptSpec {
  if (typeof inputs.script_source === 'string') return { source: inputs.script_source };
  if (typeof inputs.script_path === 'string' && inputs.script_path !== '')
    return { path: inputs.script_path };
  throw new NonRecoverableError(
    "no script to run: give the operation a 'script_path' input (or 'script_source')",
  );
}

/** This process's environment without the engine's own variables, for a script to start from. */
export function ownEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!PRIVATE_ENV.test(name)) env[name] = value;
  return env;
}

/**
 * The environment of a script, as Cloudify builds it: this process's, every other operation
 * input (see asText), `process.env`, the ctx endpoint, and the plugin's `ctx` command
 * and Python module first on PATH and PYTHONPATH.
 */
export function environment(
  inputs: Record<string, Json>,
  options: ProcessOptions,
  ctxUrl: string,
): NodeJS.ProcessEnv {
  const env = ownEnvironment();
  const exported = (name: string) => name !== '' && !name.includes('=') && !name.includes('\0');
  for (const [name, value] of Object.entries(scriptInputs(inputs)))
    if (exported(name)) env[name] = asText(value);
  for (const [name, value] of Object.entries(options.env ?? {}))
    if (exported(name)) env[name] = asText(value);
  env.CTX_SOCKET_URL = ctxUrl;
  env['BASH_FUNC_ctx%%'] = CTX_FUNCTION;
  env.PATH = env.PATH ? `${BIN_DIR}${delimiter}${env.PATH}` : BIN_DIR;
  env.PYTHONPATH = env.PYTHONPATH ? `${PYTHON_DIR}${delimiter}${env.PYTHONPATH}` : PYTHON_DIR;
  return env;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string[];
}

/** Told of each output line as it comes, besides the log (to keep the whole output). */
export interface OutputLines {
  stdout(line: string): void;
  stderr(line: string): void;
}

/** Runs the command, its output lines going to the operation's log; ends it (and its children) on abort. */
export function execute(
  ctx: Pick<OperationContext, 'signal' | 'logger'>,
  argv: string[],
  env: NodeJS.ProcessEnv,
  cwd: string | undefined,
  lines?: OutputLines,
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env,
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a cancel or timeout ends what the script started as well.
      detached: true,
    });
    const stderr: string[] = [];
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    ctx.signal.addEventListener('abort', kill, { once: true });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines?.stdout(line);
      ctx.logger.info(line);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines?.stderr(line);
      stderr.push(line);
      if (stderr.length > STDERR_TAIL) stderr.shift();
      ctx.logger.info(`<err> ${line}`);
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      ctx.signal.removeEventListener('abort', kill);
      reject(
        error.code === 'ENOENT'
          ? new NonRecoverableError(`cannot run ${argv[0]}: it is not installed (not found on PATH)`)
          : error,
      );
    });
    const drained = Promise.all([child.stdout!, child.stderr!].map((stream) => once(stream, 'close')));
    // 'exit', not 'close': a daemon the script started may hold its output open for good. What
    // the script itself wrote is read first: the pipes' ends, or a moment's grace for that daemon.
    child.once('exit', (code, signal) => {
      ctx.signal.removeEventListener('abort', kill);
      let grace: NodeJS.Timeout | undefined;
      void Promise.race([drained, new Promise((done) => (grace = setTimeout(done, OUTPUT_GRACE_MS)))]).then(
        () => {
          clearTimeout(grace);
          child.stdout!.destroy();
          child.stderr!.destroy();
          resolve({ code, signal, stderr });
        },
      );
    });
  });
}

/**
 * Runs a script (`script_path`, relative to the blueprint or a URL, or `script_source`) with the
 * ctx command available, as Cloudify's `script_runner.tasks.run`. What the script asked for
 * through ctx (abort, retry, returns) decides how the operation ends, whatever its exit code;
 * otherwise a non-zero exit is a recoverable failure with the end of its stderr as its cause.
 */
export const run = operation(async (ctx: OperationContext, inputs: Record<string, Json>) => {
  const spec = scriptSpec(inputs);
  const options = processOptions(inputs.process);
  const name = 'path' in spec ? spec.path : 'the inline script';
  const file = await materialize(ctx, spec);
  const args = (options.args ?? []).map(asText);
  const argv = await commandFor(file, 'path' in spec ? spec.path : file, options.command_prefix, args);
  const state: ScriptState = {};
  // At a random path: other users of this machine can reach a loopback port too.
  const server = await CtxServer.start(ctxTree(ctx, state, scriptInputs(inputs)), state, {
    secretPath: true,
    limits: ctx.limits,
  });
  let exit: Exit;
  try {
    exit = await execute(ctx, argv, environment(inputs, options, server.url), options.cwd);
  } finally {
    await server.close();
  }
  const stop = state.stop;
  if (stop?.kind === 'abort') throw new NonRecoverableError(stop.message || `${name} aborted the operation`);
  if (stop?.kind === 'retry') ctx.operation.retry(stop.message, stop.after);
  const causes = stderrCauses(exit);
  if (stop?.kind === 'error') {
    const failure: { causes: typeof causes; retryAfter?: number } = { causes };
    if (stop.after !== undefined) failure.retryAfter = stop.after;
    throw new RecoverableError(stop.message, failure);
  }
  if (exit.code !== 0) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    // Its stderr was logged line by line as it came, and is the cause: not repeated in the message.
    throw new RecoverableError(`${name} ${how}`, { causes });
  }
  return state.returned;
});
