/**
 * Follows GET /events/stream. EventSource cannot send the Authorization header, so the stream is
 * read with fetch and parsed here. A lost connection is opened again with Last-Event-ID (the last
 * seq seen): the server then sends what came after it, nothing missed and nothing twice.
 */
import { API, ApiError, headersFor, loadSession, query, type WeftEvent } from './api.js';

export interface StreamFilter {
  executionId?: string;
  deploymentId?: string;
  level?: string;
  node?: string;
}

export interface StreamHandlers {
  onEvents(events: WeftEvent[]): void;
  /** The followed execution has ended (only with executionId): no more events will come. */
  onEnd?(status: string): void;
  onError?(error: Error): void;
  /** Whether the stream is connected now (false while it waits to reconnect). */
  onConnected?(connected: boolean): void;
}

/** Wait before reconnecting after a lost connection, doubled up to the maximum. */
const RETRY_MS = 500;
const RETRY_MAX_MS = 8000;

interface Frame {
  id?: string;
  event: string;
  data: string;
}

/** Splits the text received so far into complete frames; returns them and the incomplete rest. */
export function parseFrames(buffer: string): { frames: Frame[]; rest: string } {
  const frames: Frame[] = [];
  const parts = buffer.replace(/\r\n/g, '\n').split('\n\n');
  const rest = parts.pop() ?? '';
  for (const part of parts) {
    const frame: Frame = { event: 'message', data: '' };
    let fields = 0;
    for (const line of part.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      fields++;
      if (field === 'id') frame.id = value;
      else if (field === 'event') frame.event = value;
      else if (field === 'data') frame.data += frame.data ? `\n${value}` : value;
    }
    if (fields > 0) frames.push(frame);
  }
  return { frames, rest };
}

/** Starts following; the returned function stops it. */
export function followEvents(filter: StreamFilter, handlers: StreamHandlers): () => void {
  const abort = new AbortController();
  let lastId: string | undefined;
  let delay = RETRY_MS;

  const connect = async (): Promise<'ended' | 'lost'> => {
    const headers = headersFor(loadSession());
    if (lastId !== undefined) headers['last-event-id'] = lastId;
    const response = await fetch(`${API}/events/stream${query({ ...filter })}`, {
      headers,
      signal: abort.signal,
    });
    if (!response.ok || !response.body) {
      const text = await response.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message: string }).message;
      } catch {
        // not the API's error shape: the text itself
      }
      throw new ApiError(response.status, 'stream', message);
    }
    handlers.onConnected?.(true);
    delay = RETRY_MS;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return 'lost';
      buffer += value;
      const { frames, rest } = parseFrames(buffer);
      buffer = rest;
      const events: WeftEvent[] = [];
      for (const frame of frames) {
        if (frame.event === 'end') {
          if (events.length > 0) handlers.onEvents(events);
          handlers.onEnd?.((JSON.parse(frame.data) as { status: string }).status);
          return 'ended';
        }
        if (frame.id !== undefined) lastId = frame.id;
        events.push(JSON.parse(frame.data) as WeftEvent);
      }
      if (events.length > 0) handlers.onEvents(events);
    }
  };

  void (async () => {
    while (!abort.signal.aborted) {
      try {
        if ((await connect()) === 'ended') return;
      } catch (error) {
        if (abort.signal.aborted) return;
        // Refused (not a lost connection): trying again would be refused again.
        if (error instanceof ApiError) {
          handlers.onError?.(error);
          return;
        }
      }
      if (abort.signal.aborted) return;
      handlers.onConnected?.(false);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  })();
  return () => abort.abort();
}
