import type { Value } from '../dsl/yaml-source.js';
import type { Json } from '../store/types.js';

export const MASK = '******';

/** Hides secret values wherever they could leak: event messages, log lines, errors. */
export class Masker {
  private readonly values = new Set<string>();

  /** Registers a secret: its text, and every string inside it when it is structured. */
  add(secret: Value): void {
    if (secret === null || secret === undefined) return;
    if (typeof secret === 'object') {
      this.values.add(JSON.stringify(secret));
      for (const part of Object.values(secret)) this.add(part as Value);
      return;
    }
    const text = String(secret);
    // Very short values would mask ordinary words; they are still never printed on purpose.
    if (text.length < 3) return;
    this.values.add(text);
    // The same value written inside JSON (quotes and backslashes escaped).
    const escaped = JSON.stringify(text).slice(1, -1);
    if (escaped !== text) this.values.add(escaped);
  }

  mask(text: string): string {
    if (this.values.size === 0) return text;
    let out = text;
    // Longest first, so a secret containing another is masked whole.
    for (const value of [...this.values].sort((a, b) => b.length - a.length)) {
      if (out.includes(value)) out = out.split(value).join(MASK);
    }
    return out;
  }

  maskJson(value: Json): Json {
    if (this.values.size === 0) return value;
    if (typeof value === 'string') return this.mask(value);
    if (Array.isArray(value)) return value.map((v) => this.maskJson(v));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.maskJson(v);
      return out;
    }
    return value;
  }
}
