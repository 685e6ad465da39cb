import { setOwn } from '@weft/sdk';
import type { Value } from '../dsl/yaml-source.js';
import { SEALED_TEXT } from '../secrets/sealed.js';
import type { Json } from '../store/types.js';

export const MASK = '******';

/** Shorter texts would mask ordinary words; they are still never printed on purpose. */
const MIN_LENGTH = 3;

/** Hides secret values wherever they could leak: event messages, log lines, errors. */
export class Masker {
  private readonly values = new Set<string>();
  /** The values, longest first, so that a secret containing another is masked whole. */
  private ordered: string[] | undefined;

  /** Registers a secret: its text, and every string inside it when it is structured. */
  add(secret: Value): void {
    if (secret === null || secret === undefined) return;
    if (typeof secret === 'object') {
      this.values.add(JSON.stringify(secret));
      for (const part of Object.values(secret)) this.add(part as Value);
      this.ordered = undefined;
      return;
    }
    const text = String(secret);
    if (text.length < MIN_LENGTH) return;
    this.addForms(text);
    // Output is logged a line at a time: each line of a multi-line secret (an SSH key) is
    // masked on its own. Blank and very short lines are left out: they would mask everything.
    if (/[\r\n]/.test(text)) {
      for (const line of text.split(/\r?\n|\r/)) {
        const trimmed = line.trim();
        if (trimmed.length >= MIN_LENGTH) this.addForms(trimmed);
      }
    }
    // The same value base64-encoded (as `base64` prints it: 76 characters a line), with or
    // without the newline `echo` adds.
    for (const form of [text, `${text}\n`]) {
      const encoded = Buffer.from(form, 'utf8').toString('base64');
      this.values.add(encoded);
      if (encoded.length > 76)
        for (let at = 0; at < encoded.length; at += 76) {
          const line = encoded.slice(at, at + 76);
          if (line.length >= MIN_LENGTH) this.values.add(line);
        }
    }
    this.ordered = undefined;
  }

  /** A text and its form written inside JSON (quotes and backslashes escaped). */
  private addForms(text: string): void {
    this.values.add(text);
    const escaped = JSON.stringify(text).slice(1, -1);
    if (escaped !== text) this.values.add(escaped);
  }

  /**
   * This masker, or when there are `more` values to hide a copy that hides them too (a shared
   * masker, a tenant's, is not changed for what one deployment hides).
   */
  with(more: Value[]): Masker {
    if (more.length === 0) return this;
    const copy = new Masker();
    for (const value of this.values) copy.values.add(value);
    for (const value of more) copy.add(value);
    return copy;
  }

  /** Whether `text` holds a secret (in any of the forms masked). */
  reveals(text: string): boolean {
    for (const value of this.values) if (text.includes(value)) return true;
    return false;
  }

  /** `text` with every secret, and every sealed value (see secrets/sealed.ts), replaced by the mask. */
  mask(text: string): string {
    let out = text.includes('weft:sealed:') ? text.replace(SEALED_TEXT, MASK) : text;
    if (this.values.size === 0) return out;
    this.ordered ??= [...this.values].sort((a, b) => b.length - a.length);
    for (const value of this.ordered) {
      if (out.includes(value)) out = out.split(value).join(MASK);
    }
    return out;
  }

  /**
   * A value shown as a value (an input, a property, an output): masked as maskJson does, and a
   * number or boolean whose text holds a secret (an integer input given a secret's value, a
   * sensitive number or checkbox) masked too. Not for documents whose other numbers and booleans
   * say how things are (counts, flags): those would be masked with them.
   */
  maskValue(value: Json): Json {
    if (typeof value === 'number' || typeof value === 'boolean') {
      const text = String(value);
      const masked = this.mask(text);
      return masked === text ? value : masked;
    }
    if (Array.isArray(value)) return value.map((v) => this.maskValue(v));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(value)) setOwn(out, k, this.maskValue(v));
      return out;
    }
    return typeof value === 'string' ? this.mask(value) : value;
  }

  maskJson(value: Json): Json {
    if (typeof value === 'string') return this.mask(value);
    if (Array.isArray(value)) return value.map((v) => this.maskJson(v));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(value)) setOwn(out, k, this.maskJson(v));
      return out;
    }
    return value;
  }
}
