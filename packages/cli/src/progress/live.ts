/**
 * Draws the live view on a terminal: a region at the bottom redrawn in place on a timer (at most
 * 10 times a second, and only when it changed), with log lines printed above it so they scroll
 * as usual. Events only update the tracker and queue log lines; all drawing happens on the timer.
 */
import type { EventRecord } from '@weft/engine';
import type { ProgressTracker } from './tracker.js';
import { logLine, renderProgress } from './view.js';

export const REDRAW_MS = 100;

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
// biome-ignore lint/suspicious/noControlCharactersInRegex: matches the escape codes we write
const COLOR_CODE = /\x1b\[[0-9;]*m/g;
const up = (n: number) => (n > 0 ? `\x1b[${n}A\r` : '\r');

/** The stream the view is drawn on (process.stdout, a TTY). */
export interface TerminalStream {
  columns?: number;
  rows?: number;
  write(text: string): boolean;
  on(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

export class LiveView {
  private readonly pending: string[] = [];
  private readonly timer: NodeJS.Timeout;
  /** Widths of the lines drawn last, to know how many rows they take after a resize. */
  private drawn: number[] = [];
  private drawnColumns: number;
  private lastFrame = '';
  private ended = false;
  private readonly onResize = () => this.draw(false);
  private readonly onExit = () => this.stream.write(SHOW_CURSOR);
  // SIGINT (Ctrl-C) is the runner's: it stops the execution, which ends the view.
  private readonly onSignal = (signal: NodeJS.Signals) => {
    // The cursor comes back, then the signal does what it did before (ends the process).
    this.detach();
    this.stream.write(SHOW_CURSOR);
    process.kill(process.pid, signal);
  };

  constructor(
    private readonly tracker: ProgressTracker,
    private readonly stream: TerminalStream,
    private readonly color: boolean,
  ) {
    this.drawnColumns = stream.columns || 80;
    stream.write(HIDE_CURSOR);
    stream.on('resize', this.onResize);
    process.on('exit', this.onExit);
    process.once('SIGTERM', this.onSignal);
    this.timer = setInterval(() => this.draw(false), REDRAW_MS);
    this.timer.unref();
  }

  /** Tracks the event; a log line, a warning or an error is printed above the view when `show`n. */
  event(event: EventRecord, show = true): void {
    this.tracker.apply(event);
    if (show && (event.type === 'log' || event.level === 'warning' || event.level === 'error'))
      this.pending.push(logLine(event, this.color));
  }

  /** A line printed above the view, as log lines are. */
  say(text: string): void {
    this.pending.push(text);
  }

  /** Stops redrawing and leaves the final summary in the scrollback. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.detach();
    this.draw(true);
    this.stream.write(SHOW_CURSOR);
  }

  private detach(): void {
    clearInterval(this.timer);
    this.stream.off('resize', this.onResize);
    process.off('exit', this.onExit);
    process.off('SIGTERM', this.onSignal);
  }

  private draw(final: boolean): void {
    // A terminal that reports no size (0x0) is drawn as a common one.
    const columns = this.stream.columns || 80;
    const rows = this.stream.rows || 24;
    const lines = renderProgress(this.tracker, { columns, rows, color: this.color, now: Date.now(), final });
    const frame = lines.join('\n');
    if (frame === this.lastFrame && this.pending.length === 0 && columns === this.drawnColumns && !final)
      return;
    // Lines drawn narrower than the terminal was may now wrap (terminals reflow on a resize).
    let height = 0;
    for (const width of this.drawn) height += Math.max(1, Math.ceil(width / columns));
    let out = up(height);
    // Each row a log line takes is cleared to its end: a message may span lines.
    for (const line of this.pending)
      out += `${line.replaceAll('\n', `${CLEAR_LINE_END}\n`)}${CLEAR_LINE_END}\n`;
    this.pending.length = 0;
    for (const line of lines) out += `${line}${CLEAR_LINE_END}\n`;
    out += CLEAR_BELOW;
    this.stream.write(out);
    this.lastFrame = frame;
    this.drawnColumns = columns;
    this.drawn = lines.map((line) => line.replace(COLOR_CODE, '').length);
  }
}
