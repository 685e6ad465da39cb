// Health checks of a local process: a TCP port that accepts connections, or an HTTP URL that
// answers with the expected status. Each is one attempt, bounded in time: polling is the caller's.
import { connect } from 'node:net';

export interface HealthCheck {
  tcp?: number;
  /** The host of the tcp check. */
  host: string;
  http?: string;
  expected_status: number;
}

/** The time one attempt may take. */
const ATTEMPT_MS = 2000;

function tcpCheck(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: ATTEMPT_MS });
    socket.once('connect', () => {
      // A gentle close: our FIN, and whatever the server sends read and dropped. Destroying the
      // socket with the server's greeting unread would reset the connection, which some servers
      // do not survive.
      socket.setTimeout(ATTEMPT_MS, () => socket.destroy());
      socket.on('error', () => {});
      socket.resume();
      socket.end();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no connection to ${host}:${port} within ${ATTEMPT_MS / 1000} s`));
    });
    socket.once('error', (error) => reject(new Error(`${host}:${port}: ${error.message}`)));
  });
}

async function httpCheck(url: string, expected: number): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(ATTEMPT_MS), redirect: 'manual' });
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    throw new Error(`GET ${url}: ${cause ?? (error as Error).message}`);
  }
  // The body is not needed: release the connection.
  await response.body?.cancel();
  if (response.status !== expected) {
    throw new Error(`GET ${url}: HTTP ${response.status}, expected ${expected}`);
  }
}

/** What is checked, for messages. */
export function describeCheck(check: HealthCheck): string {
  if (check.http !== undefined) return `GET ${check.http} answers ${check.expected_status}`;
  if (check.tcp !== undefined) return `${check.host}:${check.tcp} accepts connections`;
  return 'the process is running';
}

/** Resolves when the check passes; rejects with what went wrong otherwise. No check: passes. */
export async function runCheck(check: HealthCheck): Promise<void> {
  if (check.http !== undefined) return httpCheck(check.http, check.expected_status);
  if (check.tcp !== undefined) return tcpCheck(check.host, check.tcp);
}
