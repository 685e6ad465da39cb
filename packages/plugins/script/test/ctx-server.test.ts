// The ctx endpoint without scripts: Cloudify's proxy protocol, the plain-text form, the secret
// path, and how a call walks the ctx.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type Json, WeftError } from '@weft/sdk';
import { mockContext } from '@weft/testing';
import { CtxRequestError } from '../src/ctx-request.js';
import { CtxServer, ctxTree, type ScriptState } from '../src/index.js';
import { PathError } from '../src/path-access.js';

const servers: CtxServer[] = [];
after(async () => {
  for (const server of servers) await server.close();
});

async function endpoint(options: Parameters<typeof mockContext>[0] = {}) {
  const ctx = mockContext({ nodeName: 'web', properties: { port: 80, tags: ['a', 'b'] }, ...options });
  const state: ScriptState = {};
  const server = await CtxServer.start(ctxTree(ctx, state, { greeting: 'hi' }), state, { secretPath: true });
  servers.push(server);
  const call = async (args: Json[]) => {
    const response = await fetch(server.url, { method: 'POST', body: JSON.stringify({ args }) });
    return (await response.json()) as { type: string; payload: unknown };
  };
  return { ctx, state, server, call };
}

test("Cloudify's protocol: results, errors and stop_operation", async () => {
  const { ctx, state, call } = await endpoint();
  assert.deepEqual(await call(['node', 'properties', 'tags[1]']), { type: 'result', payload: 'b' });
  assert.deepEqual(await call(['instance', 'runtime-properties', 'a.b[0]', 'x']), {
    type: 'error',
    payload: {
      type: 'PathError',
      message: "'a.b[0]': [0] indexes something that is not a list",
      traceback: '',
    },
  });
  assert.deepEqual(ctx.instance.runtimeProperties, {}, 'a path that cannot be set changes nothing');
  await call(['instance', 'runtime-properties', 'a.b', { c: 1 }]);
  assert.deepEqual(ctx.instance.runtimeProperties, { a: { b: { c: 1 } } });
  assert.deepEqual(await call(['instance', 'runtime_properties', 'get', 'missing', 'fallback']), {
    type: 'result',
    payload: 'fallback',
  });
  assert.deepEqual(await call(['node', 'properties', 'port', 81]), {
    type: 'error',
    payload: { type: 'CtxRequestError', message: 'node properties cannot be changed', traceback: '' },
  });
  assert.deepEqual(await call(['operation', 'inputs']), { type: 'result', payload: { greeting: 'hi' } });
  // A trailing map gives named arguments, as in Cloudify.
  await call(['retry_operation', { message: 'later', retry_after: 4 }]);
  assert.deepEqual(state.stop, { kind: 'retry', message: 'later', after: 4 });
  // A second of returns / abort_operation / retry_operation aborts the operation, as in Cloudify.
  assert.deepEqual(await call(['abort_operation', 'no']), {
    type: 'error',
    payload: { type: 'CtxRequestError', message: 'ctx may only abort or return once', traceback: '' },
  });
  assert.deepEqual(state.stop, { kind: 'abort', message: 'ctx may only abort or return once' });
  const other = await endpoint();
  assert.deepEqual(await other.call(['abort_operation', 'no']), {
    type: 'stop_operation',
    payload: { message: 'no' },
  });
  assert.deepEqual(await call(['logger', 'info', 'two', 'words']), { type: 'result', payload: null });
  assert.deepEqual(ctx.mock.messages('info'), ['two words']);
});

test('only the secret path answers; the plain-text form prints as the ctx command does', async () => {
  const { server } = await endpoint();
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{48}$/);
  const root = await fetch(`http://127.0.0.1:${server.port}/`, {
    method: 'POST',
    body: '{"args":["node","id"]}',
  });
  assert.equal(root.status, 404);
  const text = async (args: string[], json = false) => {
    const response = await fetch(`${server.url}/text`, {
      method: 'POST',
      headers: { 'x-ctx-json': json ? '1' : '0' },
      body: args.map((a) => `${a}\0`).join(''),
    });
    const body = await response.text();
    assert.ok(body.endsWith('.'), 'the text ends with a dot the command takes off');
    return [response.headers.get('x-ctx-exit'), body.slice(0, -1)];
  };
  assert.deepEqual(await text(['node', 'id']), ['0', 'web']);
  // As Cloudify's client prints: Python's str(), nothing for a false value; -j prints JSON.
  assert.deepEqual(await text(['node', 'properties', 'tags']), ['0', "['a', 'b']"]);
  assert.deepEqual(await text(['node', 'properties', 'tags'], true), ['0', '["a", "b"]']);
  assert.deepEqual(await text(['node', 'properties', 'port'], true), ['0', '80']);
  assert.deepEqual(await text(['node', 'properties', 'port']), ['0', '80']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'flag', '@false']), ['0', '']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'flag']), ['0', '']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'flag'], true), ['0', 'false']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'flag', '@true']), ['0', '']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'flag']), ['0', 'True']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'map', '@{"k": [1, null, "it\'s"]}']), [
    '0',
    '',
  ]);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'map']), ['0', `{'k': [1, None, "it's"]}`]);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'map', '@{}']), ['0', '']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'map']), ['0', '']);
  assert.deepEqual(await text(['instance', 'runtime-properties', 'nothing']), [
    '1',
    'ctx: illegal path: nothing (runtime properties have no such key)\n',
  ]);
  const [exit, message] = await text(['nodes']);
  assert.equal(exit, '1');
  assert.match(message!, /^ctx: unknown: 'nodes' in: ctx nodes \(known here: .*node.*\)\n$/);
});

test("a script's ctx mistakes are Weft usage errors with codes of their own", () => {
  for (const [error, code] of [
    [new CtxRequestError('x'), 'ctx_request'],
    [new PathError('y'), 'ctx_path'],
  ] as const) {
    assert.ok(error instanceof WeftError);
    assert.deepEqual([error.code, error.kind], [code, 'usage']);
  }
});

test('a write taking runtime properties over the size limit is refused whole and aborts the operation', async () => {
  const { ctx, state, server, call } = await endpoint({ runtimeProperties: { a: { b: 1 }, kept: 'yes' } });
  ctx.limits.runtimePropertiesBytes = 100;
  const before = structuredClone(ctx.instance.runtimeProperties);
  const big = 'x'.repeat(100);
  const message = (bytes: number) =>
    `the runtime properties of ${ctx.instance.id} would be ${bytes} bytes of JSON: over the 100-byte limit for one instance's runtime properties; WEFT_MAX_RUNTIME_PROPERTIES_BYTES raises it`;
  // A path into an existing map, a new key, and update: each refused, each leaving the map as it was.
  for (const [args, bytes] of [
    [['instance', 'runtime-properties', 'a.c', big], 133],
    [['instance', 'runtime-properties', 'new', big], 135],
    [['instance', 'runtime_properties', 'update', { values: { a: big, other: 1 } }], 131],
  ] as const) {
    assert.deepEqual(await call([...args]), {
      type: 'error',
      payload: { type: 'LimitError', message: message(bytes), traceback: '' },
    });
    assert.deepEqual(ctx.instance.runtimeProperties, before);
  }
  assert.deepEqual(state.stop, { kind: 'abort', message: message(131) });
  // The ctx command's form: exit 1, one line.
  const response = await fetch(`${server.url}/text`, {
    method: 'POST',
    body: ['instance', 'runtime-properties', 'new', big].map((a) => `${a}\0`).join(''),
  });
  assert.equal(response.headers.get('x-ctx-exit'), '1');
  assert.equal(await response.text(), `ctx: ${message(135)}\n.`);
  // Under the limit, writes go on as before.
  assert.deepEqual(await call(['instance', 'runtime-properties', 'a.c', 'small']), {
    type: 'result',
    payload: null,
  });
  assert.deepEqual(ctx.instance.runtimeProperties, { a: { b: 1, c: 'small' }, kept: 'yes' });
});

test('a request larger than anything the engine would store of it is read to its end, refused, and aborts', async () => {
  const ctx = mockContext({ nodeName: 'web' });
  const state: ScriptState = {};
  const limits = { runtimePropertiesBytes: 1000, resultBytes: 2000 };
  const server = await CtxServer.start(ctxTree(ctx, state, {}), state, { secretPath: true, limits });
  servers.push(server);
  const message =
    "the ctx request is over 67,536 bytes: more than the engine stores of one instance's runtime properties or of a returned value; WEFT_MAX_RUNTIME_PROPERTIES_BYTES or WEFT_MAX_RESULT_BYTES raises it";
  const args = ['instance', 'runtime-properties', 'big', 'x'.repeat(70_000)];
  const text = await fetch(`${server.url}/text`, {
    method: 'POST',
    body: args.map((a) => `${a}\0`).join(''),
  });
  assert.equal(text.headers.get('x-ctx-exit'), '1');
  assert.equal(await text.text(), `ctx: ${message}\n.`);
  const json = await fetch(server.url, { method: 'POST', body: JSON.stringify({ args }) });
  assert.deepEqual(await json.json(), {
    type: 'error',
    payload: { type: 'LimitError', message, traceback: '' },
  });
  assert.deepEqual(ctx.instance.runtimeProperties, {});
  assert.deepEqual(state.stop, { kind: 'abort', message });
});
