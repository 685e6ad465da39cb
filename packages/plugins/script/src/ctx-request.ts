import { isPrototypeKey, type Json, prototypeKeyReason, WeftError } from '@weft/sdk';
import { getPath, parsePath, setPath } from './path-access.js';

/**
 * What a `ctx` call walks, as Cloudify's ctx proxy walks its Python ctx object: namespaces of
 * named members, maps (properties, runtime properties) and callables.
 */
export class Namespace {
  constructor(readonly members: Record<string, Member>) {}
}

/** A map reached through ctx: `key` reads, `key value` writes (unless read-only). */
export class MapRef {
  constructor(
    readonly value: Record<string, Json>,
    readonly name: string,
    readonly writable: boolean,
    /** Judges the map after each write (a size limit); what it throws undoes the write. */
    readonly check?: (value: Record<string, Json>) => void,
  ) {}
}

/** Runs a write of the given top-level keys; refused by the map's check, it changes nothing. */
function checkedWrite(map: MapRef, keys: readonly string[], write: () => void): void {
  if (!map.check) {
    write();
    return;
  }
  // Copies: a path write changes the values it goes through in place.
  const before = keys.map((key) => [key, structuredClone(map.value[key])] as const);
  write();
  try {
    map.check(map.value);
  } catch (error) {
    for (const [key, value] of before) {
      if (value === undefined) delete map.value[key];
      else map.value[key] = value;
    }
    throw error;
  }
}

type Implementation = (args: Json[]) => unknown;

/** A callable with named parameters, so that a trailing `@{...}` map can give them by name. */
export class Callable {
  constructor(
    readonly name: string,
    readonly parameters: string[],
    readonly implementation: Implementation,
    /** How many parameters must be given. */
    readonly required = 0,
  ) {}
}

export type Member = Namespace | MapRef | Callable | Json | undefined;

/** A ctx call that cannot be answered: the message is shown on the script's stderr. */
export class CtxRequestError extends WeftError {
  static override readonly code = 'ctx_request';
  static override readonly kind = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'CtxRequestError';
  }
}

function isMap(value: unknown): value is Record<string, Json> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(args: Json[]): string {
  return args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
}

/**
 * Calls `fn` with positional arguments and, when the last one is a map of its parameter names,
 * named ones (Cloudify takes any trailing map as named arguments; a map value such as
 * `ctx returns @'{"a": 1}'` stays a value here).
 */
async function call(fn: Callable, given: Json[]): Promise<unknown> {
  const positional = [...given];
  const last = positional[positional.length - 1];
  const named: Record<string, Json> = {};
  if (isMap(last)) {
    const keys = Object.keys(last);
    if (keys.length > 0 && keys.every((k) => fn.parameters.includes(k))) {
      positional.pop();
      Object.assign(named, last);
    }
  }
  if (positional.length > fn.parameters.length)
    throw new CtxRequestError(
      `${fn.name} takes at most ${fn.parameters.length} argument${fn.parameters.length === 1 ? '' : 's'} (${fn.parameters.join(', ') || 'none'}), got ${positional.length}`,
    );
  const args = fn.parameters.map((p, i) => (i < positional.length ? positional[i] : named[p]));
  const missing = fn.parameters.slice(0, fn.required).filter((_p, i) => args[i] === undefined);
  if (missing.length > 0) throw new CtxRequestError(`${fn.name} needs ${missing.join(', ')}`);
  while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
  return await fn.implementation(args as Json[]);
}

/** The map methods Cloudify's proxy reaches on a dict (`ctx instance runtime_properties get k`). */
function mapMethod(map: MapRef, name: string): Callable | undefined {
  const value = map.value;
  const write = () => {
    if (!map.writable) throw new CtxRequestError(`${map.name} cannot be changed`);
  };
  const key = (given: Json | undefined): string => {
    const name = String(given);
    if (isPrototypeKey(name)) throw new CtxRequestError(`${map.name}: ${prototypeKeyReason(name)}`);
    return name;
  };
  switch (name) {
    case 'get':
      return new Callable(
        'get',
        ['key', 'default'],
        ([name, fallback]) => value[key(name)] ?? fallback ?? null,
        1,
      );
    case 'keys':
      return new Callable('keys', [], () => Object.keys(value));
    case 'values':
      return new Callable('values', [], () => Object.values(value));
    case 'items':
      return new Callable('items', [], () => Object.entries(value));
    case 'pop':
      return new Callable(
        'pop',
        ['key', 'default'],
        ([name, fallback]) => {
          write();
          const found = value[key(name)];
          if (found === undefined) {
            if (fallback !== undefined) return fallback;
            throw new CtxRequestError(`${map.name} has no key '${String(name)}'`);
          }
          delete value[key(name)];
          return found;
        },
        1,
      );
    case 'update':
      return new Callable(
        'update',
        ['values'],
        ([values]) => {
          write();
          if (!isMap(values))
            throw new CtxRequestError(`${map.name} update needs a map (give it as @'{...}')`);
          for (const name of Object.keys(values)) key(name);
          checkedWrite(map, Object.keys(values), () => Object.assign(value, values));
          return null;
        },
        1,
      );
    default:
      return undefined;
  }
}

/** The plain data a namespace holds (its callables left out), for `ctx node` and the like. */
function dataOf(member: Member): Json | undefined {
  if (member instanceof Namespace) {
    const out: Record<string, Json> = {};
    for (const [name, value] of Object.entries(member.members)) {
      const data = dataOf(value);
      if (data !== undefined) out[name] = data;
    }
    return out;
  }
  if (member instanceof MapRef) return member.value;
  if (member instanceof Callable) return undefined;
  return member;
}

/**
 * Answers one ctx call, as Cloudify's `process_ctx_request`: each argument names a member
 * (`-` read as `_`); on a map, one more argument reads a path (`a.b[0]`) and two write one; a
 * callable takes the remaining arguments.
 */
export async function processCtxRequest(root: Namespace, args: Json[]): Promise<unknown> {
  let current: Member = root;
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (current instanceof Callable) return call(current, args.slice(index));
    if (typeof arg !== 'string')
      throw new CtxRequestError(`${JSON.stringify(arg)} cannot be processed in: ctx ${describe(args)}`);
    if (current instanceof Namespace) {
      const name = arg.replaceAll('-', '_');
      if (!Object.hasOwn(current.members, name))
        throw new CtxRequestError(
          `unknown: '${arg}' in: ctx ${describe(args)} (known here: ${Object.keys(current.members)
            .filter((k) => !k.startsWith('_'))
            .sort()
            .join(', ')})`,
        );
      current = current.members[name];
      continue;
    }
    if (current instanceof MapRef) {
      const method = mapMethod(current, arg);
      if (method) {
        current = method;
        continue;
      }
      const remaining = args.length - index;
      if (remaining === 1) {
        // As Cloudify's PathDictAccess: reading what is not there is an error (`get` has a default).
        const found = getPath(current.value, arg);
        if (found === undefined)
          throw new CtxRequestError(`illegal path: ${arg} (${current.name} have no such key)`);
        return found;
      }
      if (remaining === 2) {
        if (!current.writable) throw new CtxRequestError(`${current.name} cannot be changed`);
        const map = current;
        checkedWrite(map, [String(parsePath(arg)[0])], () => setPath(map.value, arg, args[index + 1]!));
        return null;
      }
      throw new CtxRequestError(
        `too many arguments for ${current.name}: give a path to read it, or a path and a value to set it, in: ctx ${describe(args)}`,
      );
    }
    throw new CtxRequestError(`'${arg}' cannot be processed in: ctx ${describe(args)}`);
  }
  if (current instanceof Callable) return call(current, []);
  if (current === undefined) return null;
  return dataOf(current) ?? null;
}
