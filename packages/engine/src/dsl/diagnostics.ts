import { relative } from 'node:path';
import { WeftError } from '@weft/sdk/errors';

/** A file a blueprint value came from; line and column are computed only when a problem is shown. */
export class SourceFile {
  private lineStarts?: number[];

  constructor(
    readonly path: string,
    private readonly text = '',
  ) {}

  /** 1-based line and column of a character offset. */
  position(offset: number): { line: number; col: number } {
    if (!this.lineStarts) {
      this.lineStarts = [0];
      for (let i = 0; i < this.text.length; i++)
        if (this.text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    }
    const starts = this.lineStarts;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (starts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, col: offset - starts[low]! + 1 };
  }
}

/** Where a value sits: a file and a character offset in it. */
export interface Loc {
  file: SourceFile;
  offset: number;
}

export interface Problem {
  /** Stable machine-readable kind, e.g. `unknown-key`, `type-mismatch`. */
  code: string;
  file?: string;
  line?: number;
  col?: number;
  /** Dotted YAML path of the offending value, e.g. `node_templates.web.properties.port`. */
  path: string;
  message: string;
  /** Another place the problem involves (e.g. the first definition of a duplicate). */
  related?: { file: string; line: number; col: number };
}

/** Collects every problem so all of them can be reported at once. */
export class Diagnostics {
  readonly problems: Problem[] = [];
  /** What the user should know but that does not make the blueprint invalid (a plugin not installed here). */
  readonly warnings: Problem[] = [];
  private readonly seen = new Set<string>();

  add(code: string, at: Loc | undefined, path: string, message: string, related?: Loc): void {
    this.record(this.problems, code, at, path, message, related);
  }

  warn(code: string, at: Loc | undefined, path: string, message: string): void {
    this.record(this.warnings, code, at, path, message);
  }

  private record(
    into: Problem[],
    code: string,
    at: Loc | undefined,
    path: string,
    message: string,
    related?: Loc,
  ): void {
    const problem: Problem = { code, path, message };
    if (related) problem.related = { file: related.file.path, ...related.file.position(related.offset) };
    if (at) {
      const { line, col } = at.file.position(at.offset);
      problem.file = at.file.path;
      problem.line = line;
      problem.col = col;
    }
    // The same value can be reached twice (shared YAML anchors, inherited definitions).
    const key = `${into === this.warnings ? 'w' : 'p'}:${problem.file}:${problem.line}:${problem.col}:${path}:${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    into.push(problem);
  }

  /**
   * Gives each problem found without a place the nearest place its path leads to, so that every
   * problem points into a file (a value checked after it was merged or computed lost its own).
   */
  placeUnplaced(locate: (path: string) => Loc | undefined): void {
    for (const problem of [...this.problems, ...this.warnings]) {
      if (problem.file !== undefined) continue;
      const at = locate(problem.path);
      if (!at) continue;
      problem.file = at.file.path;
      Object.assign(problem, at.file.position(at.offset));
    }
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  sorted(): Problem[] {
    return [...this.problems].sort(
      (a, b) =>
        (a.file ?? '').localeCompare(b.file ?? '') ||
        (a.line ?? 0) - (b.line ?? 0) ||
        (a.col ?? 0) - (b.col ?? 0),
    );
  }
}

function shownPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') ? rel : file;
}

/** `file:line:col path: message`, with the file shown relative to `cwd` when it is inside it. */
export function formatProblem(problem: Problem, cwd = process.cwd()): string {
  const where = problem.file ? `${shownPath(problem.file, cwd)}:${problem.line}:${problem.col} ` : '';
  const also = problem.related
    ? ` (${shownPath(problem.related.file, cwd)}:${problem.related.line}:${problem.related.col})`
    : '';
  return `${where}${problem.path ? `${problem.path}: ` : ''}${problem.message}${also}`;
}

/** Thrown for problems that make going on pointless (unreadable file, bad YAML at the top). */
export class BlueprintError extends WeftError {
  static override readonly code = 'blueprint_invalid';
  static override readonly kind = 'usage';
  constructor(readonly problems: Problem[]) {
    super(problems.map((p) => formatProblem(p)).join('\n'));
    this.name = 'BlueprintError';
  }
}

/** Edit distance counting an adjacent transposition as one edit ("prot" -> "port"), capped at `limit + 1`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      row.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > limit) return limit + 1;
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

/** The nearest known name, if one is close enough to be a likely typo. */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  // Short names only match when they differ in case: "c" is not a typo of "a".
  const limit = name.length <= 2 ? 0 : name.length <= 5 ? 1 : name.length <= 11 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = limit + 1;
  const lower = name.toLowerCase();
  for (const candidate of candidates) {
    if (candidate.toLowerCase() === lower) return candidate;
    if (limit === 0) continue;
    const d = editDistance(lower, candidate.toLowerCase(), limit);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

export function didYouMean(name: string, candidates: Iterable<string>): string {
  const list = [...candidates];
  // A name imported under a namespace is most likely what a bare name meant.
  const namespaced = list.filter((c) => c.endsWith(`--${name}`));
  if (namespaced.length === 1) return `; did you mean '${namespaced[0]}'?`;
  const near = nearest(name, list);
  return near ? `; did you mean '${near}'?` : '';
}

/** A value as a message shows it: a string as it is, anything else as compact JSON, cut at 60 characters. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}
