/** Asking before what cannot be undone: on a terminal only, skipped by --yes. */
import { createInterface } from 'node:readline';

/** Where the question is asked: standard input and standard error, unless a test gives others. */
export interface Terminal {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Asks `question` and waits for y/yes (anything else, or the end of input, is no). Without a
 * terminal on both sides (a pipe, a script, CI) nothing is asked: the answer is yes, as the
 * command was run on purpose.
 */
export function confirm(
  question: string,
  terminal: Terminal = { input: process.stdin, output: process.stderr },
): Promise<boolean> {
  if (!terminal.input.isTTY || !terminal.output.isTTY) return Promise.resolve(true);
  return new Promise((resolve) => {
    const lines = createInterface({ input: terminal.input, output: terminal.output, terminal: false });
    let answered = false;
    lines.once('line', (answer) => {
      answered = true;
      lines.close();
      resolve(/^\s*y(es)?\s*$/i.test(answer));
    });
    lines.once('close', () => {
      if (!answered) resolve(false);
    });
    terminal.output.write(`${question} [y/N] `);
  });
}
