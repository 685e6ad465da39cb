/**
 * Values as Python prints them. Cloudify's scripts, templates and response patterns were written
 * against Python's str(): `True`, `None`, `['a', 'b']`, `{'k': 1}`. Plugins porting them show
 * values the same way.
 */

/** Python's repr of a string, as it appears inside a printed list or map. */
function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return quote + (quote === "'" ? escaped.replace(/'/g, "\\'") : escaped) + quote;
}

function pythonText(value: unknown, nested: boolean): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return nested ? pythonRepr(value) : value;
  if (Array.isArray(value)) return `[${value.map((v) => pythonText(v, true)).join(', ')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype)
    return `{${Object.entries(value)
      .map(([k, v]) => `${pythonRepr(k)}: ${pythonText(v, true)}`)
      .join(', ')}}`;
  return String(value);
}

/** `value` as Python's str() prints it: a string as it is; lists and maps with their items' repr. */
export function pythonStr(value: unknown): string {
  return pythonText(value, false);
}

/**
 * `value` as Python's json.dumps() writes it by default: `, ` and `: ` between items, and
 * characters beyond ASCII escaped (`\u00e9`).
 */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`)
      .join(', ')}}`;
  const text = JSON.stringify(value ?? null);
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
