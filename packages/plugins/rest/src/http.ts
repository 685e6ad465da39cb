// One REST call over HTTP(S) with undici: the URL for each host in turn (the next host when one
// cannot be reached), TLS verification from `verify`, a client certificate from `cert`, timeouts,
// the payload in the call's payload_format, and the response read whole.
import { existsSync, readFileSync } from 'node:fs';
import { NonRecoverableError, RecoverableError, setOwn } from '@weft/sdk';
import { Agent, request } from 'undici';
import type { Value } from './translate.js';

/** A call with the node's connection properties merged under it. */
export type Call = Record<string, Value>;

export interface Response {
  status: number;
  headers: Record<string, string>;
  /** `set-cookie` headers' name=value pairs. */
  cookies: Record<string, string>;
  body: string;
  url: string;
}

export interface Sent {
  response: Response;
  /** The method and URL, for messages (without credentials). */
  target: string;
}

/** A failure before any response came: the next host may answer. */
class Unreachable extends Error {
  override name = 'ConnectionError';
}

const PEM = /-----BEGIN [A-Z ]+-----/;

/** A certificate setting: PEM text, or the path of a file holding it. */
function pem(value: Value, option: string): string {
  if (typeof value !== 'string' || value === '')
    throw new NonRecoverableError(`${option} must be a file path or PEM text`);
  if (PEM.test(value)) return value;
  if (!existsSync(value)) throw new NonRecoverableError(`${option}: no such file '${value}'`);
  return readFileSync(value, 'utf8');
}

/** Seconds (a number, or [connect, read]) as milliseconds; undici's defaults when absent. */
function timeouts(value: Value): { connect?: number; read?: number } {
  if (value === undefined || value === null) return {};
  const [connect, read] = Array.isArray(value) ? value : [value, value];
  const ms = (seconds: Value) => {
    if (seconds === null || seconds === undefined) return undefined;
    if (typeof seconds !== 'number' || !(seconds > 0))
      throw new NonRecoverableError(`timeout must be a positive number of seconds, or [connect, read]`);
    return Math.round(seconds * 1000);
  };
  const result: { connect?: number; read?: number } = {};
  const c = ms(connect);
  const r = ms(read);
  if (c !== undefined) result.connect = c;
  if (r !== undefined) result.read = r;
  return result;
}

function tlsOptions(call: Call): Record<string, unknown> {
  const verify = call.verify ?? true;
  const options: Record<string, unknown> = {};
  if (verify === false) options.rejectUnauthorized = false;
  else if (verify !== true) options.ca = pem(verify, 'verify');
  if (call.cert !== undefined && call.cert !== null) {
    // A combined PEM (certificate and key), or [certificate, key].
    const [cert, key] = Array.isArray(call.cert) ? call.cert : [call.cert, call.cert];
    options.cert = pem(cert, 'cert');
    options.key = pem(key, 'cert');
  }
  return options;
}

function hostsOf(call: Call): string[] {
  const hosts = Array.isArray(call.hosts) && call.hosts.length > 0 ? call.hosts : call.host;
  const list = (Array.isArray(hosts) ? hosts : [hosts]).filter(
    (h) => h !== undefined && h !== null && h !== '',
  );
  if (list.length === 0) throw new NonRecoverableError('no REST server: set the hosts (or host) property');
  return list.map(String);
}

function portOf(call: Call, ssl: boolean): number {
  const port = call.port ?? -1;
  if (port === -1) return ssl ? 443 : 80;
  const n = typeof port === 'string' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535)
    throw new NonRecoverableError(
      `port must be -1 or an integer from 1 to 65535, not ${JSON.stringify(port)}`,
    );
  return n;
}

function appendParams(url: URL, params: Value): void {
  if (params === undefined || params === null) return;
  if (typeof params !== 'object' || Array.isArray(params))
    throw new NonRecoverableError('params (of a call) must be a map of URL parameters');
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined)
        url.searchParams.append(key, typeof item === 'object' ? JSON.stringify(item) : String(item));
    }
  }
}

function formEncode(data: Record<string, Value>): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(data)) {
    for (const item of Array.isArray(value) ? value : [value]) form.append(key, String(item));
  }
  return form.toString();
}

interface Body {
  body?: string;
  contentType?: string;
  /** URL parameters the payload adds (urlencoded payloads go into the query, as in Cloudify). */
  params?: Record<string, Value>;
}

/** The request body for the call's payload_format: json (default), urlencoded or raw. */
function bodyOf(call: Call, payload: Value): Body {
  const format = call.payload_format ?? 'json';
  if (payload === undefined || payload === null) return {};
  if (format === 'json') return { body: JSON.stringify(payload), contentType: 'application/json' };
  if (format === 'urlencoded' && typeof payload === 'object' && !Array.isArray(payload))
    return { params: payload as Record<string, Value> };
  if (format !== 'raw' && format !== 'urlencoded')
    throw new NonRecoverableError(
      `payload_format must be json, urlencoded or raw, not ${JSON.stringify(format)}`,
    );
  if (typeof payload === 'object' && !Array.isArray(payload))
    return {
      body: formEncode(payload as Record<string, Value>),
      contentType: 'application/x-www-form-urlencoded',
    };
  return { body: typeof payload === 'string' ? payload : JSON.stringify(payload) };
}

function headersOf(call: Call, body: Body): Record<string, string> {
  const given = call.headers ?? {};
  if (typeof given !== 'object' || Array.isArray(given) || given === null)
    throw new NonRecoverableError('headers must be a map of header names to values');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(given)) {
    if (value !== null && value !== undefined) headers[name] = String(value);
  }
  const has = (name: string) => Object.keys(headers).some((h) => h.toLowerCase() === name);
  if (body.contentType && !has('content-type')) headers['Content-Type'] = body.contentType;
  const auth = call.auth as { user?: Value; password?: Value } | undefined;
  if (auth && typeof auth === 'object' && !has('authorization')) {
    const token = Buffer.from(`${String(auth.user ?? '')}:${String(auth.password ?? '')}`).toString('base64');
    headers.Authorization = `Basic ${token}`;
  }
  return headers;
}

function cookiesOf(setCookie: string | string[] | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
    const pair = line.split(';', 1)[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) setOwn(cookies, pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return cookies;
}

function isReadTimeout(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

function reason(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e.code && !String(e.message).includes(e.code) ? `${e.code}: ${e.message}` : String(e.message);
}

async function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Body,
  call: Call,
  signal: AbortSignal,
): Promise<Response> {
  const timeout = timeouts(call.timeout);
  const agent = new Agent({
    connect: { ...tlsOptions(call), ...(timeout.connect ? { timeout: timeout.connect } : {}) },
    ...(timeout.read ? { headersTimeout: timeout.read, bodyTimeout: timeout.read } : {}),
  });
  try {
    let answer: Awaited<ReturnType<typeof request>>;
    try {
      answer = await request(url, {
        method: method as 'GET',
        headers,
        body: body.body ?? null,
        dispatcher: agent,
        signal,
      });
    } catch (error) {
      if (signal.aborted || isReadTimeout(error)) throw error;
      throw new Unreachable(reason(error));
    }
    const text = await answer.body.text();
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined)
        setOwn(flat, name.toLowerCase(), Array.isArray(value) ? value.join(', ') : value);
    }
    return {
      status: answer.statusCode,
      headers: flat,
      cookies: cookiesOf(answer.headers['set-cookie']),
      body: text,
      url: url.toString(),
    };
  } finally {
    await agent.close();
  }
}

/**
 * Sends the call to its hosts in turn until one answers. A host that cannot be reached (refused,
 * unresolvable, TLS failure, connect timeout) hands over to the next; when none answers, or
 * `retry_on_connection_error` is set, the failure is recoverable or not as Cloudify makes it.
 */
export async function sendRequest(call: Call, payload: Value, signal: AbortSignal): Promise<Sent> {
  const ssl = call.ssl === true;
  const port = portOf(call, ssl);
  const method = String(call.method ?? 'GET').toUpperCase();
  const path = String(call.path ?? '/');
  const body = bodyOf(call, payload);
  const headers = headersOf(call, body);
  const failures: Error[] = [];
  for (const host of hostsOf(call)) {
    const url = new URL(
      `${ssl ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}${path.startsWith('/') ? '' : '/'}${path}`,
    );
    appendParams(url, call.params);
    appendParams(url, body.params);
    const target = `${method} ${url.origin}${url.pathname}`;
    try {
      return { response: await send(url, method, headers, body, call, signal), target };
    } catch (error) {
      if (!(error instanceof Unreachable)) {
        if (isReadTimeout(error))
          throw new NonRecoverableError(`${target}: no response in time`, {
            causes: [{ type: 'Timeout', message: reason(error) }],
          });
        throw error;
      }
      const cause = { type: 'ConnectionError', message: `${url.origin}: ${error.message}` };
      if (call.retry_on_connection_error === true)
        throw new RecoverableError(`${target}: cannot connect (retry_on_connection_error is set)`, {
          causes: [cause],
        });
      failures.push(Object.assign(new Error(cause.message), { name: cause.type }));
    }
  }
  throw new NonRecoverableError(`${method} ${path}: no host from the list answered`, {
    causes: failures.map((f) => ({ type: f.name, message: f.message })),
  });
}
