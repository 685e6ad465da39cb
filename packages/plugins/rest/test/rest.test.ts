// The REST plugin's operations against real HTTP and HTTPS servers on 127.0.0.1, called with
// mockContext: every template option, TLS verification, failover and the errors' kinds and causes.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NonRecoverableError, RecoverableError } from '@weft/sdk';
import { mockContext } from '@weft/testing';
import { tempDir } from '@weft/testing/cli';
import { bunch_execute, cloudify_rest, execute, execute_as_relationship } from '../src/index.js';
import {
  type Certificate,
  deadPort,
  selfSignedCertificate,
  startServer,
  type TestServer,
} from './helpers.js';

let http: TestServer;
let https: TestServer;
let cert: Certificate;
let dir: string;

before(async () => {
  cert = await selfSignedCertificate();
  [http, https] = await Promise.all([startServer(), startServer(cert)]);
  dir = tempDir('weft-rest-unit-');
});

after(async () => {
  await Promise.all([http.close(), https.close()]);
});

let fileCount = 0;
/** Writes a template (and any other files) into the blueprint directory; returns the template's path. */
function blueprintFiles(template: string, others: Record<string, string> = {}): string {
  const name = `templates/t${++fileCount}.yaml`;
  for (const [path, text] of Object.entries({ [name]: template, ...others })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return name;
}

function context(properties: Record<string, unknown> = {}, runtimeProperties: Record<string, unknown> = {}) {
  return mockContext({
    blueprintDir: dir,
    nodeType: 'cloudify.rest.Requests',
    properties: { hosts: ['127.0.0.1'], port: http.port, ssl: false, verify: true, ...properties } as never,
    runtimeProperties: runtimeProperties as never,
  });
}

/** The hits since `from` (the server's hit count before the operation). */
const since = (server: TestServer, from: number) => server.hits.slice(from);

async function rejection(
  promise: Promise<unknown> | unknown,
): Promise<Error & { causes?: { message: string }[] }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { causes?: { message: string }[] };
  }
  assert.fail('expected the operation to fail');
}

describe('cloudify.rest.Requests execute', () => {
  test('is reachable as rest.cloudify_rest.tasks.execute; without a template_file it does nothing', async () => {
    assert.equal(cloudify_rest.tasks.execute, execute);
    const ctx = context();
    const from = http.hits.length;
    await execute(ctx, { params: {}, template_file: '' });
    assert.equal(http.hits.length, from);
    assert.deepEqual(ctx.mock.runtimeProperties, {});
    assert.deepEqual(ctx.mock.messages('info'), ['Processing finished. No template file provided.']);
  });

  test('renders path, headers and payload with params; sends URL params; translates the response (v1)', async () => {
    http.route('GET', '/users/10', {
      body: { id: 10, name: 'Ann', address: { city: 'Paris', geo: { lat: '1.5' } } },
    });
    const template = blueprintFiles(`rest_calls:
  - path: /users/{{ user_id }}?fields=all
    method: GET
    params: {page: 2, tag: [a, b]}
    headers:
      X-Token: '{{ token }}'
    response_format: json
    response_translation:
      name: [user-name]
      address:
        city: [user-city]
        geo:
          lat: [geo, latitude]
`);
    const ctx = context();
    const from = http.hits.length;
    await execute(ctx, { template_file: template, params: { user_id: 10, token: 'tok-123' } });
    const [hit] = since(http, from);
    assert.equal(hit?.url, '/users/10?fields=all&page=2&tag=a&tag=b');
    assert.equal(hit?.headers['x-token'], 'tok-123');
    assert.deepEqual(ctx.mock.runtimeProperties.result_properties, {
      'user-name': 'Ann',
      'user-city': 'Paris',
      geo: { latitude: '1.5' },
    });
    // The calls as rendered are kept, header values masked; nothing logged shows the token.
    const calls = ctx.mock.runtimeProperties.calls as { path: string; headers: Record<string, string> }[];
    assert.equal(calls[0]?.path, '/users/10?fields=all');
    assert.deepEqual(calls[0]?.headers, { 'X-Token': 'xxxxxxxxxxxxxxxx' });
    assert.ok(!JSON.stringify(ctx.mock.logs).includes('tok-123'));
    assert.deepEqual(ctx.mock.messages('info'), [`GET http://127.0.0.1:${http.port}/users/10: HTTP 200`]);
  });

  test('payload_format json (default), raw (a rendered raw_payload file, or a map as a form) and urlencoded', async () => {
    http.route('POST', '/echo', { body: { ok: true } });
    const template = blueprintFiles(
      `rest_calls:
  - path: /echo
    method: POST
    payload: {name: '{{ who }}', size: 3}
  - path: /echo
    method: POST
    headers: {Content-type: application/json}
    raw_payload: resources/config.json
    payload_format: raw
  - path: /echo
    method: POST
    payload: {a: '1', b: x y}
    payload_format: raw
  - path: /echo
    method: POST
    payload: {q: '{{ who }}'}
    payload_format: urlencoded
`,
      { 'resources/config.json': '{"hostname": "{{ who }}-host", "dns": ["8.8.8.8"]}\n' },
    );
    const from = http.hits.length;
    await execute(context(), { template_file: template, params: { who: 'web' } });
    const [json, raw, form, query] = since(http, from);
    assert.deepEqual(JSON.parse(json?.body ?? ''), { name: 'web', size: 3 });
    assert.equal(json?.headers['content-type'], 'application/json');
    assert.equal(raw?.body, '{"hostname": "web-host", "dns": ["8.8.8.8"]}');
    assert.equal(raw?.headers['content-type'], 'application/json');
    assert.equal(form?.body, 'a=1&b=x+y');
    assert.equal(form?.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(query?.url, '/echo?q=web');
    assert.equal(query?.body, '');
  });

  test('response_format raw ignores the body, text keeps it, json must be JSON', async () => {
    http.route('GET', '/page', { body: '<html>not json</html>', headers: { 'content-type': 'text/html' } });
    const ctx = context();
    await execute(ctx, {
      template_file: blueprintFiles(`rest_calls:
  - {path: /page, method: GET, response_format: raw}
  - {path: /page, method: GET, response_format: text}
`),
      remove_calls: true,
    });
    assert.deepEqual(ctx.mock.runtimeProperties, { text: '<html>not json</html>' });
    const error = await rejection(
      execute(context(), {
        template_file: blueprintFiles('rest_calls:\n  - {path: /page, method: GET, response_format: json}\n'),
      }),
    );
    assert.ok(error instanceof NonRecoverableError);
    assert.match(error.message, /the response is not JSON/);
    assert.match(error.causes?.[0]?.message ?? '', /<html>not json<\/html>/);
  });

  test('recoverable_codes give a RecoverableError; other error codes a NonRecoverableError with the response', async () => {
    http.route('POST', '/busy', { status: 400, body: { error: 'busy' } });
    http.route('POST', '/broken', { status: 500, body: `failure ${'x'.repeat(5000)}` });
    http.route('DELETE', '/gone', { status: 404, body: { error: 'no such thing' } });
    const busy = await rejection(
      execute(context(), {
        template_file: blueprintFiles(
          'rest_calls:\n  - {path: /busy, method: POST, recoverable_codes: [400]}\n',
        ),
      }),
    );
    assert.ok(busy instanceof RecoverableError, String(busy));
    assert.match(busy.message, /HTTP 400, defined as recoverable/);
    const broken = await rejection(
      execute(context(), {
        template_file: blueprintFiles(
          'rest_calls:\n  - {path: /broken, method: POST, recoverable_codes: [400]}\n',
        ),
      }),
    );
    assert.ok(broken instanceof NonRecoverableError, String(broken));
    assert.match(broken.message, /^POST http:\/\/127\.0\.0\.1:\d+\/broken: HTTP 500$/);
    const cause = broken.causes?.[0]?.message ?? '';
    assert.match(cause, /^HTTP 500: failure x+\.\.\. \(5008 characters\)$/);
    assert.ok(cause.length < 1100);
    // successful_codes accepts an error code as success.
    const ctx = context();
    await execute(ctx, {
      template_file: blueprintFiles(
        'rest_calls:\n  - {path: /gone, method: DELETE, successful_codes: [404], response_format: raw}\n',
      ),
    });
    assert.deepEqual(ctx.mock.runtimeProperties.result_properties, {});
  });

  test('response_expectation retries until the value matches; nonrecoverable_response gives up', async () => {
    http.route('GET', '/status', (_hit, count) => ({
      body: { state: count < 2 ? 'pending' : 'ready', items: [] },
    }));
    const template = blueprintFiles(`rest_calls:
  - path: /status
    method: GET
    response_expectation: [['state', 'ready']]
    nonrecoverable_response: [['state', 'fail']]
`);
    const first = await rejection(execute(context(), { template_file: template }));
    assert.ok(first instanceof RecoverableError, String(first));
    assert.match(first.message, /response value pending at \["state"\] does not match "ready"/);
    await execute(context(), { template_file: template });

    http.route('GET', '/failed', { body: { state: 'failed', code: 3 } });
    const failed = await rejection(
      execute(context(), {
        template_file: blueprintFiles(
          "rest_calls:\n  - {path: /failed, method: GET, nonrecoverable_response: [['state', 'fail']]}\n",
        ),
      }),
    );
    assert.ok(failed instanceof NonRecoverableError, String(failed));
    assert.match(
      failed.message,
      /nonrecoverable_response: the response value failed at \["state"\] matches "fail"/,
    );
    // A key not (yet) in the response is worth asking again.
    const missing = await rejection(
      execute(context(), {
        template_file: blueprintFiles(
          "rest_calls:\n  - {path: /failed, method: GET, response_expectation: [[result, id, '1']]}\n",
        ),
      }),
    );
    assert.ok(missing instanceof RecoverableError, String(missing));
    assert.match(missing.message, /no key or index "result"/);
  });

  test('translations v2 (walking a list) and v3, header_translation, cookies_translation, save_path', async () => {
    http.route('GET', '/pages', {
      headers: { 'X-Request-Id': 'req-7', 'Set-Cookie': ['session=abc; Path=/', 'theme=dark'] },
      body: {
        payload: {
          pages: [
            { name: 'one', color: 'blue' },
            { name: 'two', color: 'red' },
          ],
        },
      },
    });
    const ctx = context();
    await execute(ctx, {
      template_file: blueprintFiles(`rest_calls:
  - path: /pages
    method: GET
    response_translation: [[[payload, pages, [name]], [pages, [name]]]]
    header_translation: {X-Request-Id: [request_id]}
    cookies_translation: {session: [session]}
  - path: /pages
    method: GET
    translation_format: v3
    response_translation: {second_color: [payload, pages, 1, color], nothing: [payload, none]}
`),
      save_path: 'api',
    });
    assert.deepEqual((ctx.mock.runtimeProperties.api as Record<string, unknown>).result_properties, {
      pages: [{ name: 'one' }, { name: 'two' }],
      request_id: 'req-7',
      session: 'abc',
      second_color: 'red',
      nothing: null,
    });
  });

  test("as Cloudify's plugin on real templates: Jinja2 (tojson, items()), Python patterns, [] and {} bodies, no cookies, 2.0", async () => {
    http.route('POST', '/jinja', (hit) => ({ body: { got: JSON.parse(hit.body) } }));
    http.route('GET', '/empty-list', { body: [] });
    http.route('GET', '/empty-map', { body: {} });
    http.route('GET', '/status', { body: { page: { name: 'GitHub' }, version: 2.0, state: 'ACTIVE' } });
    const ctx = context({}, {});
    await execute(ctx, {
      template_file: blueprintFiles(`rest_calls:
  - path: /jinja
    method: POST
    payload:
      user: '{{ USER|tojson }}'
      headers: '{% for k, v in HDRS.items() %}{{ k }}={{ v }};{% endfor %}'
      upper: '{{ NAME.upper() }}'
      nothing: '{{ NONE }}'
      flag: '{{ FLAG }}'
      count: '{% if FLAG %}3{% endif %}'
      tags: '{% if TAGS %}{{ TAGS }}{% endif %}'
      encoded: '{% if USER is not string %}{{ USER|tojson }}{% endif %}'
    response_translation: [jinja]
  - path: /empty-list
    method: GET
    cookies_translation: {session: [session]}
    response_translation: [matching]
  - path: /empty-map
    method: GET
    response_translation: [settings]
  - path: /status
    method: GET
    response_expectation:
      - ['page', 'name', '\\AGitHub\\Z|\\AGitLab\\Z']
      - ['version', '2.0']
      - ['state', '(?i)active']
`),
      params: {
        USER: { a: 1 },
        HDRS: { x: 1, y: 'z' },
        NAME: 'web',
        NONE: null,
        FLAG: true,
        TAGS: ['a', 'b'],
      },
    });
    const saved = ctx.mock.runtimeProperties.result_properties as Record<string, unknown>;
    assert.deepEqual(saved.jinja, {
      got: {
        user: '{"a":1}',
        headers: 'x=1;y=z;',
        upper: 'WEB',
        nothing: 'None',
        flag: 'True',
        // A value that is wholly a {% %} block becomes the Python literal it prints, as in Cloudify.
        count: 3,
        tags: ['a', 'b'],
        encoded: { a: 1 },
      },
    });
    assert.deepEqual([saved.matching, saved.settings], [[], {}]);
    // An expectation on an empty list is not met: the call is asked again, as Cloudify does.
    http.route('GET', '/none-yet', { body: [] });
    const waiting = await rejection(
      execute(context(), {
        template_file: blueprintFiles(
          "rest_calls:\n  - {path: /none-yet, method: GET, response_expectation: [[0, id, '.+']]}\n",
        ),
      }),
    );
    assert.ok(waiting instanceof RecoverableError, String(waiting));
    // A template error names its cause.
    const broken = await rejection(
      execute(context(), { template_file: blueprintFiles("rest_calls:\n  - {path: '/{{ x|nofilter }}'}\n") }),
    );
    assert.match(broken.message, /template error: filter not found: nofilter/);
  });

  test('params: the params property, then runtime properties, then the params input; later calls see earlier results', async () => {
    http.route('POST', '/tokens', { body: { token: 'issued-1' } });
    http.route('GET', '/whoami', { body: { ok: true } });
    const ctx = context(
      { params: { a: 'property', b: 'property', c: 'property' } },
      { b: 'runtime', c: 'runtime' },
    );
    const from = http.hits.length;
    await execute(ctx, {
      template_file: blueprintFiles(`rest_calls:
  - path: /tokens
    method: POST
    payload: {a: '{{ a }}', b: '{{ b }}', c: '{{ c }}'}
    response_translation: {token: [session_token]}
  - path: /whoami
    method: GET
    headers: {Authorization: 'Bearer {{ session_token }}'}
`),
      params: { c: 'input' },
      remove_calls: true,
    });
    const [tokens, whoami] = since(http, from);
    assert.deepEqual(JSON.parse(tokens?.body ?? ''), { a: 'property', b: 'runtime', c: 'input' });
    assert.equal(whoami?.headers.authorization, 'Bearer issued-1');
    assert.deepEqual(ctx.mock.runtimeProperties, { b: 'runtime', c: 'runtime', session_token: 'issued-1' });
  });

  test('prerender renders the whole template before parsing it, so Jinja blocks can make calls', async () => {
    http.route('PUT', '/items', { body: {} });
    const from = http.hits.length;
    await execute(context(), {
      template_file: blueprintFiles(`rest_calls:
{% for item in items %}
  - path: /items?name={{ item }}
    method: PUT
    payload: {name: {{ item }}}
{% endfor %}
`),
      params: { items: ['a', 'b', 'c'] },
      prerender: true,
    });
    assert.deepEqual(
      since(http, from).map((h) => h.url),
      ['/items?name=a', '/items?name=b', '/items?name=c'],
    );
  });

  test('basic auth from the auth input', async () => {
    http.route('GET', '/private', { body: { ok: true } });
    const from = http.hits.length;
    await execute(context(), {
      template_file: blueprintFiles('rest_calls:\n  - {path: /private, method: GET}\n'),
      auth: { user: 'admin', password: 'pa55' },
    });
    assert.equal(
      since(http, from)[0]?.headers.authorization,
      `Basic ${Buffer.from('admin:pa55').toString('base64')}`,
    );
  });

  test('failover: a host that refuses hands over to the next; none answering is non-recoverable', async () => {
    http.route('GET', '/ping', { body: { pong: true } });
    const template = blueprintFiles(
      'rest_calls:\n  - {path: /ping, method: GET, response_translation: {pong: [pong]}}\n',
    );
    // 127.0.0.2 is this machine too, but the server listens on 127.0.0.1 only: refused.
    const ctx = context({ hosts: ['127.0.0.2', '127.0.0.1'] });
    await execute(ctx, { template_file: template, remove_calls: true });
    assert.deepEqual(ctx.mock.runtimeProperties, { pong: true });

    const port = await deadPort();
    const none = await rejection(
      execute(context({ hosts: ['127.0.0.1', '127.0.0.2'], port }), { template_file: template }),
    );
    assert.ok(none instanceof NonRecoverableError, String(none));
    assert.match(none.message, /no host from the list answered/);
    assert.equal(none.causes?.length, 2);
    assert.match(none.causes?.[0]?.message ?? '', /ECONNREFUSED/);

    const retry = await rejection(
      execute(context({ host: '127.0.0.1', hosts: [], port }), {
        template_file: blueprintFiles(
          'rest_calls:\n  - {path: /ping, method: GET, retry_on_connection_error: true}\n',
        ),
      }),
    );
    assert.ok(retry instanceof RecoverableError, String(retry));
  });

  test('ssl: verify false accepts a self-signed certificate; by default it is refused; a CA file or PEM verifies it', async () => {
    https.route('GET', '/secure', { body: { secure: true } });
    const template = blueprintFiles(
      'rest_calls:\n  - {path: /secure, method: GET, response_translation: {secure: [secure]}}\n',
    );
    const props = { port: https.port, ssl: true };
    for (const verify of [false, cert.certPath, cert.cert]) {
      const ctx = context({ ...props, verify });
      await execute(ctx, { template_file: template, remove_calls: true });
      assert.deepEqual(
        ctx.mock.runtimeProperties,
        { secure: true },
        `verify: ${String(verify).slice(0, 30)}`,
      );
    }
    const refused = await rejection(execute(context(props), { template_file: template }));
    assert.ok(refused instanceof NonRecoverableError, String(refused));
    assert.match(refused.causes?.[0]?.message ?? '', /self[- ]signed/i);
  });

  test('timeout: no response in time is non-recoverable', async () => {
    http.route('GET', '/slow', { delayMs: 2000, body: { late: true } });
    const started = Date.now();
    const error = await rejection(
      execute(context({ timeout: 0.2 }), {
        template_file: blueprintFiles('rest_calls:\n  - {path: /slow, method: GET}\n'),
      }),
    );
    assert.ok(error instanceof NonRecoverableError, String(error));
    assert.match(error.message, /no response in time/);
    assert.ok(Date.now() - started < 1500);
  });

  test('a response whose keys include __proto__ is saved as data; a destination through __proto__ is refused', async () => {
    const hostile = '{"__proto__": {"polluted": "yes"}, "name": "x", "list": [{"v": 1}]}';
    http.route('GET', '/hostile', { headers: { 'content-type': 'application/json' }, body: hostile });
    const ctx = context();
    await execute(ctx, {
      template_file: blueprintFiles(
        'rest_calls:\n  - {path: /hostile, method: GET, response_translation: [body]}\n',
      ),
    });
    const saved = (ctx.mock.runtimeProperties.result_properties as Record<string, unknown>).body;
    assert.deepEqual(saved, JSON.parse(hostile));
    assert.ok(Object.hasOwn(saved as object, '__proto__'));

    const reason = 'cannot be a key: it would reach the prototype every object shares';
    for (const [rules, save_path, key] of [
      ['[[[name], [__proto__, polluted]]]', undefined, '__proto__'],
      ['{name: [constructor, prototype, polluted]}', undefined, 'constructor'],
      ['[[[list, [v]], [__proto__, [polluted]]]]', undefined, '__proto__'],
      ['{__proto__: [name]}\n    translation_format: v3', undefined, '__proto__'],
      ['[name]', '__proto__', '__proto__'],
    ] as const) {
      const template = `rest_calls:\n  - path: /hostile\n    method: GET\n    response_translation: ${rules}\n`;
      const error = await rejection(
        execute(context(), { template_file: blueprintFiles(template), ...(save_path && { save_path }) }),
      );
      assert.ok(error instanceof NonRecoverableError, String(error));
      assert.match(error.message, new RegExp(`^(response_translation|save_path): '${key}' ${reason}$`));
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('bad templates get one-line messages', async () => {
    for (const [text, message] of [
      ['rest_calls: [\n', /template is not valid YAML/],
      ['rest_calls: {path: /x}\n', /rest_calls must be a list/],
      [
        'rest_calls:\n  - {path: /x, method: GET, payload: {}, payload_format: xml}\n',
        /payload_format must be json, urlencoded or raw/,
      ],
    ] as const) {
      const error = await rejection(execute(context(), { template_file: blueprintFiles(text) }));
      assert.ok(error instanceof NonRecoverableError, String(error));
      assert.match(error.message, message);
    }
    const missing = await rejection(execute(context(), { template_file: 'templates/none.yaml' }));
    assert.match(
      missing.message,
      /template_file: resource 'templates\/none.yaml' not found in the blueprint's directory/,
    );
  });
});

describe('cloudify.rest.BunchRequests bunch_execute', () => {
  test('runs each template with its params and params_attributes, saving under save_to', async () => {
    http.route('GET', '/users', { body: [{ id: 7, name: 'Ann' }] });
    http.route('POST', '/users', (hit) => ({ status: 201, body: { created: JSON.parse(hit.body).name } }));
    const list = blueprintFiles(
      'rest_calls:\n  - {path: /users, method: GET, response_translation: [[[0, name], [first]]]}\n',
    );
    const create = blueprintFiles(
      "rest_calls:\n  - {path: /users, method: POST, payload: {name: '{{ name }}-{{ suffix }}'}, response_translation: {created: [created]}}\n",
    );
    const ctx = context();
    await bunch_execute(ctx, {
      templates: [
        { template_file: list, remove_calls: true },
        {
          template_file: create,
          params: { suffix: 'copy' },
          params_attributes: { name: ['first'] },
          save_to: 'made',
          remove_calls: true,
        },
      ],
    });
    assert.deepEqual(ctx.mock.runtimeProperties, { first: 'Ann', made: { created: 'Ann-copy' } });
  });
});

describe('execute_as_relationship', () => {
  test("uses the source's connection, both ends' runtime properties as params, and saves on the source", async () => {
    http.route('POST', '/link', (hit) => ({ body: { linked: JSON.parse(hit.body) } }));
    const ctx = mockContext({
      blueprintDir: dir,
      operation: 'cloudify.interfaces.relationship_lifecycle.establish',
      relationship: {
        source: {
          nodeName: 'client',
          properties: { hosts: ['127.0.0.1'], port: http.port },
          runtimeProperties: { me: 'src' },
        },
        target: { nodeName: 'server', runtimeProperties: { me: 'tgt', them: 'tgt' } },
      },
    });
    await execute_as_relationship(ctx, {
      template_file: blueprintFiles(
        "rest_calls:\n  - {path: /link, method: POST, payload: {me: '{{ me }}', them: '{{ them }}'}, response_translation: {linked: [linked]}}\n",
      ),
      remove_calls: true,
    });
    assert.deepEqual(ctx.source?.instance.runtimeProperties.linked, { me: 'src', them: 'tgt' });
  });
});
