// weft.nodes.RandomString: Heat's OS::Heat::RandomString. A random string (a password, a token)
// drawn with a cryptographic generator from character classes and sequences, each with a minimum
// number of characters; stored once and exposed as the attribute `value`. No property can change
// in place, so any change (a new `salt`, typically) replaces the resource: a new string.
import { randomInt } from 'node:crypto';
import {
  type AbandonedResource,
  AllowedValues,
  type Json,
  Length,
  type Problem,
  type PropertiesOf,
  type PropertiesSchema,
  Range,
  Resource,
} from '@weft/sdk';

/** Heat's character classes (Python's string module constants). */
export const CHARACTER_CLASSES = {
  lettersdigits: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  letters: 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
  lowercase: 'abcdefghijklmnopqrstuvwxyz',
  uppercase: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digits: '0123456789',
  hexdigits: '0123456789ABCDEF',
  octdigits: '01234567',
} as const;

export type CharacterClass = keyof typeof CHARACTER_CLASSES;

const schema = {
  length: {
    type: 'integer',
    description: 'Length of the string to generate.',
    default: 32,
    constraints: [Range({ min: 1, max: 512 })],
  },
  character_classes: {
    type: 'list',
    description: 'Character classes, each with the minimum number of its characters in the string.',
    schema: {
      type: 'map',
      schema: {
        class: {
          type: 'string',
          description: 'A character class.',
          default: 'lettersdigits',
          constraints: [AllowedValues(Object.keys(CHARACTER_CLASSES))],
        },
        min: {
          type: 'integer',
          description: 'The minimum number of characters of this class in the string.',
          default: 1,
          constraints: [Range({ min: 1, max: 512 })],
        },
      },
    },
  },
  character_sequences: {
    type: 'list',
    description: 'Character sequences, each with the minimum number of its characters in the string.',
    schema: {
      type: 'map',
      schema: {
        sequence: {
          type: 'string',
          description: 'The characters to draw from.',
          required: true,
          constraints: [Length({ min: 1 })],
        },
        min: {
          type: 'integer',
          description: 'The minimum number of characters of this sequence in the string.',
          default: 1,
          constraints: [Range({ min: 1, max: 512 })],
        },
      },
    },
  },
  salt: {
    type: 'string',
    description: 'Ignored by the generator: set or change it to get a new string (the resource is replaced).',
  },
} as const satisfies PropertiesSchema;

export type RandomStringProperties = PropertiesOf<typeof schema>;

interface Pool {
  characters: string;
  min: number;
}

function classPools(properties: RandomStringProperties): Pool[] {
  return (properties.character_classes ?? []).map((c) => ({
    characters: CHARACTER_CLASSES[c.class as CharacterClass],
    min: c.min,
  }));
}

function sequencePools(properties: RandomStringProperties): Pool[] {
  return (properties.character_sequences ?? []).map((s) => ({ characters: s.sequence, min: s.min }));
}

function pick(characters: string): string {
  return characters[randomInt(characters.length)]!;
}

/**
 * Heat's algorithm: each class's and sequence's minimum first, then the rest from a class or a
 * sequence chosen at random (classes and sequences weighted alike), then shuffled. With neither,
 * every character comes from lettersdigits.
 */
export function generate(properties: RandomStringProperties): string {
  const classes = classPools(properties);
  const sequences = sequencePools(properties);
  const pools = [...classes, ...sequences];
  if (pools.length === 0) pools.push({ characters: CHARACTER_CLASSES.lettersdigits, min: 0 });
  const chars: string[] = [];
  for (const pool of pools) for (let i = 0; i < pool.min; i++) chars.push(pick(pool.characters));
  while (chars.length < properties.length) chars.push(pick(pools[randomInt(pools.length)]!.characters));
  // Fisher-Yates, so the minimums are not all at the front.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

export class RandomString extends Resource<RandomStringProperties> {
  static override properties: PropertiesSchema = schema;
  static override attributes = { value: 'The random string.' };

  /** The minimums together must fit in the length (Heat's validation). */
  static override validate(values: Record<string, Json>): Problem[] {
    const minimums = (list: Json | undefined): number =>
      Array.isArray(list)
        ? list.reduce<number>((sum, item) => {
            const min = (item as { min?: Json } | null)?.min;
            return sum + (typeof min === 'number' ? min : 0);
          }, 0)
        : 0;
    const length = values.length;
    const total = minimums(values.character_classes) + minimums(values.character_sequences);
    if (typeof length === 'number' && total > length) {
      return [
        {
          path: 'length',
          message: `${length} is less than the character class and sequence minimums together (${total})`,
        },
      ];
    }
    return [];
  }

  override handleCreate(): null {
    // The string is the resource: kept in runtime properties, never logged.
    this.ctx.instance.runtimeProperties.value = generate(this.properties);
    this.resourceId = this.ctx.instance.id;
    return null;
  }

  /** As it was: the value the snapshot kept (a snapshot without one gets a new value). */
  override handleRestore(data: AbandonedResource): null {
    const value = data.resource_data?.value;
    if (typeof value !== 'string') return this.handleCreate();
    this.ctx.instance.runtimeProperties.value = value;
    this.resourceId = this.ctx.instance.id;
    return null;
  }

  override handleDelete(): null {
    this.ctx.instance.runtimeProperties.value = null;
    return null;
  }

  override resolveAttribute(name: string): Json | undefined {
    return name === 'value' ? this.ctx.instance.runtimeProperties.value : undefined;
  }
}
