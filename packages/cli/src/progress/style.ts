/**
 * Plain ANSI styling for the terminal view. A line is built from segments and cut to the
 * terminal width before any escape code is added, so a line never wraps: the live region's
 * height is exactly its number of lines, which the redraw depends on.
 */

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

const CODES: Record<Style, [string, string]> = {
  bold: ['\x1b[1m', '\x1b[22m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  red: ['\x1b[31m', '\x1b[39m'],
  green: ['\x1b[32m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
  cyan: ['\x1b[36m', '\x1b[39m'],
};

export interface Segment {
  text: string;
  style?: Style;
}

export type Line = Segment[];

export const seg = (text: string, style?: Style): Segment => (style ? { text, style } : { text });

/** A text in a style, when `color` is on. */
export function styled(text: string, style: Style, color: boolean): string {
  return color ? `${CODES[style][0]}${text}${CODES[style][1]}` : text;
}

/** The line as text of at most `width` characters, with colour codes when `color` is on. */
export function paint(line: Line, width: number, color: boolean): string {
  let out = '';
  let left = Math.max(0, width);
  for (const { text, style } of line) {
    if (left <= 0) break;
    const part = text.length > left ? `${text.slice(0, Math.max(0, left - 1))}…` : text;
    left -= part.length;
    out += style ? styled(part, style, color) : part;
  }
  return out;
}

/** Whether to colour output: NO_COLOR (any non-empty value) and TERM=dumb turn it off, FORCE_COLOR on. */
export function colorEnabled(env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

/** A bar of `width` cells, `fraction` of them full. */
export function bar(fraction: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/** 4.2s, 1m05s, 1h02m. */
export function duration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
