// weft.nodes.Value: Heat's OS::Heat::Value. Holds a value of any type (typically computed from
// inputs and other nodes' attributes) and exposes it as the attribute `value`; `type`, when
// given, is checked. Both change in place.
import {
  AllowedValues,
  type Json,
  type Problem,
  type PropertiesOf,
  type PropertiesSchema,
  Resource,
} from '@weft/sdk';

/** HOT's parameter types and the JSON shape each one means (Heat maps json to a map). */
const TYPES: Record<string, { name: string; test: (value: Json) => boolean }> = {
  string: { name: 'a string', test: (v) => typeof v === 'string' },
  number: { name: 'a number', test: (v) => typeof v === 'number' },
  boolean: { name: 'a boolean', test: (v) => typeof v === 'boolean' },
  json: { name: 'a map', test: (v) => v !== null && typeof v === 'object' && !Array.isArray(v) },
  comma_delimited_list: { name: 'a list', test: (v) => Array.isArray(v) },
};

const schema = {
  value: { type: 'any', description: 'The value (of any type).', required: true, updateAllowed: true },
  type: {
    type: 'string',
    description: 'The type the value must have.',
    updateAllowed: true,
    constraints: [AllowedValues(Object.keys(TYPES))],
  },
} as const satisfies PropertiesSchema;

export class Value extends Resource<PropertiesOf<typeof schema>> {
  static override properties: PropertiesSchema = schema;
  static override attributes = { value: 'The value.' };

  /** The value must have the type it is said to have. */
  static override validate(values: Record<string, Json>): Problem[] {
    const type = typeof values.type === 'string' ? TYPES[values.type] : undefined;
    if (!type || values.value === undefined) return [];
    return type.test(values.value)
      ? []
      : [{ path: 'value', message: `is not ${type.name} (type is ${values.type})` }];
  }

  override handleCreate(): null {
    this.resourceId = this.ctx.instance.id;
    return null;
  }

  /** Nothing to do: the SDK stores the new properties, and the attribute is read from them. */
  override handleUpdate(): null {
    return null;
  }

  override resolveAttribute(name: string): Json | undefined {
    return name === 'value' ? this.properties.value : undefined;
  }
}
