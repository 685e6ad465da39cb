/**
 * Forms generated from declared parameters (a workflow's parameters, a blueprint's inputs): a field
 * per parameter by its type, its default filled in, required ones marked; what is typed is read back
 * as typed values and checked against the type and the constraints before anything is sent. The
 * server checks them again (the engine's constraints, with RE2 patterns): this check is for saying
 * it at once, at the field.
 */
import { parse } from 'yaml';

export interface ParameterSpec {
  name: string;
  type?: string | null;
  description?: string | null;
  required: boolean;
  default?: unknown;
  constraints?: { name: string; argument: unknown }[];
}

type Kind = 'integer' | 'float' | 'boolean' | 'string' | 'choice' | 'yaml';

const show = (value: unknown) => JSON.stringify(value);

/** Which field a parameter gets: its declared type, else what its default is. */
export function kindOf(spec: ParameterSpec): Kind {
  if (spec.constraints?.some((c) => c.name === 'valid_values' && Array.isArray(c.argument))) return 'choice';
  switch (spec.type) {
    case 'integer':
      return 'integer';
    case 'float':
      return 'float';
    case 'boolean':
      return 'boolean';
    case 'list':
    case 'dict':
      return 'yaml';
    case undefined:
    case null:
      if (typeof spec.default === 'boolean') return 'boolean';
      if (typeof spec.default === 'number') return Number.isInteger(spec.default) ? 'integer' : 'float';
      if (spec.default !== undefined && typeof spec.default !== 'string') return 'yaml';
      return 'string';
    default:
      // string, and Cloudify's names of objects (deployment_id, node_id, secret_key...): text
      return 'string';
  }
}

/** How a value is written in a field: strings as they are, the rest as JSON (which YAML reads). */
const asText = (value: unknown) => (typeof value === 'string' ? value : show(value));

/** The text a field starts with: the default as the field shows it. */
export const initialText = (spec: ParameterSpec): string =>
  spec.default === undefined || spec.default === null ? '' : asText(spec.default);

const validValues = (spec: ParameterSpec) =>
  (spec.constraints?.find((c) => c.name === 'valid_values')?.argument ?? []) as unknown[];

/** One constraint's verdict on a value: a problem, or undefined when it passes. */
export function checkConstraint(value: unknown, name: string, argument: unknown): string | undefined {
  const comparable = (v: unknown): v is number | string => typeof v === 'number' || typeof v === 'string';
  const size = (v: unknown) =>
    typeof v === 'string' || Array.isArray(v)
      ? v.length
      : v && typeof v === 'object'
        ? Object.keys(v).length
        : undefined;
  const compare = (ok: (a: number | string, b: number | string) => boolean, words: string) => {
    if (!comparable(value) || !comparable(argument) || typeof value !== typeof argument)
      return `${show(value)} cannot be compared with ${show(argument)}`;
    return ok(value, argument) ? undefined : `must be ${words} ${show(argument)}`;
  };
  const length = (ok: (n: number, m: number) => boolean, words: string) => {
    const n = size(value);
    if (n === undefined) return `${show(value)} has no length`;
    return ok(n, argument as number) ? undefined : `length must be ${words} ${argument} (it is ${n})`;
  };
  switch (name) {
    case 'equal':
      return show(value) === show(argument) ? undefined : `must be ${show(argument)}`;
    case 'greater_than':
      return compare((a, b) => a > b, 'greater than');
    case 'greater_or_equal':
      return compare((a, b) => a >= b, 'at least');
    case 'less_than':
      return compare((a, b) => a < b, 'less than');
    case 'less_or_equal':
      return compare((a, b) => a <= b, 'at most');
    case 'in_range': {
      const [low, high] = argument as [number | string, number | string];
      if (!comparable(value) || typeof value !== typeof low)
        return `${show(value)} cannot be compared with ${show(argument)}`;
      return value >= low && value <= high ? undefined : `must be from ${show(low)} to ${show(high)}`;
    }
    case 'valid_values':
      return (argument as unknown[]).some((v) => show(v) === show(value))
        ? undefined
        : `must be one of ${(argument as unknown[]).map(show).join(', ')}`;
    case 'length':
      return length((n, m) => n === m, 'exactly');
    case 'min_length':
      return length((n, m) => n >= m, 'at least');
    case 'max_length':
      return length((n, m) => n <= m, 'at most');
    case 'pattern': {
      if (typeof value !== 'string') return `${show(value)} is not a string`;
      try {
        // Anchored at the start only, as Cloudify's (and the engine's) matching.
        return new RegExp(`^(?:${argument as string})`).test(value)
          ? undefined
          : `must match ${show(argument)}`;
      } catch {
        return undefined; // a pattern JavaScript cannot read: left to the server
      }
    }
    default:
      return undefined; // constraints that pick among a manager's objects: nothing to check here
  }
}

export type ReadResult =
  | { ok: true; values: Record<string, unknown> }
  | { ok: false; problems: Record<string, string> };

/**
 * The values of the fields (text by name, checkboxes as 'true'/'false'), typed and checked. An
 * empty field and one left at its default are left out: the declared default applies.
 */
export function readParameters(specs: ParameterSpec[], texts: Record<string, string>): ReadResult {
  const values: Record<string, unknown> = {};
  const problems: Record<string, string> = {};
  for (const spec of specs) {
    const text = (texts[spec.name] ?? '').trim();
    const kind = kindOf(spec);
    // Empty: the default applies (it is left out), or it is missing.
    if (text === '' && kind !== 'boolean') {
      if (spec.required) problems[spec.name] = 'required';
      continue;
    }
    // Left as its default: left out too, so that the server's default applies as declared.
    if (spec.default !== undefined && spec.default !== null) {
      const unchanged = kind === 'boolean' ? (text === 'true') === spec.default : text === initialText(spec);
      if (unchanged) continue;
    }
    let value: unknown;
    if (kind === 'integer') {
      value = Number(text);
      if (!/^[-+]?\d+$/.test(text)) problems[spec.name] = `${show(text)} is not an integer`;
    } else if (kind === 'float') {
      value = Number(text);
      if (text === '' || !Number.isFinite(value)) problems[spec.name] = `${show(text)} is not a number`;
    } else if (kind === 'boolean') value = text === 'true';
    else if (kind === 'string') value = texts[spec.name] ?? '';
    else {
      try {
        value = parse(text) as unknown;
      } catch (error) {
        problems[spec.name] = `not YAML or JSON: ${(error as Error).message.split('\n')[0]}`;
        continue;
      }
      if (spec.type === 'list' && !Array.isArray(value)) problems[spec.name] = 'must be a list';
      if (spec.type === 'dict' && (value === null || typeof value !== 'object' || Array.isArray(value)))
        problems[spec.name] = 'must be a mapping';
    }
    if (problems[spec.name]) continue;
    for (const constraint of spec.constraints ?? []) {
      const problem = checkConstraint(value, constraint.name, constraint.argument);
      if (problem) {
        problems[spec.name] = problem;
        break;
      }
    }
    values[spec.name] = value;
  }
  return Object.keys(problems).length > 0 ? { ok: false, problems } : { ok: true, values };
}

/** Words for a parameter's constraints, shown under its field. */
const constraintText = (spec: ParameterSpec) =>
  (spec.constraints ?? [])
    .filter((c) => c.name !== 'valid_values')
    .map((c) => `${c.name.replace(/_/g, ' ')} ${show(c.argument)}`)
    .join('; ');

/** The fields of a set of parameters (uncontrolled: read with FormData and readParameters). */
export function ParameterFields({
  specs,
  prefix,
  problems,
}: {
  specs: ParameterSpec[];
  /** Keeps field ids apart between forms on one page. */
  prefix: string;
  problems: Record<string, string>;
}) {
  if (specs.length === 0) return <p class="muted">It declares no parameters.</p>;
  return (
    <div class="parameters">
      {specs.map((spec) => {
        const id = `${prefix}-${spec.name}`;
        const kind = kindOf(spec);
        const problem = problems[spec.name];
        const hint = [spec.description, constraintText(spec)].filter(Boolean).join(' · ');
        const described = [hint && `${id}-hint`, problem && `${id}-problem`].filter(Boolean).join(' ');
        const common = {
          id,
          name: `param:${spec.name}`,
          'aria-invalid': problem ? true : undefined,
          'aria-describedby': described || undefined,
        };
        return (
          <div class="field" key={spec.name} data-parameter={spec.name}>
            {kind === 'boolean' ? (
              <label class="inline" for={id}>
                <input {...common} type="checkbox" value="true" defaultChecked={spec.default === true} />{' '}
                {spec.name}
              </label>
            ) : (
              <label for={id}>
                {spec.name}
                {spec.required && <span class="required"> (required)</span>}
                {spec.type && <span class="muted"> {spec.type}</span>}
              </label>
            )}
            {kind === 'integer' || kind === 'float' ? (
              <input
                {...common}
                type="number"
                step={kind === 'integer' ? 1 : 'any'}
                required={spec.required}
                defaultValue={initialText(spec)}
              />
            ) : kind === 'choice' ? (
              <select {...common} required={spec.required} defaultValue={initialText(spec)}>
                {!spec.required && <option value="">(default)</option>}
                {validValues(spec).map((v) => (
                  <option key={show(v)} value={asText(v)}>
                    {asText(v)}
                  </option>
                ))}
              </select>
            ) : kind === 'yaml' ? (
              <textarea
                {...common}
                rows={3}
                spellcheck={false}
                required={spec.required}
                defaultValue={initialText(spec)}
                placeholder={spec.type === 'list' ? '[a, b]' : 'key: value'}
              />
            ) : kind === 'string' ? (
              <input {...common} required={spec.required} defaultValue={initialText(spec)} />
            ) : null}
            {hint && (
              <small id={`${id}-hint`} class="muted">
                {hint}
              </small>
            )}
            {problem && (
              <small id={`${id}-problem`} class="field-problem">
                {problem}
              </small>
            )}
          </div>
        );
      })}
    </div>
  );
}

/** The texts of a form's parameter fields by name: checkboxes as 'true' or 'false'. */
export function fieldTexts(form: HTMLFormElement, specs: ParameterSpec[]): Record<string, string> {
  const data = new FormData(form);
  const texts: Record<string, string> = {};
  for (const spec of specs) {
    const value = data.get(`param:${spec.name}`);
    texts[spec.name] =
      kindOf(spec) === 'boolean' ? (value === 'true' ? 'true' : 'false') : String(value ?? '');
  }
  return texts;
}
