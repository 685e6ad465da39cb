// weft.nodes.LocalProcess: a long-running command on this machine (a dev server, a stub of a
// service). Create starts it detached, so it outlives the worker that ran the operation, with
// its output in a log file in the plugin's work directory, and completes once its health check
// passes (TCP or HTTP, polled on the engine's retry timer); a process that exits first fails the
// create at once, with the log's last lines. Delete stops the process group: SIGTERM, then
// SIGKILL after stop_timeout; a process already gone is fine. Any change replaces it (a restart).
// Its log file is emptied at each start. Its check fails when the process is gone or unhealthy.
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import {
  Custom,
  type Json,
  NonRecoverableError,
  type Problem,
  type PropertiesOf,
  type PropertiesSchema,
  Range,
  Resource,
} from '@weft/sdk';
import { describeCheck, type HealthCheck, runCheck } from './health-check.js';
import {
  exitOf,
  groupRunning,
  isRunning,
  logTail,
  type Started,
  signalGroup,
  spawnDetached,
} from './processes.js';

function isArgv(value: unknown): value is string[] {
  return Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string' && a !== '');
}

const schema = {
  command: {
    type: 'any',
    description:
      'The command: a string (run by /bin/sh -c) or an argv list (run as is). It must keep running.',
    required: true,
    constraints: [
      Custom(
        (command) => (typeof command === 'string' && command.trim() !== '') || isArgv(command),
        'must be a non-empty string or a non-empty list of non-empty strings',
      ),
    ],
  },
  cwd: {
    type: 'string',
    description: "The working directory (default: the blueprint's directory).",
  },
  env: {
    type: 'map',
    description: "Environment variables, added to the worker's environment.",
    default: {},
    constraints: [
      Custom(
        (env) => Object.values(env as Record<string, Json>).every((v) => v !== null && typeof v !== 'object'),
        'values must be strings, numbers or booleans',
      ),
    ],
  },
  health_check: {
    type: 'map',
    description:
      'When the process counts as started: `tcp: PORT` (and `host`, default 127.0.0.1) accepts connections, or `http: URL` answers `expected_status` (default 200). Without it, once it runs.',
    default: {},
    schema: {
      tcp: {
        type: 'integer',
        description: 'A port to connect to.',
        constraints: [Range({ min: 1, max: 65535 })],
      },
      host: { type: 'string', description: 'The host of the tcp check.', default: '127.0.0.1' },
      http: { type: 'string', description: 'A URL to GET.' },
      expected_status: {
        type: 'integer',
        description: 'The HTTP status the URL must answer.',
        default: 200,
        constraints: [Range({ min: 100, max: 599 })],
      },
    },
  },
  startup_timeout: {
    type: 'number',
    description: 'Seconds the health check may take to pass; then the process is stopped and create fails.',
    default: 30,
    constraints: [Range({ min: 0 })],
  },
  stop_timeout: {
    type: 'number',
    description: 'Seconds between SIGTERM and SIGKILL when stopping.',
    default: 10,
    constraints: [Range({ min: 0 })],
  },
} as const satisfies PropertiesSchema;

export type LocalProcessProperties = PropertiesOf<typeof schema>;

/** Seconds a process group may take to go after SIGKILL before delete gives up. */
const KILL_WAIT_SECONDS = 10;

interface StartToken {
  /** Epoch milliseconds. */
  deadline: number;
}

interface StopToken {
  /** Epoch milliseconds of the SIGTERM. */
  signalled: number;
  grace: number;
}

export class LocalProcess extends Resource<LocalProcessProperties> {
  static override properties: PropertiesSchema = schema;
  static override attributes = { pid: 'The process id.', log_file: 'Where its output goes.' };
  static override pollInterval = 0.5;
  // The new process would find the old one on its port, and its health check would ask the old one.
  static override deleteBeforeReplace = true;

  /** One health check, and an http one with an http(s) URL. */
  static override validate(values: Record<string, Json>): Problem[] {
    const check = values.health_check as Partial<HealthCheck> | undefined;
    const problems: Problem[] = [];
    if (check?.tcp !== undefined && check.http !== undefined) {
      problems.push({ path: 'health_check', message: 'give tcp or http, not both' });
    }
    if (typeof check?.http === 'string' && !/^https?:\/\/[^/]/.test(check.http)) {
      problems.push({
        path: 'health_check.http',
        message: `${JSON.stringify(check.http)} is not an http(s) URL`,
      });
    }
    return problems;
  }

  private get argv(): string[] {
    const command = this.properties.command;
    return typeof command === 'string' ? ['/bin/sh', '-c', command] : (command as string[]);
  }

  private get check(): HealthCheck {
    return this.properties.health_check as unknown as HealthCheck;
  }

  /** The process the runtime properties name, if any. */
  private get started(): Started | undefined {
    const rp = this.ctx.instance.runtimeProperties;
    if (typeof rp.pid !== 'number') return undefined;
    return { pid: rp.pid, startTime: typeof rp.pid_start_time === 'number' ? rp.pid_start_time : null };
  }

  /** Names the process without its arguments, which may hold secrets. */
  private label(pid: number): string {
    const name = typeof this.properties.command === 'string' ? 'the command' : basename(this.argv[0]!);
    return `${name} [pid ${pid}]`;
  }

  override async handleCreate(): Promise<Json> {
    const rp = this.ctx.instance.runtimeProperties;
    mkdirSync(this.ctx.plugin.workdir, { recursive: true });
    const logFile = join(this.ctx.plugin.workdir, `${this.ctx.instance.id}.log`);
    let started: Started;
    try {
      started = await spawnDetached({
        argv: this.argv,
        cwd: this.properties.cwd ?? this.ctx.blueprint.dir,
        env: Object.fromEntries(Object.entries(this.properties.env).map(([k, v]) => [k, String(v)])),
        logFile,
      });
    } catch (error) {
      throw new NonRecoverableError(`cannot start ${basename(this.argv[0]!)}: ${(error as Error).message}`, {
        causes: [error],
      });
    }
    rp.pid = started.pid;
    rp.pid_start_time = started.startTime;
    rp.log_file = logFile;
    this.resourceId = String(started.pid);
    this.ctx.logger.info(
      `started ${this.label(started.pid)}, output in ${logFile}; waiting until ${describeCheck(this.check)}`,
    );
    const token: StartToken = { deadline: Date.now() + this.properties.startup_timeout * 1000 };
    return { ...token };
  }

  override async checkCreateComplete(token: Json): Promise<boolean> {
    const { deadline } = token as unknown as StartToken;
    const started = this.started!;
    const logFile = String(this.ctx.instance.runtimeProperties.log_file);
    if (!isRunning(started)) {
      const how = exitOf(started.pid);
      throw new NonRecoverableError(
        `${this.label(started.pid)} exited${how ? ` (${how})` : ''} before ${describeCheck(this.check)}; ` +
          `the end of ${logFile}:\n${(await logTail(logFile)) || '(empty)'}`,
      );
    }
    try {
      await runCheck(this.check);
    } catch (error) {
      if (Date.now() < deadline) return false;
      // Nothing is left running behind a failed create.
      signalGroup(started, 'SIGKILL');
      throw new NonRecoverableError(
        `${this.label(started.pid)} was not healthy within ${this.properties.startup_timeout} s ` +
          `(${(error as Error).message}), so it was killed; the end of ${logFile}:\n${(await logTail(logFile)) || '(empty)'}`,
      );
    }
    this.ctx.logger.info(`${this.label(started.pid)} is up: ${describeCheck(this.check)}`);
    return true;
  }

  /** The process it started still runs (not another one under its pid) and passes its health check. */
  override async handleCheck(): Promise<null> {
    const started = this.started;
    if (!started) throw new Error('no process was started');
    if (!isRunning(started)) {
      const how = exitOf(started.pid);
      throw new Error(`${this.label(started.pid)} is not running${how ? ` (${how})` : ''}`);
    }
    try {
      await runCheck(this.check);
    } catch (error) {
      throw new Error(
        `${this.label(started.pid)} runs but is not healthy: ${describeCheck(this.check)} failed (${(error as Error).message})`,
      );
    }
    return null;
  }

  override handleDelete(): Json {
    const started = this.started;
    if (!started) return null;
    if (!groupRunning(started) || !signalGroup(started, 'SIGTERM')) {
      this.ctx.logger.info(`${this.label(started.pid)} is not running`);
      return null;
    }
    this.ctx.logger.info(`stopping ${this.label(started.pid)} (SIGTERM)`);
    const token: StopToken = { signalled: Date.now(), grace: this.properties.stop_timeout };
    return { ...token };
  }

  override checkDeleteComplete(token: Json): boolean {
    const started = this.started;
    if (token !== null && started && groupRunning(started)) {
      const { signalled, grace } = token as unknown as StopToken;
      const waited = (Date.now() - signalled) / 1000;
      if (waited < grace) return false;
      if (waited > grace + KILL_WAIT_SECONDS) {
        throw new NonRecoverableError(`${this.label(started.pid)} is still running after SIGKILL`);
      }
      // Again at every poll: harmless, and sure to reach processes the group gained meanwhile.
      if (signalGroup(started, 'SIGKILL'))
        this.ctx.logger.warning(`killed ${this.label(started.pid)} (SIGKILL)`);
      return !groupRunning(started);
    }
    if (started) this.ctx.logger.info(`${this.label(started.pid)} stopped`);
    const rp = this.ctx.instance.runtimeProperties;
    rp.pid = null;
    rp.pid_start_time = null;
    return true;
  }

  override resolveAttribute(name: string): Json | undefined {
    return this.ctx.instance.runtimeProperties[name];
  }
}
