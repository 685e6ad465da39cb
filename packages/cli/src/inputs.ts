import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type Diagnostics,
  isMapping,
  limits,
  parseScalarText,
  parseYaml,
  type ValueMap,
} from '@weft/engine/language';
import { isPrototypeKey, prototypeKeyReason, setOwn } from '@weft/sdk/keys';

/**
 * Reads `-p KEY=VALUE` arguments, a HOT template's parameters as Heat's client takes them: the
 * value is text (the parameter's type reads it: `-p count=3` is a number for a number parameter).
 */
export function readParameters(args: string[], diagnostics: Diagnostics): ValueMap {
  const result: ValueMap = {};
  for (const arg of args) {
    const at = arg.indexOf('=');
    const key = arg.slice(0, at);
    if (at <= 0) {
      diagnostics.add('bad-inputs', undefined, '', `-p ${arg}: expected KEY=VALUE`);
      continue;
    }
    if (isPrototypeKey(key)) {
      diagnostics.add('bad-inputs', undefined, '', `-p ${arg}: ${prototypeKeyReason(key)}`);
      continue;
    }
    setOwn(result, key, arg.slice(at + 1));
  }
  return result;
}

/**
 * Reads `-i` arguments: `KEY=VALUE` (the value read as a YAML scalar, so `port=8080` is an
 * integer), `K1=V1;K2=V2`, or a YAML/JSON file of inputs. Later arguments win.
 */
export function readInputs(args: string[], diagnostics: Diagnostics): ValueMap {
  let result: ValueMap | undefined;
  // The first mapping read is kept as is, so problems in an inputs file point into it.
  const merge = (values: ValueMap) => {
    if (!result) result = values;
    else for (const [k, v] of Object.entries(values)) setOwn(result, k, v);
  };
  for (const arg of args) {
    const looksLikeFile = !arg.includes('=') || /\.(ya?ml|json)$/i.test(arg);
    if (looksLikeFile && existsSync(arg)) {
      const stat = statSync(arg);
      if (!stat.isFile()) {
        diagnostics.add(
          'bad-inputs',
          undefined,
          '',
          `-i ${arg}: is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}; give a YAML/JSON inputs file or KEY=VALUE`,
        );
        continue;
      }
      // Capped as blueprint files are: inputs are read whole into memory.
      if (stat.size > limits.maxFileBytes) {
        const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
        diagnostics.add(
          'bad-inputs',
          undefined,
          '',
          `-i ${arg}: file is ${mib(stat.size)} MiB, over the ${mib(limits.maxFileBytes)} MiB limit for an inputs file`,
        );
        continue;
      }
      const path = resolve(arg);
      const doc = parseYaml(readFileSync(path, 'utf8'), path, diagnostics);
      if (doc === undefined || doc === null) continue;
      if (!isMapping(doc))
        diagnostics.add(
          'bad-inputs',
          undefined,
          '',
          `${arg}: an inputs file must hold a mapping of input names to values`,
        );
      else merge(doc);
      continue;
    }
    if (!arg.includes('=')) {
      diagnostics.add(
        'bad-inputs',
        undefined,
        '',
        `-i ${arg}: expected KEY=VALUE or an existing inputs file`,
      );
      continue;
    }
    const pairs: ValueMap = {};
    for (const part of splitPairs(arg)) {
      const at = part.indexOf('=');
      const name = part.slice(0, at).trim();
      if (!name) diagnostics.add('bad-inputs', undefined, '', `-i ${part}: missing input name before '='`);
      else if (isPrototypeKey(name))
        diagnostics.add('bad-inputs', undefined, '', `-i ${part}: ${prototypeKeyReason(name)}`);
      else pairs[name] = parseScalarText(part.slice(at + 1));
    }
    merge(pairs);
  }
  return result ?? {};
}

/** Cloudify's `-i 'a=1;b=2'` form, used only when every part is a pair. */
function splitPairs(arg: string): string[] {
  const parts = arg.split(';');
  return parts.every((p) => p.includes('=')) ? parts : [arg];
}
