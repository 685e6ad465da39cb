/**
 * Events and logs: a page of them, or a live stream (Server-Sent Events) that a client resumes
 * with Last-Event-ID after a lost connection without missing or repeating one. The stream reads
 * from the store, in seq order; stored events wake it (EventNotifier), so it does not poll.
 */
import { ACTIVE_EXECUTION_STATUSES, type EventQuery, type EventRecord } from '@weft/engine';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { notFound } from '../errors.js';
import { AUTH_ERRORS, ErrorBody, Name } from '../schemas/common.js';
import { Event, Level } from '../schemas/executions.js';

const Filters = {
  executionId: Type.Optional(Name),
  deploymentId: Type.Optional(Name),
  level: Type.Optional(Level),
  node: Type.Optional(Type.String({ description: 'a node, or a node instance id' })),
};

/** Events sent to a stream per read of the store. */
const STREAM_BATCH = 500;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

type Filter = { executionId?: string; deploymentId?: string; level?: EventRecord['level']; node?: string };

const query = (filter: Filter): EventQuery => ({
  ...(filter.executionId !== undefined && { executionId: filter.executionId }),
  ...(filter.deploymentId !== undefined && { deploymentId: filter.deploymentId }),
  ...(filter.level !== undefined && { minLevel: filter.level }),
  ...(filter.node !== undefined && { node: filter.node }),
});

/** Events read from the store have their seq. */
const stored = (event: EventRecord) => ({ ...event, seq: event.seq! });

/** Where a stream starts: after Last-Event-ID (a reconnecting client), else after `after`. */
function cursorOf(request: FastifyRequest, after: number | undefined): number {
  const header = request.headers['last-event-id'];
  const last = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
  return last ?? after ?? 0;
}

export async function eventRoutes(app: Api, context: ServerContext): Promise<void> {
  app.get(
    '/events',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['events'],
        summary: 'Events and logs in the order they were stored, filtered and paged by seq',
        querystring: Type.Object({
          ...Filters,
          after: Type.Optional(Type.Integer({ minimum: 0, description: 'only events with a greater seq' })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(Event),
            last: Type.Integer({ description: 'the seq to pass as `after` for the next page (0: none yet)' }),
          }),
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) => {
      const { after = 0, limit = 1000 } = request.query;
      const items = (
        await request.tenant!.store.listEvents({ ...query(request.query), afterSeq: after, limit })
      ).map(stored);
      return { items, last: items.at(-1)?.seq ?? after };
    },
  );

  app.get(
    '/events/stream',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['events'],
        summary:
          'A live stream of events (text/event-stream): each SSE id is the event seq, so a client reconnects with Last-Event-ID; with executionId, an `end` event follows the last one once the execution has ended',
        querystring: Type.Object({ ...Filters, after: Type.Optional(Type.Integer({ minimum: 0 })) }),
        response: { 200: Type.String({ description: 'text/event-stream' }), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const filter = request.query;
      if (filter.executionId !== undefined && !(await tenant.store.getExecution(filter.executionId)))
        throw notFound('execution', filter.executionId);
      let cursor = cursorOf(request, filter.after);
      const closed = new AbortController();
      request.raw.on('close', () => closed.abort());
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      });
      const write = async (text: string) => {
        if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
      };
      await write(': weft event stream\n\n');
      try {
        while (!closed.signal.aborted) {
          const seen = context.notifier.seen(tenant.name, filter.executionId);
          // Read before the events: whatever it stored before it ended is then read below. Not
          // while this process runs it: it cannot have ended, and when its run ends, the
          // notification of that (after `seen`) has the stream look again.
          const execution =
            filter.executionId === undefined || context.runner.isRunning(tenant.name, filter.executionId)
              ? undefined
              : await tenant.store.getExecution(filter.executionId);
          let batch: EventRecord[];
          do {
            batch = await tenant.store.listEvents({
              ...query(filter),
              afterSeq: cursor,
              limit: STREAM_BATCH,
            });
            for (const event of batch) {
              await write(`id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
              cursor = event.seq!;
            }
          } while (batch.length === STREAM_BATCH && !closed.signal.aborted);
          if (
            execution &&
            !ACTIVE_EXECUTION_STATUSES.includes(execution.status) &&
            !context.runner.isRunning(tenant.name, execution.id)
          ) {
            await write(`event: end\ndata: ${JSON.stringify({ status: execution.status })}\n\n`);
            break;
          }
          const woken = await context.notifier.next(
            tenant.name,
            seen,
            KEEPALIVE_MS,
            closed.signal,
            filter.executionId,
          );
          if (woken === 'timeout') await write(': keepalive\n\n');
        }
      } catch (error) {
        request.log.warn({ err: error }, 'event stream ended by an error');
      } finally {
        out.end();
      }
    },
  );
}
