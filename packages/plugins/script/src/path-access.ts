import { isPrototypeKey, type Json, prototypeKeyReason, WeftError } from '@weft/sdk';

/** One step of a path: a map key or a list index. */
type Step = string | number;

/**
 * Parses Cloudify's property paths: `a.b[0].c`, `servers[1]`, `a.b`. A path without dots or
 * brackets is one key. A key that reaches the shared prototypes is refused.
 */
export function parsePath(path: string): Step[] {
  const steps: Step[] = [];
  for (const part of path.split('.')) {
    const match = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) {
      steps.push(part);
      continue;
    }
    if (match[1] !== '' || !match[2]) steps.push(match[1]!);
    for (const index of match[2]!.matchAll(/\[(\d+)\]/g)) steps.push(Number(index[1]));
  }
  const unsafe = steps.find((step) => typeof step === 'string' && isPrototypeKey(step));
  if (unsafe !== undefined) throw new PathError(`'${path}': ${prototypeKeyReason(String(unsafe))}`);
  return steps;
}

/** A ctx path that cannot be read or written as asked (the script's mistake). */
export class PathError extends WeftError {
  static override readonly code = 'ctx_path';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'PathError';
  }
}

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Throws the error setPath would meet half way, before anything is created. */
function checkSettable(root: Record<string, Json>, path: string, steps: Step[]): void {
  let current: Json | undefined = root;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    const last = i === steps.length - 1;
    if (typeof step === 'number') {
      if (!Array.isArray(current))
        throw new PathError(`'${path}': [${step}] indexes something that is not a list`);
      if (step >= current.length)
        throw new PathError(`'${path}': index ${step} is past the end of a list of ${current.length}`);
    } else if (current !== undefined && current !== null && !isMap(current)) {
      throw new PathError(`'${path}': '${step}' is looked up in something that is not a map`);
    }
    if (last) return;
    const next: Json | undefined =
      current === undefined || current === null
        ? undefined
        : (current as Record<string | number, Json>)[step];
    current = next;
  }
}

/** The value at `path`, or undefined when any step is missing. */
export function getPath(root: Record<string, Json>, path: string): Json | undefined {
  let current: Json | undefined = root;
  for (const step of parsePath(path)) {
    if (typeof step === 'number' ? Array.isArray(current) : isMap(current))
      current = (current as Record<string | number, Json>)[step];
    else return undefined;
    if (current === undefined) return undefined;
  }
  return current;
}

/**
 * Sets the value at `path`, creating the maps on the way (as Cloudify's PathDictAccess does). A
 * path that cannot be set changes nothing.
 */
export function setPath(root: Record<string, Json>, path: string, value: Json): void {
  const steps = parsePath(path);
  checkSettable(root, path, steps);
  // Checked: every step on the way is a map key (missing maps are made) or an existing index.
  let current = root as Record<string | number, Json>;
  for (const step of steps.slice(0, -1)) {
    if (current[step] === undefined || current[step] === null) current[step] = {};
    current = current[step] as Record<string | number, Json>;
  }
  current[steps[steps.length - 1]!] = value;
}
