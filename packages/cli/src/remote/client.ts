/**
 * The CLI's side of the REST API: JSON requests with the profile's token and tenant, the API's
 * errors as the CLI's (a 4xx is the user's to fix: exit 2), and Server-Sent Event streams.
 */
import { WeftError } from '@weft/engine';
import { UsageError } from '../output.js';
import type { Server } from './profiles.js';

/** The server answered with an error that is not the user's to fix, or could not be reached. */
export class ServerError extends WeftError {
  static override readonly code = 'server';
  constructor(message: string) {
    super(message);
    this.name = 'ServerError';
  }
}

export interface ApiErrorBody {
  code: string;
  message: string;
  details: unknown;
}

/** An error the API answered, with its code and details kept for callers that look closer. */
export class ApiRefusal extends UsageError {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

export interface StreamEvent {
  id?: string;
  event: string;
  data: string;
}

export class ApiClient {
  constructor(readonly server: Server) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Bearer ${this.server.token}`,
      ...(this.server.tenant ? { tenant: this.server.tenant } : {}),
      ...extra,
    };
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.server.url}/api/v1${path}`, init);
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new ServerError(
        `cannot reach the server ${this.server.url} (profile ${this.server.name}): ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      );
    }
  }

  /** The answer's JSON; an error answer becomes an error to throw. */
  private async answer<T>(response: Response): Promise<T> {
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      throw new ServerError(`the server answered ${response.status} with something that is not JSON`);
    }
    if (response.ok) return body as T;
    const error = body as Partial<ApiErrorBody> | null;
    const message = error?.message ?? `the server answered ${response.status}`;
    if (response.status === 401)
      throw new ApiRefusal(401, {
        code: 'unauthorized',
        message: `${message} (profile ${this.server.name}: give it a new token with weft profiles add)`,
        details: null,
      });
    if (response.status >= 400 && response.status < 500)
      throw new ApiRefusal(response.status, {
        code: error?.code ?? 'bad_request',
        message,
        details: error?.details ?? null,
      });
    throw new ServerError(`the server failed: ${message}`);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(path, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return this.answer<T>(response);
  }

  get = <T>(path: string) => this.request<T>('GET', path);

  /** Sends bytes as they are (an archive, a YAML file). */
  async upload<T>(method: string, path: string, contentType: string, bytes: Uint8Array): Promise<T> {
    const response = await this.fetch(path, {
      method,
      headers: this.headers({ 'content-type': contentType }),
      body: bytes,
    });
    return this.answer<T>(response);
  }

  /**
   * Reads an event stream, calling `onEvent` for each; resolves when the server ends it or
   * `onEvent` returns true. A dropped connection is opened again from the last event seen.
   */
  async stream(
    path: string,
    onEvent: (event: StreamEvent) => boolean | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    let lastId: string | undefined;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) return;
      let response: Response;
      try {
        response = await this.fetch(path, {
          headers: this.headers(lastId ? { 'last-event-id': lastId } : {}),
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      if (!response.ok || !response.body) {
        await this.answer(response);
        return;
      }
      const decoder = new TextDecoder();
      let buffer = '';
      let done = false;
      try {
        // Leaving the loop early (done) cancels the stream: the connection is closed.
        for await (const chunk of response.body) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          for (let end = buffer.indexOf('\n\n'); end >= 0 && !done; end = buffer.indexOf('\n\n')) {
            const event = parseFrame(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (!event) continue;
            if (event.id !== undefined) lastId = event.id;
            done = onEvent(event) === true;
          }
          if (done) break;
        }
        return;
      } catch (error) {
        if (signal?.aborted) return;
        // A connection lost mid-stream is opened again (a few times) from where it was.
        if (attempt >= 5) throw new ServerError(`lost the event stream: ${(error as Error).message}`);
      }
    }
  }
}

function parseFrame(frame: string): StreamEvent | undefined {
  const event: StreamEvent = { event: 'message', data: '' };
  let any = false;
  for (const line of frame.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const at = line.indexOf(':');
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
    any = true;
    if (field === 'id') event.id = value;
    else if (field === 'event') event.event = value;
    else if (field === 'data') event.data += event.data ? `\n${value}` : value;
  }
  return any ? event : undefined;
}
