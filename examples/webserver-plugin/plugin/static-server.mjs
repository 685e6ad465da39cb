// A small static file server, shipped with the webserver-plugin example and started by its
// `start` operation: serves the files of ROOT on 127.0.0.1:PORT (a directory's index.html for
// the directory), GET and HEAD only, never outside ROOT.
//
//   node static-server.mjs ROOT PORT
//
// When started with an IPC channel it reports `{ type: 'listening', port }` once it listens, or
// `{ type: 'error', code, message }` before exiting with status 1 when it cannot.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
};

/** Sends a message to the parent, if there is one listening, then calls `then`. */
function report(message, then = () => {}) {
  if (process.send && process.connected) process.send(message, () => then());
  else then();
}

function fail(message) {
  console.error(`static-server: ${message}`);
  report({ type: 'error', code: 'EINVAL', message }, () => process.exit(1));
}

const [rootArg, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!rootArg || !Number.isInteger(port) || port < 0 || port > 65535) {
  fail('usage: static-server.mjs ROOT PORT');
} else {
  serve(resolve(rootArg), port);
}

function plain(res, status, text) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
}

function serve(root, port) {
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      plain(res, 405, 'method not allowed');
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      plain(res, 400, 'bad request');
      return;
    }
    let file = resolve(root, `.${pathname}`);
    if (pathname.includes('\0') || (file !== root && !file.startsWith(root + sep))) {
      plain(res, 404, 'not found');
      return;
    }
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, 'index.html');
        info = await stat(file);
      }
      if (!info.isFile()) throw new Error('not a file');
      res.writeHead(200, {
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': info.size,
      });
      if (req.method === 'HEAD') res.end();
      else
        createReadStream(file)
          .on('error', () => res.destroy())
          .pipe(res);
    } catch {
      plain(res, 404, 'not found');
    }
  });
  server.on('error', (error) => {
    console.error(`static-server: ${error.message}`);
    report({ type: 'error', code: error.code, message: error.message }, () => process.exit(1));
  });
  server.listen(port, '127.0.0.1', () => {
    const address = server.address();
    report({ type: 'listening', port: typeof address === 'object' && address ? address.port : port });
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections();
      process.exit(0);
    });
  }
}
