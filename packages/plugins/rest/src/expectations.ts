// response_expectation and nonrecoverable_response: a path into the response body and a regular
// expression its value must (or must not) match, as in Cloudify's REST plugin:
//   response_expectation: [[message, ok]]      the call is retried until response.message matches ^ok
//   nonrecoverable_response: [[status, failed]] the operation fails at once when response.status matches
// One rule may be given without the outer list: [message, ok]. Patterns match at the start of the
// value (Python's re.match), which is shown as Python would print it (True, None).
import { NonRecoverableError, pythonStr, RecoverableError } from '@weft/sdk';
import type { Value } from './translate.js';

function shorten(text: string): string {
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/**
 * A Python regular expression as a JavaScript one: `\A` and `\Z`, named groups `(?P<n>...)` and
 * `(?P=n)`, and leading inline flags `(?i)`, `(?m)`, `(?s)`.
 */
export function pythonRegExp(pattern: string, anchored: boolean): RegExp {
  let flags = '';
  let source = pattern;
  const inline = /^\(\?([aimsux]+)\)/.exec(source);
  if (inline) {
    for (const flag of inline[1]!) if ('ims'.includes(flag) && !flags.includes(flag)) flags += flag;
    source = source.slice(inline[0].length);
  }
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const char = source[i]!;
    if (char === '\\' && i + 1 < source.length) {
      const next = source[i + 1]!;
      out += next === 'A' ? '^' : next === 'Z' ? '$' : `\\${next}`;
      i++;
    } else if (source.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else if (source.startsWith('(?P=', i)) {
      const end = source.indexOf(')', i);
      out += `\\k<${source.slice(i + 4, end)}>`;
      i = end;
    } else out += char;
  }
  return new RegExp(anchored ? `^(?:${out})` : out, flags);
}

function matches(pattern: Value, value: Value, option: string): boolean {
  let regex: RegExp;
  try {
    // Cloudify matches with re.match: at the start of the value.
    regex = pythonRegExp(pythonStr(pattern), true);
  } catch (error) {
    throw new NonRecoverableError(`${option}: ${(error as Error).message}`);
  }
  // A whole number may have been written 2.0 (JSON keeps no difference; Python's str() does).
  if (typeof value === 'number' && Number.isInteger(value) && regex.test(`${value}.0`)) return true;
  return regex.test(pythonStr(value));
}

function checkOne(body: Value, rule: Value[], recoverable: boolean, option: string): void {
  const path = rule.slice(0, -1);
  const pattern = rule.at(-1);
  let value = body;
  for (const key of path) {
    const container = value;
    const found = Array.isArray(container)
      ? typeof key === 'number' && key >= 0 && key < container.length
      : container !== null &&
        typeof container === 'object' &&
        Object.hasOwn(container as object, String(key));
    if (!found) {
      // As Cloudify: the value may not be there yet, so asking again is worth it.
      throw new RecoverableError(
        `${option}: no key or index ${JSON.stringify(key)} in ${shorten(JSON.stringify(container) ?? 'null')}`,
      );
    }
    value = Array.isArray(container)
      ? container[key as number]
      : (container as Record<string, Value>)[String(key)];
  }
  const matched = matches(pattern, value, option);
  if (recoverable && !matched) {
    throw new RecoverableError(
      `response_expectation: the response value ${shorten(pythonStr(value))} at ${JSON.stringify(path)} does not match ${JSON.stringify(pythonStr(pattern))}`,
    );
  }
  if (!recoverable && matched) {
    throw new NonRecoverableError(
      `nonrecoverable_response: the response value ${shorten(pythonStr(value))} at ${JSON.stringify(path)} matches ${JSON.stringify(pythonStr(pattern))}`,
    );
  }
}

/**
 * Checks `rules` against the response body: `recoverable` rules (response_expectation) must match,
 * else a RecoverableError; the others (nonrecoverable_response) must not, else a NonRecoverableError.
 */
export function checkResponse(body: Value, rules: Value, recoverable: boolean): void {
  const option = recoverable ? 'response_expectation' : 'nonrecoverable_response';
  if (rules === undefined || rules === null || (Array.isArray(rules) && rules.length === 0)) return;
  if (!Array.isArray(rules))
    throw new NonRecoverableError(`${option} must be a list of [key..., pattern] lists`);
  const list = Array.isArray(rules[0]) ? rules : [rules];
  for (const rule of list) {
    if (!Array.isArray(rule) || rule.length === 0)
      throw new NonRecoverableError(`${option} must be a list of [key..., pattern] lists`);
    checkOne(body, rule, recoverable, option);
  }
}
