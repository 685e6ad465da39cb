import type { EventRecord, ExecutionRecord } from '@weft/engine';

/** One plain, timestamped line per event (for logs, CI and pipes). */
export function eventLine(event: EventRecord): string {
  const where = event.instanceId
    ? ` [${event.instanceId}${event.operation ? ` ${event.operation.split('.').slice(-1)[0]}` : ''}]`
    : '';
  const level = event.level === 'info' ? '' : ` ${event.level.toUpperCase()}`;
  return `${event.timestamp}${level}${where} ${event.message}`;
}

/** What a failed execution leaves the user with: the task, the error, its causes, and what to do. */
export function failureReport(
  execution: ExecutionRecord,
  lastLogs: EventRecord[],
  stateOptions = '',
): string {
  const error = (execution.error ?? {}) as {
    message?: string;
    task?: { instance: string; operation: string } | null;
    causes?: { type: string; message: string }[];
  };
  const lines = [`Execution ${execution.id} (${execution.workflow}) ${execution.status}.`];
  // A task without an instance is a workflow script.
  if (error.task)
    lines.push(
      `  failed task: ${error.task.instance ? `${error.task.operation} on ${error.task.instance}` : `workflow script ${error.task.operation}`}`,
    );
  // A message of several lines (every problem with a resource's properties) keeps its indent,
  // and causes that are its lines are not listed again.
  const messageLines = (error.message ?? '').split('\n');
  if (error.message) lines.push(`  error: ${messageLines.join('\n    ')}`);
  const listed = new Set(messageLines.length > 1 ? messageLines.map((line) => line.trim()) : []);
  for (const cause of error.causes ?? [])
    if (!listed.has(cause.message)) lines.push(`  caused by ${cause.type}: ${cause.message}`);
  if (lastLogs.length > 0) {
    lines.push('  last log lines:');
    for (const log of lastLogs) lines.push(`    ${eventLine(log)}`);
  }
  // Operations that were running when a crash came are run again only when asked.
  const inFlight = /--retry-in-flight/.test(error.message ?? '') ? ' --retry-in-flight' : '';
  lines.push(`  resume it with: weft resume ${execution.id}${stateOptions}${inFlight}`);
  return lines.join('\n');
}
