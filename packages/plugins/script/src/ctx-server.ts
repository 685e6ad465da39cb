import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_LIMITS, type Json, LimitError, type Limits, pythonJson, pythonStr } from '@weft/sdk';
import { CtxRequestError, type Namespace, processCtxRequest } from './ctx-request.js';
import type { ScriptState } from './ctx-tree.js';

/** Room in a ctx request for the call around the value it carries (member names, a path). */
const CALL_ROOM = 64 * 1024;

/**
 * The ctx endpoint of one running operation, on loopback (so concurrent scripts never reach
 * each other's ctx). It speaks Cloudify's ctx proxy protocol (`POST /` with `{"args": [...]}`,
 * answered with `{"type": "result" | "error" | "stop_operation", "payload": ...}`), which the
 * Python module and Cloudify's own client use, and a plain-text form for the `ctx` command
 * (`POST /text`: arguments each ended by a NUL byte; the answer is what to print followed by a
 * '.', and the `x-ctx-exit` header the exit code), so that the command needs nothing but bash.
 */
export class CtxServer {
  private readonly server: Server;

  private constructor(
    private readonly root: Namespace,
    private readonly state: ScriptState,
    /** The URL path requests must go to: `/`, or a random one where others can reach the port. */
    readonly path: string,
    /** A larger request carries more than the engine would store of it: it is refused. */
    private readonly maxBody: number,
  ) {
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
    // Scripts run a call per connection: no keep-alive to wait for when the operation ends.
    this.server.keepAliveTimeout = 0;
  }

  /**
   * Starts the endpoint. With `secretPath`, it answers only at a random URL path: every user of
   * the machine (or of a host the port is forwarded to) can reach the port; the path is the password.
   * `limits` are the operation's (ctx.limits): they bound a request's size.
   */
  static async start(
    root: Namespace,
    state: ScriptState,
    options: { secretPath?: boolean; limits?: Limits } = {},
  ): Promise<CtxServer> {
    const path = options.secretPath ? `/${randomBytes(24).toString('hex')}` : '/';
    const { runtimePropertiesBytes, resultBytes } = options.limits ?? DEFAULT_LIMITS;
    const server = new CtxServer(
      root,
      state,
      path,
      Math.max(runtimePropertiesBytes, resultBytes) + CALL_ROOM,
    );
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(0, '127.0.0.1', () => resolve());
    });
    return server;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The value of CTX_SOCKET_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}${this.path === '/' ? '' : this.path}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method !== 'POST') {
      response.writeHead(405, { allow: 'POST' }).end('the ctx endpoint takes POST requests\n');
      return;
    }
    const base = this.path === '/' ? '' : this.path;
    const text = request.url === `${base}/text`;
    // Checked before the body is read: anyone may reach the port, only the script knows the path.
    if (!text && request.url !== this.path && !(base === '' && request.url === '')) {
      response.writeHead(404).end('not found\n');
      return;
    }
    let body: Buffer | undefined;
    try {
      body = await readBody(request, this.maxBody);
    } catch {
      response.destroy();
      return;
    }
    if (text) await this.answerText(request, body, response);
    else await this.answerJson(body, response);
  }

  /** What a request over the size bound is answered; the operation fails with it too, as with a write over the limit. */
  private tooLarge(): LimitError {
    const error = new LimitError(
      `the ctx request is over ${this.maxBody.toLocaleString('en-US')} bytes: more than the engine stores of one instance's runtime properties or of a returned value; WEFT_MAX_RUNTIME_PROPERTIES_BYTES or WEFT_MAX_RESULT_BYTES raises it`,
    );
    this.state.stop = { kind: 'abort', message: error.message };
    return error;
  }

  private async answerJson(body: Buffer | undefined, response: ServerResponse): Promise<void> {
    let answer: { type: string; payload: unknown };
    try {
      if (!body) throw this.tooLarge();
      const parsed = JSON.parse(body.toString('utf8')) as { args?: unknown };
      if (!Array.isArray(parsed.args)) throw new CtxRequestError('the request has no "args" list');
      answer = await this.process(parsed.args as Json[]);
    } catch (error) {
      answer = errorAnswer(error);
    }
    const text = JSON.stringify(answer);
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    response.end(text);
  }

  private async answerText(
    request: IncomingMessage,
    body: Buffer | undefined,
    response: ServerResponse,
  ): Promise<void> {
    const json = request.headers['x-ctx-json'] === '1';
    const prefix = String(request.headers['x-ctx-prefix'] ?? '@');
    let out: string;
    let exit = 0;
    try {
      if (!body) throw this.tooLarge();
      const raw = body.toString('utf8').split('\0');
      raw.pop(); // every argument ends with a NUL, so the last piece is empty
      const args = raw.map((arg) => parseArg(arg, prefix));
      const answer = await this.process(args);
      if (answer.type === 'stop_operation') {
        exit = 1;
        out = `${(answer.payload as { message: string }).message}\n`;
      } else out = json ? pythonJson(answer.payload) : plain(answer.payload);
    } catch (error) {
      exit = 1;
      out = `ctx: ${(error as Error).message}\n`;
    }
    // A '.' ends the text, so that the command keeps trailing newlines (it takes the '.' off).
    const text = `${out}.`;
    response.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'x-ctx-exit': String(exit),
      connection: 'close',
    });
    response.end(text);
  }

  private async process(args: Json[]): Promise<{ type: string; payload: unknown }> {
    const result = await processCtxRequest(this.root, args);
    if (result !== undefined && result === this.state.stop)
      return { type: 'stop_operation', payload: { message: this.state.stop.message } };
    return { type: 'result', payload: result ?? null };
  }
}

function errorAnswer(error: unknown): { type: string; payload: unknown } {
  const e = error instanceof Error ? error : new Error(String(error));
  const type = e instanceof SyntaxError ? 'JSONDecodeError' : e.name;
  return { type: 'error', payload: { type, message: e.message, traceback: '' } };
}

/** An argument given as `@JSON` is that JSON value (Cloudify's client parses it the same way). */
function parseArg(arg: string, prefix: string): Json {
  if (!prefix || !arg.startsWith(prefix)) return arg;
  try {
    return JSON.parse(arg.slice(prefix.length)) as Json;
  } catch (error) {
    throw new CtxRequestError(
      `argument '${arg}' is not valid JSON after '${prefix}': ${(error as Error).message}`,
    );
  }
}

/**
 * How the ctx command prints a result without -j, as Cloudify's client does (scripts written for
 * it test for an empty value or compare with `True`): nothing for any false value (None, False,
 * 0, '', [], {}), else Python's str().
 */
function plain(payload: unknown): string {
  const empty =
    !payload ||
    (Array.isArray(payload) && payload.length === 0) ||
    (typeof payload === 'object' && Object.keys(payload).length === 0);
  return empty ? '' : pythonStr(payload);
}

/**
 * The request's body, or undefined when it is over `maxBytes`: the rest is then read and dropped,
 * so that the client, which sends all of it before it reads, gets the answer.
 */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] | undefined = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) chunks = undefined;
      chunks?.push(chunk);
    });
    request.on('end', () => resolve(chunks && Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
