// A template's rest_calls, run in order: each call is rendered with the params (and the results
// of the calls before it), merged over the node's connection properties, sent, checked and
// translated. Context-independent: resources come through the given reader.
import { NonRecoverableError, RecoverableError } from '@weft/sdk';
import { load } from 'js-yaml';
import { checkResponse } from './expectations.js';
import { type Call, type Response, sendRequest } from './http.js';
import { pythonLiteral } from './python-literal.js';
import { translate, type Value } from './translate.js';

export interface Resources {
  /** Text rendered as a Jinja2 template with these variables. */
  renderText(text: string, variables: Record<string, Value>): string;
  /** A blueprint resource rendered with these variables (raw_payload files). */
  render(path: string, variables: Record<string, Value>): Promise<string>;
}

/**
 * Renders every string (keys too) of a parsed call. A value that is wholly a `{% ... %}` block
 * becomes what its output denotes as a Python literal (a number, a list, a map...), as Cloudify's
 * plugin reads it back with ast.literal_eval; other values stay strings.
 */
function renderValues(value: Value, params: Record<string, Value>, resources: Resources): Value {
  if (typeof value === 'string') {
    const text = resources.renderText(value, params);
    const block = value.trimStart().startsWith('{%') && value.trimEnd().endsWith('%}');
    return block ? (pythonLiteral(text) ?? text) : text;
  }
  if (Array.isArray(value)) return value.map((v) => renderValues(v, params, resources));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        resources.renderText(k, params),
        renderValues(v, params, resources),
      ]),
    );
  return value;
}

export interface Logger {
  info(message: string): void;
  debug(message: string): void;
}

export interface RunOptions {
  /** Render the whole template before parsing it (Jinja blocks may then make calls). */
  prerender?: boolean;
  resources: Resources;
  logger: Logger;
  signal: AbortSignal;
}

export interface Results {
  /** What response translations saved. */
  result_properties: Record<string, Value>;
  /** The calls as rendered, header values and credentials masked. */
  calls: Value[];
}

const MASK = 'xxxxxxxxxxxxxxxx';
const SENSITIVE = /password|secret|token|auth|key|cookie/i;

/** A rendered call as kept in runtime properties: header values and credentials masked. */
function masked(call: Value, inHeaders = false): Value {
  if (Array.isArray(call)) return call.map((v) => masked(v));
  if (call === null || typeof call !== 'object') return call;
  return Object.fromEntries(
    Object.entries(call).map(([key, value]) => {
      if (inHeaders || (SENSITIVE.test(key) && (typeof value !== 'object' || value === null)))
        return [key, MASK];
      return [key, masked(value, key === 'headers')];
    }),
  );
}

/** A response body for an error's causes: trimmed, so a large page does not fill the events. */
export function trimmed(body: string, limit = 1000): string {
  return body.length > limit ? `${body.slice(0, limit)}... (${body.length} characters)` : body;
}

function parseTemplate(text: string): Value[] {
  let parsed: Value;
  try {
    parsed = load(text);
  } catch (error) {
    throw new NonRecoverableError(`template is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === undefined || parsed === null) return [];
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new NonRecoverableError('template must be a map with a rest_calls list');
  const calls = (parsed as Record<string, Value>).rest_calls;
  if (calls === undefined || calls === null) return [];
  if (!Array.isArray(calls)) throw new NonRecoverableError('rest_calls must be a list of calls');
  return calls;
}

function statusFailure(sent: { response: Response; target: string }, call: Call): void {
  const { status, body } = sent.response;
  if (status < 400 || status > 599) return;
  const cause = { type: 'HttpResponse', message: `HTTP ${status}: ${trimmed(body)}` };
  const listed = (option: string) =>
    Array.isArray(call[option]) && (call[option] as Value[]).map(Number).includes(status);
  if (listed('recoverable_codes'))
    throw new RecoverableError(`${sent.target}: HTTP ${status}, defined as recoverable`, { causes: [cause] });
  if (listed('successful_codes')) return;
  throw new NonRecoverableError(`${sent.target}: HTTP ${status}`, { causes: [cause] });
}

function bodyFormat(call: Call, response: Response): string {
  const format = String(call.response_format ?? 'auto').toLowerCase();
  if (format !== 'auto') return format;
  const type = (response.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('text/xml') || type.startsWith('application/xml')) return 'xml';
  // As Cloudify: JSON unless the server says XML.
  return 'json';
}

/** Header names are looked up without regard to case, as HTTP has it. */
function caseless(headers: Record<string, string>): Record<string, string> {
  return new Proxy(headers, {
    get: (target, key) => (typeof key === 'string' ? target[key.toLowerCase()] : undefined),
    has: (target, key) => typeof key === 'string' && key.toLowerCase() in target,
    getOwnPropertyDescriptor: (target, key) =>
      typeof key === 'string' ? Object.getOwnPropertyDescriptor(target, key.toLowerCase()) : undefined,
  });
}

function processResponse(
  sent: { response: Response; target: string },
  call: Call,
  store: Record<string, Value>,
): void {
  const { response } = sent;
  const format = call.translation_format ?? 'auto';
  translate(caseless(response.headers), call.header_translation, store, format);
  // As Cloudify: cookies are translated only when the response sets some.
  if (Object.keys(response.cookies).length > 0)
    translate(response.cookies, call.cookies_translation, store, format);
  const kind = bodyFormat(call, response);
  if (kind === 'raw') return;
  if (kind === 'text') {
    store.text = response.body;
    return;
  }
  if (kind !== 'json')
    throw new NonRecoverableError(
      `${sent.target}: response_format ${JSON.stringify(kind)} is not supported; use json, text, raw or auto`,
    );
  if (response.body.trim() === '') return;
  let body: Value;
  try {
    body = JSON.parse(response.body);
  } catch (error) {
    throw new NonRecoverableError(`${sent.target}: the response is not JSON`, {
      causes: [{ type: 'HttpResponse', message: `${(error as Error).message}: ${trimmed(response.body)}` }],
    });
  }
  // A JSON null has nothing to check or translate; [] and {} are values like any other (a
  // translation saves them, an expectation on them fails and is retried), as in Cloudify.
  if (body === null) return;
  checkResponse(body, call.nonrecoverable_response, false);
  checkResponse(body, call.response_expectation, true);
  translate(body, call.response_translation, store, format);
}

/**
 * Runs the template's calls. `params` are the template variables; `connection` the node's
 * properties (hosts, port, ssl, verify...), which each call may override.
 */
export async function runTemplate(
  template: string,
  params: Record<string, Value>,
  connection: Call,
  options: RunOptions,
): Promise<Results> {
  const result_properties: Record<string, Value> = {};
  const calls: Value[] = [];
  const variables = { ...params };
  const { resources } = options;
  for (const parsed of parseTemplate(
    options.prerender ? resources.renderText(template, variables) : template,
  )) {
    // Later calls see what earlier ones translated.
    Object.assign(variables, result_properties);
    const rendered = options.prerender ? parsed : renderValues(parsed, variables, resources);
    if (rendered === null || typeof rendered !== 'object' || Array.isArray(rendered))
      throw new NonRecoverableError('each of rest_calls must be a map (path, method, ...)');
    const call: Call = { ...connection, ...(rendered as Call) };
    calls.push(masked(rendered));
    const raw = call.raw_payload ?? call.payload_raw;
    const payload =
      typeof raw === 'string' && raw !== '' ? await options.resources.render(raw, variables) : call.payload;
    const sent = await sendRequest(call, payload, options.signal);
    options.logger.info(`${sent.target}: HTTP ${sent.response.status}`);
    statusFailure(sent, call);
    processResponse(sent, call, result_properties);
  }
  return { result_properties, calls };
}
