/**
 * Helmet's security headers, worked out once. @fastify/helmet built helmet's middleware anew for
 * every request (its options checked, the CSP written out again), in two hooks, one of them async:
 * about 12% of the server's CPU in the server bench. The options here hold nothing that depends
 * on the request (no nonces, no directive functions), so every response gets the same headers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';

export function securityHeaders(app: FastifyInstance, options: HelmetOptions): void {
  const set: [string, string][] = [];
  const removed: string[] = [];
  // Helmet's middleware only sets and removes headers of the response, synchronously.
  const recorder = {
    setHeader: (name: string, value: string) => set.push([name, value]),
    removeHeader: (name: string) => removed.push(name),
  };
  let ran = false;
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
    ran = true;
  });
  if (!ran) throw new Error('helmet did not work out its headers at once');
  app.addHook('onRequest', (_request, reply, done) => {
    for (const name of removed) reply.raw.removeHeader(name);
    for (const [name, value] of set) reply.raw.setHeader(name, value);
    done();
  });
}
