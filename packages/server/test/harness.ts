/**
 * A real server for tests: listening on loopback, on SQLite files in a temporary directory or on a
 * PostgreSQL database of its own (created for it, dropped after), with a first admin and its token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDeployment, fileSystemReader, type Store, type ValueMap } from '@weft/engine';
import pg from 'pg';
import { initAdmin, type RunningServer, startServer } from '../src/index.js';

export const POSTGRES = process.env.WEFT_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export type Backend = 'sqlite' | 'postgres';

export interface TestServer extends RunningServer {
  backend: Backend;
  stateDir: string;
  adminToken: string;
  /** A request to the API (path under /api/v1), as JSON, with the admin's token unless told. */
  api(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  stop(): Promise<void>;
}

export interface RequestOptions {
  /** A token, or null for none (default: the admin's). */
  token?: string | null;
  tenant?: string;
  /** JSON, or a string or bytes sent as they are (with a content-type header of the test's). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A parsed JSON body: tests read it field by field and assert on what they read. */
// biome-ignore lint/suspicious/noExplicitAny: a body's shape is what the test asserts
export type Doc = any;

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: Doc;
}

/** A database only this server uses. */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `weft_srv_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export async function startTestServer(
  backend: Backend = 'sqlite',
  options: { pluginDirs?: string[] } = {},
): Promise<TestServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'weft-server-'));
  const database = backend === 'postgres' ? await freshDatabase() : undefined;
  const server = await startServer({
    stateDir,
    database: database?.url,
    pluginDirs: options.pluginDirs ?? [],
    host: '127.0.0.1',
    port: 0,
  });
  const { token } = await initAdmin(server.context.access, 'admin', 'admin-password');
  const api = async (method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...options.headers };
    const bearer = options.token === undefined ? token : options.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    if (options.tenant) headers.tenant = options.tenant;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body =
        typeof options.body === 'string' || options.body instanceof Uint8Array
          ? (options.body as string)
          : JSON.stringify(options.body);
    }
    const response = await fetch(`${server.url}/api/v1${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: the text itself
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
  return {
    ...server,
    backend,
    stateDir,
    adminToken: token,
    api,
    stop: async () => {
      await server.close();
      await database?.drop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Creates a user with a role in a tenant (made if missing) and returns a token of theirs. */
export async function userWithRole(
  server: TestServer,
  name: string,
  tenant: string,
  role: 'viewer' | 'operator' | 'admin',
): Promise<string> {
  const tenantMade = await server.api('POST', '/tenants', { body: { name: tenant } });
  if (tenantMade.status !== 201 && tenantMade.status !== 409)
    throw new Error(JSON.stringify(tenantMade.body));
  const made = await server.api('POST', '/users', { body: { name, password: `${name}-password` } });
  if (made.status !== 201) throw new Error(JSON.stringify(made.body));
  const member = await server.api('PUT', `/tenants/${tenant}/members/${name}`, { body: { role } });
  if (member.status !== 200) throw new Error(JSON.stringify(member.body));
  const login = await server.api('POST', '/auth/login', {
    token: null,
    body: { username: name, password: `${name}-password` },
  });
  if (login.status !== 201) throw new Error(JSON.stringify(login.body));
  return login.body.token;
}

/** The test fixtures (in the source tree: tsc does not copy them). */
export const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

/** Creates a deployment in a tenant's store from a blueprint directory, as the engine does. */
export async function deploy(
  tenant: { store: Store },
  blueprintPath: string,
  deploymentId: string,
  inputs: Record<string, unknown>,
): Promise<void> {
  const { store } = tenant;
  const made = await createDeployment({
    store,
    reader: fileSystemReader({}),
    blueprintPath,
    deploymentId,
    inputs: inputs as ValueMap,
  });
  if (!made.deployment) throw new Error(made.problems.problems.map((p) => p.message).join('\n'));
}

export interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a Server-Sent Events stream: messages until `until` says stop (the connection is then
 * closed), or until the server ends it.
 */
export async function readStream(
  url: string,
  headers: Record<string, string>,
  until: (message: SseMessage, all: SseMessage[]) => boolean = () => false,
): Promise<{ status: number; contentType: string | null; messages: SseMessage[] }> {
  const abort = new AbortController();
  const response = await fetch(url, { headers, signal: abort.signal });
  const messages: SseMessage[] = [];
  if (!response.ok || !response.body)
    return { status: response.status, contentType: response.headers.get('content-type'), messages };
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const message: SseMessage = { event: 'message', data: '' };
        let any = false;
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) continue;
          const at = line.indexOf(':');
          const field = line.slice(0, at);
          const value = line.slice(at + 1).replace(/^ /, '');
          any = true;
          if (field === 'id') message.id = value;
          else if (field === 'event') message.event = value;
          else if (field === 'data') message.data += value;
        }
        if (!any) continue;
        messages.push(message);
        if (until(message, messages)) {
          abort.abort();
          return { status: response.status, contentType: response.headers.get('content-type'), messages };
        }
      }
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), messages };
}
