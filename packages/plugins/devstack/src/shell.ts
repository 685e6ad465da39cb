/**
 * One step of a DevStack run in its own bash (lib/run.sh): the helper functions, localrc, the
 * plugins' override-defaults and settings, then the step. Output goes line by line to a sink;
 * the last lines are kept for the failure report. Reports (plugins, services, requirements)
 * come back on a file descriptor of their own so that a plugin's output cannot be mistaken for
 * them.
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LIB_DIR = fileURLToPath(new URL('../../lib', import.meta.url));

/** Lines of output kept for a failure report. */
const TAIL_LINES = 20;

export type Action = 'discover' | 'settings' | 'call' | 'merge' | 'stop-processes';

export interface ShellStep {
  action: Action;
  localConf: string;
  localrcCopy: string;
  defaultDest: string;
  /** The plugins in run order (not needed by discover). */
  order?: string[];
  mode?: string;
  phase?: string;
  plugin?: string;
  mergeScript?: string;
  /** Environment added to the process's (WEFT_ALLOW_PACKAGES, WEFT_NEEDED_PACKAGES). */
  env?: Record<string, string>;
  signal?: AbortSignal;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

export interface ShellResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Lines written to the report descriptor, split on tabs. */
  reports: string[][];
  /** The last lines of output. */
  tail: string[];
}

/** How long output may go on arriving after bash exited (a background child holding the pipe). */
const DRAIN_MS = 500;

export function runShell(step: ShellStep): Promise<ShellResult> {
  const reporting = step.action === 'discover' || step.action === 'settings';
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ...step.env,
    WEFT_DEVSTACK_LIB: LIB_DIR,
    WEFT_LOCAL_CONF: step.localConf,
    WEFT_LOCALRC_COPY: step.localrcCopy,
    WEFT_DEFAULT_DEST: step.defaultDest,
    WEFT_ACTION: step.action,
    WEFT_PLUGIN_ORDER: (step.order ?? []).join(' '),
    WEFT_MODE: step.mode ?? '',
    WEFT_PHASE: step.phase ?? '',
    WEFT_PLUGIN: step.plugin ?? '',
    WEFT_MERGE_SCRIPT: step.mergeScript ?? '',
  };
  if (reporting) env.WEFT_REPORT_FD = '3';
  else delete env.WEFT_REPORT_FD;
  return new Promise((resolve, reject) => {
    // Its own process group, so that a cancelled step ends with everything it started (except
    // run_process services, which are sessions of their own until unstack).
    const child = spawn('bash', [`${LIB_DIR}/run.sh`], {
      env,
      // DevStack's scripts run from its top directory: relative paths are local.conf's directory's.
      cwd: dirname(step.localConf),
      stdio: reporting ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const tail: string[] = [];
    const reports: string[][] = [];
    const lineReader = (stream: NodeJS.ReadableStream, each: (line: string) => void) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop()!;
        for (const part of parts) each(part);
      });
      stream.on('end', () => {
        if (rest) each(rest);
        rest = '';
      });
    };
    const output = (stream: 'stdout' | 'stderr') => (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      step.onLine?.(line, stream);
    };
    lineReader(child.stdout!, output('stdout'));
    lineReader(child.stderr!, output('stderr'));
    if (reporting)
      lineReader(child.stdio[3] as NodeJS.ReadableStream, (line) => reports.push(line.split('\t')));
    const abort = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
    };
    step.signal?.addEventListener('abort', abort, { once: true });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      step.signal?.removeEventListener('abort', abort);
      const done = () => resolve({ code, signal, reports, tail });
      // Output still in the pipes arrives before 'close'; a background process that kept them
      // open (started without redirecting its output) must not hold the step forever.
      const timer = setTimeout(() => {
        for (const stream of [child.stdout, child.stderr]) stream?.destroy();
        done();
      }, DRAIN_MS);
      child.once('close', () => {
        clearTimeout(timer);
        done();
      });
    });
  });
}
