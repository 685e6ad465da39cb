import { createRequire } from 'node:module';
import { pythonStr } from '@weft/sdk';
import type nunjucks from 'nunjucks';

/**
 * Templates as Jinja2 renders them, on nunjucks: Python's literals (True, False, None) and the
 * methods Jinja templates call on maps, lists and strings (`d.items()`, `s.upper()`), Jinja's
 * filters nunjucks lacks (tojson, items, unique, map), and values printed as Python prints them
 * (None, True, ['a', 'b'], {'k': 1}), since the templates were written for Cloudify's Jinja2.
 */

type Runtime = {
  memberLookup: (obj: unknown, key: unknown, ...rest: unknown[]) => unknown;
  suppressValue: (value: unknown, autoescape: boolean) => unknown;
  SafeString: new (value: string) => object;
};

const STRING_METHODS: Record<string, (text: string, ...args: unknown[]) => unknown> = {
  upper: (s) => s.toUpperCase(),
  lower: (s) => s.toLowerCase(),
  strip: (s, chars) => (typeof chars === 'string' ? trimChars(s, chars) : s.trim()),
  startswith: (s, prefix) => s.startsWith(String(prefix)),
  endswith: (s, suffix) => s.endsWith(String(suffix)),
  split: (s, separator) =>
    separator === undefined || separator === null ? s.trim().split(/\s+/) : s.split(String(separator)),
  replace: (s, from, to) => s.split(String(from)).join(String(to)),
  join: (s, items) => (Array.isArray(items) ? items.map((i) => pythonStr(i)).join(s) : ''),
  format: (s, ...args) => {
    let next = 0;
    return s.replace(/\{(\d*)\}/g, (_m, index: string) =>
      pythonStr(args[index === '' ? next++ : Number(index)]),
    );
  },
};

function trimChars(text: string, chars: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && chars.includes(text[start]!)) start++;
  while (end > start && chars.includes(text[end - 1]!)) end--;
  return text.slice(start, end);
}

let environment: nunjucks.Environment | undefined;

/** The Jinja-compatible environment, made on first use (most processes never render). */
export function jinja(): nunjucks.Environment {
  if (environment) return environment;
  const require = createRequire(import.meta.url);
  const lib = require('nunjucks') as typeof nunjucks & { installJinjaCompat(): void };
  const runtime = require('nunjucks/src/runtime') as Runtime;
  lib.installJinjaCompat();
  const memberLookup = runtime.memberLookup;
  runtime.memberLookup = function lookup(this: unknown, obj: unknown, key: unknown, ...rest: unknown[]) {
    if (typeof obj === 'string' && typeof key === 'string' && Object.hasOwn(STRING_METHODS, key))
      return (...args: unknown[]) => STRING_METHODS[key]!(obj, ...args);
    return memberLookup.call(this, obj, key, ...rest);
  };
  const suppressValue = runtime.suppressValue;
  runtime.suppressValue = (value: unknown, autoescape: boolean) =>
    suppressValue(
      value === undefined || typeof value === 'string' || value instanceof runtime.SafeString
        ? value
        : pythonStr(value),
      autoescape,
    );
  const env = new lib.Environment(null, { autoescape: false, throwOnUndefined: false });
  env.addFilter(
    'tojson',
    (value: unknown, indent?: number) => new runtime.SafeString(JSON.stringify(value ?? null, null, indent)),
  );
  env.addFilter('items', (value: unknown) =>
    value !== null && typeof value === 'object' ? Object.entries(value) : [],
  );
  env.addFilter('unique', (value: unknown) => (Array.isArray(value) ? [...new Set(value)] : value));
  env.addFilter('map', (value: unknown, ...args: unknown[]) => {
    if (!Array.isArray(value)) return value;
    const options = args[args.length - 1];
    if (options && typeof options === 'object' && 'attribute' in options) {
      const attribute = String((options as { attribute: unknown }).attribute);
      return value.map((item) =>
        item !== null && typeof item === 'object' ? (item as Record<string, unknown>)[attribute] : undefined,
      );
    }
    const filter = env.getFilter(String(args[0]));
    return value.map((item) => filter(item, ...args.slice(1)));
  });
  environment = env;
  return env;
}

/** The message of a template error, without nunjucks' "(unknown path)" noise. */
export function templateErrorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/^\(unknown path\)\s*/, '')
        .replace(/^Error: /, ''),
    )
    .filter((line) => line !== '')
    .join(': ');
}
