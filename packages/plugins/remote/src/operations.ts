// The operations of Cloudify's fabric plugin that do not need Python: run_commands and run_script,
// over one SSH connection per operation, with output streamed into the operation's log.
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { CTX_COMMAND, CtxServer, ctxTree, type ScriptState } from '@weft/plugin-script';
import type { Json, OperationContext } from '@weft/sdk';
import { NonRecoverableError, operation, RecoverableError } from '@weft/sdk';
import { type ConnectionSettings, connectionSettings } from './settings.js';
import { exports, quote, sudo, writeFileLines } from './shell.js';
import { type CommandResult, SshSession } from './ssh.js';

/** A command (or script) that ran and exited with a non-zero status: worth retrying. */
export class RemoteCommandError extends RecoverableError {
  constructor(
    what: string,
    where: string,
    readonly exitCode: number | null,
    readonly signal: string | undefined,
    readonly stderrTail: string,
  ) {
    const status =
      exitCode === null ? `was killed by signal ${signal ?? 'unknown'}` : `exited with status ${exitCode}`;
    super(`${what} on ${where} ${status}${stderrTail ? `; stderr ends with:\n${stderrTail}` : ''}`);
    this.name = 'RemoteCommandError';
  }
}

/** Which output streams go to the log. */
interface Shown {
  stdout: boolean;
  stderr: boolean;
}

/** hide_output as the fabric plugin reads it: a list of fabric's output groups. */
export function shownStreams(hideOutput: unknown): Shown {
  if (hideOutput === undefined || hideOutput === null || hideOutput === false)
    return { stdout: true, stderr: true };
  if (hideOutput === true) return { stdout: false, stderr: false };
  const groups = typeof hideOutput === 'string' ? [hideOutput] : hideOutput;
  const stdoutGroups = ['status', 'aborts', 'warnings', 'running', 'user', 'stdout', 'everything', 'both'];
  const stderrGroups = ['stderr', 'everything', 'both'];
  const known = new Set([...stdoutGroups, ...stderrGroups, 'None']);
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string' || !known.has(g)))
    throw new NonRecoverableError(
      `hide_output must be a list of: ${[...known].join(', ')} (given: ${JSON.stringify(hideOutput)})`,
    );
  return {
    stdout: !groups.some((g) => stdoutGroups.includes(g)),
    stderr: !groups.some((g) => stderrGroups.includes(g)),
  };
}

function exitCodes(value: unknown): Set<number> {
  if (value === undefined || value === null) return new Set();
  if (!Array.isArray(value) || value.some((c) => !Number.isInteger(c)))
    throw new NonRecoverableError('non_recoverable_error_exit_codes must be a list of integers');
  return new Set(value as number[]);
}

/** What every command of an operation shares: the session, the log, sudo and the failure rules. */
class Runner {
  constructor(
    private readonly ctx: OperationContext,
    private readonly session: SshSession,
    private readonly settings: ConnectionSettings,
    private readonly shown: Shown,
    private readonly useSudo: boolean,
    private readonly nonRecoverableCodes: Set<number>,
  ) {}

  /** Runs `command` (with fabric_env.shell_env, through sudo when asked), logging its output. */
  run(command: string): Promise<CommandResult> {
    const body = exports(this.settings.shellEnv) + command;
    const withPassword = this.useSudo && this.settings.sudoPassword !== undefined;
    return this.session.exec(this.useSudo ? sudo(body, withPassword) : body, {
      timeout: this.settings.commandTimeout,
      ...(withPassword ? { stdin: `${this.settings.sudoPassword}\n` } : {}),
      ...(this.shown.stdout ? { onStdoutLine: (line: string) => this.ctx.logger.info(line) } : {}),
      ...(this.shown.stderr ? { onStderrLine: (line: string) => this.ctx.logger.warning(line) } : {}),
    });
  }

  /** Throws when the command failed: non-recoverable for the exit codes the blueprint names. */
  check(result: CommandResult, what: string): void {
    if (result.exitCode === 0) return;
    const error = new RemoteCommandError(
      what,
      this.session.where,
      result.exitCode,
      result.signal,
      result.stderrTail,
    );
    if (result.exitCode !== null && this.nonRecoverableCodes.has(result.exitCode))
      throw new NonRecoverableError(error.message, { causes: [error] });
    throw error;
  }

  /** A helper command of the plugin's own (directories, clean-up): output not logged. */
  async quiet(command: string, what: string, stdin?: string): Promise<string> {
    const result = await this.session.exec(command, {
      timeout: this.settings.commandTimeout,
      ...(stdin === undefined ? {} : { stdin }),
    });
    if (result.exitCode !== 0)
      throw new RemoteCommandError(
        what,
        this.session.where,
        result.exitCode,
        result.signal,
        result.stderrTail,
      );
    return result.stdout;
  }
}

/** Opens the connection, runs `body`, and always closes it. */
async function withRunner<T>(
  ctx: OperationContext,
  inputs: Record<string, Json>,
  body: (runner: Runner, session: SshSession) => Promise<T>,
): Promise<T> {
  const shown = shownStreams(inputs.hide_output);
  const codes = exitCodes(inputs.non_recoverable_error_exit_codes);
  const settings = await connectionSettings(ctx, inputs.fabric_env);
  const session = await SshSession.open(settings, ctx.signal);
  try {
    return await body(new Runner(ctx, session, settings, shown, inputs.use_sudo === true, codes), session);
  } finally {
    session.close();
  }
}

/** fabric's run() result: the output without its trailing line breaks. */
function output(stdout: string): string {
  return stdout.replace(/[\r\n]+$/, '');
}

/**
 * Runs `commands` in order on the host; the first that fails fails the operation. Returns the
 * output of each, in order.
 */
export const run_commands = operation(
  async (ctx, inputs: Record<string, Json>) => {
    const { commands } = inputs;
    if (!Array.isArray(commands) || commands.some((c) => typeof c !== 'string'))
      throw new NonRecoverableError('commands must be a list of command lines');
    if (commands.length === 0) return [];
    return withRunner(ctx, inputs, async (runner) => {
      const outputs: string[] = [];
      for (const command of commands as string[]) {
        ctx.logger.info(`Running command: ${command}`);
        const result = await runner.run(command);
        runner.check(result, `command "${command}"`);
        outputs.push(output(result.stdout));
      }
      return outputs;
    });
  },
  { resumable: true },
);

/** run_script's inputs that configure it; every other input reaches the script as a variable. */
const SCRIPT_INPUTS = new Set([
  'script_path',
  'fabric_env',
  'process',
  'use_sudo',
  'hide_output',
  'non_recoverable_error_exit_codes',
]);

interface ProcessOptions {
  env: Record<string, string>;
  cwd: string | undefined;
  args: string[];
  commandPrefix: string | undefined;
  baseDir: string | undefined;
}

/** The inputs a script sees (as variables, and through ctx): all but those that configure run_script. */
function scriptInputs(inputs: Record<string, Json>): Record<string, Json> {
  return Object.fromEntries(Object.entries(inputs).filter(([name]) => !SCRIPT_INPUTS.has(name)));
}

function asVariable(value: Json): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function processOptions(inputs: Record<string, Json>): ProcessOptions {
  const process = inputs.process ?? {};
  if (process === null || typeof process !== 'object' || Array.isArray(process))
    throw new NonRecoverableError('process must be a map (env, cwd, args, command_prefix, base_dir)');
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(scriptInputs(inputs))) env[name] = asVariable(value);
  const processEnv = process.env ?? {};
  if (processEnv === null || typeof processEnv !== 'object' || Array.isArray(processEnv))
    throw new NonRecoverableError('process.env must be a map of variable names to values');
  for (const [name, value] of Object.entries(processEnv)) env[name] = asVariable(value);
  const args = process.args ?? [];
  if (!Array.isArray(args)) throw new NonRecoverableError('process.args must be a list');
  const text = (key: string): string | undefined => {
    const value = process[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new NonRecoverableError(`process.${key} must be a string`);
    return value;
  };
  return {
    env,
    cwd: text('cwd'),
    args: args.map((a) => asVariable(a)),
    commandPrefix: text('command_prefix'),
    baseDir: text('base_dir'),
  };
}

/** The script's text: a blueprint resource, or an http(s) URL; Windows line ends removed. */
async function scriptText(ctx: OperationContext, scriptPath: string): Promise<Buffer> {
  let content: Buffer;
  if (/^https?:\/\//.test(scriptPath)) {
    const response = await fetch(scriptPath, { signal: ctx.signal }).catch((error: unknown) => {
      throw new RecoverableError(`cannot download the script ${scriptPath}`, { causes: [error] });
    });
    if (!response.ok) {
      const message = `cannot download the script ${scriptPath}: HTTP ${response.status}`;
      throw response.status === 404 ? new NonRecoverableError(message) : new RecoverableError(message);
    }
    content = Buffer.from(await response.arrayBuffer());
  } else {
    try {
      content = await ctx.getResource(scriptPath);
    } catch (error) {
      throw new NonRecoverableError(`the script ${scriptPath} is not a resource of the blueprint`, {
        causes: [error],
      });
    }
  }
  return Buffer.from(content.toString('utf8').replace(/\r\n/g, '\n'), 'utf8');
}

/**
 * The shell script that prepares a run: Cloudify's base directory (`${CFY_EXEC_TEMP or the temp
 * dir}/cloudify-ctx`, or process.base_dir), a run directory with the script, `bin/ctx` and the
 * environment file in it; it prints the base directory. One command instead of one per file.
 */
function prepareScript(
  baseDir: string | undefined,
  runId: string,
  files: [string, string | Buffer, '600' | '700'][],
): string {
  const base =
    baseDir !== undefined
      ? quote(`${baseDir}/cloudify-ctx`)
      : // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
        '"${CFY_EXEC_TEMP:-$(dirname "$(mktemp -u)")}/cloudify-ctx"';
  return [
    'set -e',
    'umask 077',
    `d=${base}`,
    `r="$d/runs/${runId}"`,
    'mkdir -p "$d/work" "$r/bin"',
    ...files.map(([name, content, mode]) => writeFileLines(`"$r/${name}"`, content, mode)),
    'printf %s "$d"',
    '',
  ].join('\n');
}

/** A `ctx` that says why it cannot work, for a server that refused the forwarded port. */
function unavailableCtx(reason: string): string {
  return `#!/bin/sh\necho ${quote(`ctx is not available on this host: ${reason}`)} >&2\nexit 1\n`;
}

/**
 * The `bin/ctx` of a run: the script plugin's ctx command (bash), talking to this operation's
 * ctx endpoint through a port the SSH server forwards back to us; or why there is none.
 */
async function ctxCommand(
  ctx: OperationContext,
  session: SshSession,
  server: CtxServer,
  scriptPath: string,
): Promise<{ client: string; socketUrl: string | undefined }> {
  try {
    const remotePort = await session.forwardToLocal(server.port);
    return { client: CTX_COMMAND, socketUrl: `http://127.0.0.1:${remotePort}${server.path}` };
  } catch (error) {
    const reason = `the SSH server refused to forward a port back (${error instanceof Error ? error.message : error}); allow it with AllowTcpForwarding in its sshd_config`;
    ctx.logger.warning(`ctx is not available to ${scriptPath}: ${reason}`);
    return { client: unavailableCtx(reason), socketUrl: undefined };
  }
}

/**
 * Uploads a blueprint script to the host and runs it there, with the operation's inputs and
 * `process.env` as environment variables and a `ctx` command that calls back into this operation
 * (through a port the SSH server forwards to us). Returns what the script passed to `ctx returns`,
 * else its output.
 */
export const run_script = operation(async (ctx, inputs: Record<string, Json>) => {
  const scriptPath = inputs.script_path;
  if (typeof scriptPath !== 'string' || scriptPath === '')
    throw new NonRecoverableError('script_path must name a script of the blueprint');
  const options = processOptions(inputs);
  const script = await scriptText(ctx, scriptPath);
  return withRunner(ctx, inputs, async (runner, session) => {
    const name = basename(scriptPath).replace(/[^A-Za-z0-9._-]/g, '_');
    const runId = `${name}-${randomBytes(4).toString('hex')}`;
    let base = '';
    const state: ScriptState = {};
    // Resources a remote script downloads are uploaded to its host.
    const tree = ctxTree(ctx, state, scriptInputs(inputs), async (path, target, variables, render) => {
      const content = render
        ? Buffer.from(await ctx.getResourceAndRender(path, variables), 'utf8')
        : await ctx.getResource(path);
      const destination = target ?? `${base}/work/${basename(path)}`;
      await session.writeFile(destination, content, '600');
      return destination;
    });
    const server = await CtxServer.start(tree, state, { secretPath: true, limits: ctx.limits });
    try {
      const { client, socketUrl } = await ctxCommand(ctx, session, server, scriptPath);
      const env = socketUrl === undefined ? options.env : { ...options.env, CTX_SOCKET_URL: socketUrl };
      const prepare = prepareScript(options.baseDir, runId, [
        [name, script, '700'],
        ['bin/ctx', client, '700'],
        ['env', exports(env), '600'],
      ]);
      base = await runner.quiet('sh -s', 'preparing the script directory', prepare);
      const runDir = `${base}/runs/${runId}`;
      const command = [options.commandPrefix, quote(`${runDir}/${name}`), ...options.args.map(quote)]
        .filter((part) => part !== undefined)
        .join(' ');
      const cwd = options.cwd ?? `${base}/work`;
      ctx.logger.info(`Running script: ${scriptPath}`);
      // The run directory holds the environment, which may carry secrets: it goes when the script ends.
      const result = await runner.run(
        `(cd ${quote(cwd)} && export PATH=${quote(`${runDir}/bin`)}:"$PATH" && . ${quote(`${runDir}/env`)} && ${command}); ` +
          `s=$?; rm -rf ${quote(runDir)}; exit $s`,
      );
      const stop = state.stop;
      if (stop?.kind === 'abort')
        throw new NonRecoverableError(stop.message || `${scriptPath} aborted the operation`);
      if (stop?.kind === 'retry') ctx.operation.retry(stop.message, stop.after);
      runner.check(result, `script ${scriptPath}`);
      return state.returned !== undefined ? state.returned : output(result.stdout);
    } finally {
      await server.close();
    }
  });
});

function pythonOnly(what: string, details: string): never {
  throw new NonRecoverableError(
    `fabric.fabric_plugin.tasks.${what} runs a Python fabric task (${details}), which Weft cannot run: ` +
      'use fabric.fabric_plugin.tasks.run_commands with the commands the task runs, or run_script with a shell script',
  );
}

/** Python fabric tasks cannot run here: the failure says what to use instead. */
export const run_task = operation((_ctx, inputs: Record<string, Json>) =>
  pythonOnly(
    'run_task',
    `task_name ${JSON.stringify(inputs.task_name)} of tasks_file ${JSON.stringify(inputs.tasks_file)}`,
  ),
);

export const run_module_task = operation((_ctx, inputs: Record<string, Json>) =>
  pythonOnly('run_module_task', `task_mapping ${JSON.stringify(inputs.task_mapping)}`),
);
