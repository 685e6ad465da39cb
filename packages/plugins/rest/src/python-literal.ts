// Python literals (what `ast.literal_eval` reads): dicts, lists, tuples, strings, numbers, True,
// False and None; JSON's true, false and null are taken too, since `tojson` output lands here.
import { setOwn } from '@weft/sdk';
import type { Value } from './translate.js';

class Parser {
  private at = 0;

  constructor(private readonly text: string) {}

  parse(): Value | undefined {
    const value = this.value();
    this.space();
    return value !== undefined && this.at === this.text.length ? value : undefined;
  }

  private space(): void {
    while (this.at < this.text.length && /\s/.test(this.text[this.at]!)) this.at++;
  }

  private value(): Value | undefined {
    this.space();
    const char = this.text[this.at];
    if (char === '{') return this.dict();
    if (char === '[') return this.sequence(']');
    if (char === '(') return this.sequence(')');
    if (char === "'" || char === '"') return this.string();
    const word = /^(True|False|None|true|false|null)\b/.exec(this.text.slice(this.at));
    if (word) {
      this.at += word[0].length;
      return word[1] === 'True' || word[1] === 'true'
        ? true
        : word[1] === 'False' || word[1] === 'false'
          ? false
          : null;
    }
    const number = /^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+)/.exec(this.text.slice(this.at));
    if (number) {
      this.at += number[0].length;
      return Number(number[0]);
    }
    return undefined;
  }

  private expect(char: string): boolean {
    this.space();
    if (this.text[this.at] !== char) return false;
    this.at++;
    return true;
  }

  private sequence(close: string): Value | undefined {
    this.at++;
    const items: Value[] = [];
    for (;;) {
      if (this.expect(close)) return items;
      const item = this.value();
      if (item === undefined) return undefined;
      items.push(item);
      if (!this.expect(',') && !this.expect(close)) return undefined;
      if (this.text[this.at - 1] === close) return items;
    }
  }

  private dict(): Value | undefined {
    this.at++;
    const out: Record<string, Value> = {};
    for (;;) {
      if (this.expect('}')) return out;
      const key = this.value();
      if (key === undefined || key === null || typeof key === 'object' || !this.expect(':')) return undefined;
      const value = this.value();
      if (value === undefined) return undefined;
      setOwn(out, String(key), value);
      if (!this.expect(',') && !this.expect('}')) return undefined;
      if (this.text[this.at - 1] === '}') return out;
    }
  }

  private string(): string | undefined {
    const quote = this.text[this.at++];
    let out = '';
    while (this.at < this.text.length) {
      const char = this.text[this.at++]!;
      if (char === quote) return out;
      if (char !== '\\') {
        out += char;
        continue;
      }
      const next = this.text[this.at++];
      if (next === 'n') out += '\n';
      else if (next === 't') out += '\t';
      else if (next === 'r') out += '\r';
      else if (next === 'u' || next === 'x') {
        const size = next === 'u' ? 4 : 2;
        out += String.fromCharCode(Number.parseInt(this.text.slice(this.at, this.at + size), 16));
        this.at += size;
      } else out += next ?? '';
    }
    return undefined;
  }
}

/** The value a Python literal denotes, or undefined when the text is not one. */
export function pythonLiteral(text: string): Value | undefined {
  return new Parser(text).parse();
}
