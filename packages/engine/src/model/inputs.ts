import type { Blueprint } from '../dsl/blueprint-types.js';
import { type Diagnostics, didYouMean } from '../dsl/diagnostics.js';
import { checkValue } from '../dsl/values.js';
import { keyLocOf, locOf, type Value, type ValueMap } from '../dsl/yaml-source.js';

/**
 * Binds supplied input values to the blueprint's declared inputs: unknown names, missing
 * required inputs, types and constraints are reported. Returns every input's value
 * (defaults applied; an optional input without a value is null). With `leaveUnbound`, a
 * required input without a value is left out instead of reported (checking without inputs).
 */
export function bindInputs(
  blueprint: Blueprint,
  supplied: ValueMap,
  diagnostics: Diagnostics,
  leaveUnbound = false,
): Map<string, Value> {
  const values = new Map<string, Value>();
  for (const name of Object.keys(supplied)) {
    if (!blueprint.inputs.has(name)) {
      diagnostics.add(
        'unknown-input',
        keyLocOf(supplied, name),
        `inputs.${name}`,
        `the blueprint declares no input '${name}'${didYouMean(name, blueprint.inputs.keys())}`,
      );
    }
  }
  const ctx = { version: blueprint.version, dataTypes: blueprint.dataTypes, diagnostics };
  // A value the user gives for a string input must be text; the blueprint's own defaults, as in Cloudify, need not.
  const givenCtx = { ...ctx, strictText: true };
  for (const input of blueprint.inputs.values()) {
    const given = Object.hasOwn(supplied, input.name);
    const value = given ? supplied[input.name]! : input.hasDefault ? input.default! : undefined;
    if (value === undefined || (value === null && input.required)) {
      if (leaveUnbound && input.required) continue;
      if (input.required) {
        diagnostics.add(
          'missing-input',
          input.at,
          `inputs.${input.name}`,
          `required input '${input.name}' has no value (pass it with -i ${input.name}=VALUE)`,
        );
      }
      values.set(input.name, null);
      continue;
    }
    const at = given ? locOf(supplied, input.name) : input.at;
    const where = given ? `inputs.${input.name}` : `inputs.${input.name}.default`;
    values.set(input.name, checkValue(value, input, where, at, given ? givenCtx : ctx));
  }
  return values;
}
