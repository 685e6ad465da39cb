// The small HTTP API of the rest-calls example: an in-memory list of items, as JSON, on
// 127.0.0.1:PORT. Started (detached) by the example's `api` plugin, stopped by its pid.
//
//   node api.mjs PORT
//
//   GET    /health        {"service": "rest-calls-example", "pid": ...}
//   POST   /items         {"name": ...} -> 201 {"id": ..., "name": ..., "status": "creating"}
//   GET    /items/ID      {"item": {"id": ..., "name": ..., "status": ...}}: "creating" the first
//                         time an item is read, "ready" after
//   DELETE /items/ID      204, or 404 when there is no such item
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: api.mjs PORT');
  process.exit(2);
}

const items = new Map();
let nextId = 1;

function send(res, status, body) {
  if (body === undefined) res.writeHead(status).end();
  else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function readJson(req) {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(undefined);
      }
    });
  });
}

const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://api').pathname;
  const item = path.match(/^\/items\/(\d+)$/);
  if (req.method === 'GET' && path === '/health')
    return send(res, 200, { service: 'rest-calls-example', pid: process.pid });
  if (req.method === 'POST' && path === '/items') {
    const body = await readJson(req);
    if (typeof body?.name !== 'string' || body.name === '')
      return send(res, 400, { error: 'name is required' });
    const created = { id: nextId++, name: body.name };
    items.set(created.id, created);
    return send(res, 201, { ...created, status: 'creating' });
  }
  if (item && req.method === 'GET') {
    const found = items.get(Number(item[1]));
    if (!found) return send(res, 404, { error: 'no such item' });
    // An item is ready from its second read on, so a client has to ask again.
    found.reads = (found.reads ?? 0) + 1;
    return send(res, 200, {
      item: { id: found.id, name: found.name, status: found.reads > 1 ? 'ready' : 'creating' },
    });
  }
  if (item && req.method === 'DELETE') {
    return items.delete(Number(item[1])) ? send(res, 204) : send(res, 404, { error: 'no such item' });
  }
  send(res, 404, { error: `no route ${req.method} ${path}` });
});

server.on('error', (error) => {
  console.error(`api: ${error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
