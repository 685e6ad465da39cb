/**
 * The web UI (@weft/ui's built files) at `/`: its files by name, and its page for any other path
 * outside the API, so that a reload or a link to /executions/ID opens the UI on that page. The UI
 * is public like a login page: everything it shows it reads from the API with the user's token.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api } from './context.js';

/** Content-hashed: a browser may keep them for good. */
const ASSETS = '/assets/';

/** Where the built UI is, or undefined when @weft/ui is not installed or not built. */
export function webUiDirectory(): string | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve('@weft/ui/package.json');
    const directory = join(dirname(manifest), 'dist', 'public');
    return existsSync(join(directory, 'index.html')) ? directory : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a path is the UI's (not the API's): those routes and pages are public. */
export const isWebUiPath = (url: string, apiPrefix: string) =>
  url !== apiPrefix && !url.startsWith(`${apiPrefix}/`);

export async function webUi(app: Api, apiPrefix: string, directory = webUiDirectory()): Promise<void> {
  if (directory)
    await app.register(fastifyStatic, {
      root: directory,
      // Routes for the files that exist, made at start: anything else reaches the page below.
      wildcard: false,
      decorateReply: true,
      // Ours below: send's default (max-age=0) would have every load ask for the hashed files again.
      cacheControl: false,
      setHeaders: (response, path) => {
        response.setHeader(
          'cache-control',
          path.includes(ASSETS) ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
      },
    });

  /** The UI's page for a path that is not a file: the UI routes it in the browser. */
  return void app.decorate('webUiPage', (request: FastifyRequest, reply: FastifyReply): boolean => {
    const path = request.url.split('?')[0]!;
    if (!['GET', 'HEAD'].includes(request.method) || !isWebUiPath(path, apiPrefix) || path.startsWith(ASSETS))
      return false;
    if (!directory) {
      void reply
        .status(404)
        .type('text/plain; charset=utf-8')
        .send('The web UI is not built here: run `npm run build` (it builds packages/ui).\n');
      return true;
    }
    void reply.header('cache-control', 'no-cache').sendFile('index.html');
    return true;
  });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Answers with the UI's page when the request is for one; false when it is not (a real 404). */
    webUiPage(request: FastifyRequest, reply: FastifyReply): boolean;
  }
}
