// Test helpers: a real HTTP(S) server on 127.0.0.1 that records what it receives and answers as
// each test says, a throwaway self-signed certificate, and the weft CLI run asynchronously (the
// server lives in the test process, so the CLI must not block it).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttp,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@weft/testing/cli';

export const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));

export interface Hit {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string | string[]>;
  /** An object is sent as JSON. */
  body?: unknown;
  /** Wait this long before answering (for timeouts). */
  delayMs?: number;
}

export type Handler = (hit: Hit, count: number) => Reply;

export interface TestServer {
  port: number;
  hits: Hit[];
  /** Answers requests for `method path` (path without the query); a count per route is passed. */
  route(method: string, path: string, handler: Handler | Reply): void;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server (or HTTPS with `tls`) answering the routes tests add; others get 404. */
export async function startServer(tls?: { key: string; cert: string }): Promise<TestServer> {
  const routes = new Map<string, { handler: Handler; count: number }>();
  const hits: Hit[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const hit: Hit = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      hits.push(hit);
      const key = `${hit.method} ${hit.url.split('?')[0]}`;
      const route = routes.get(key);
      const reply: Reply = route ? route.handler(hit, ++route.count) : { status: 404, body: { error: key } };
      const send = () => {
        const json = reply.body !== undefined && typeof reply.body !== 'string';
        res.writeHead(reply.status ?? 200, {
          ...(json ? { 'content-type': 'application/json' } : {}),
          ...reply.headers,
        });
        res.end(json ? JSON.stringify(reply.body) : ((reply.body as string | undefined) ?? ''));
      };
      if (reply.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, reply.delayMs);
        timers.add(timer);
      } else send();
    });
  };
  const server = tls ? createHttps(tls, handle) : createHttp(handle);
  const port = await listen(server);
  return {
    port,
    hits,
    route(method, path, handler) {
      routes.set(`${method} ${path}`, {
        handler: typeof handler === 'function' ? handler : () => handler,
        count: 0,
      });
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on: one the system gave us, then closed. */
export async function deadPort(): Promise<number> {
  const server = createHttp();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Certificate {
  key: string;
  cert: string;
  certPath: string;
}

function run(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(file, args, { ...options, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ status: code, stdout, stderr });
    });
  });
}

/** A self-signed certificate for 127.0.0.1, made with openssl for this test run. */
export async function selfSignedCertificate(): Promise<Certificate> {
  const dir = tempDir('weft-rest-cert-');
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const made = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyPath,
    '-out',
    certPath,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr}`);
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath };
}
