/**
 * A blueprint's files with the problems found in them shown at their lines: a list of the problems
 * (each a link to its line), then the file's lines, a problem's line marked and its message under it.
 */
import { useState } from 'preact/hooks';
import type { Problem } from './api.js';

const where = (p: Problem) =>
  p.file ? `${p.file}${p.line ? `:${p.line}${p.column ? `:${p.column}` : ''}` : ''}` : p.path;

const lineId = (file: string, line: number) => `src-${file.replace(/[^\w.-]/g, '_')}-L${line}`;

export function ProblemList({ problems, title }: { problems: Problem[]; title: string }) {
  if (problems.length === 0) return null;
  return (
    <div class={title.startsWith('Warning') ? 'note' : 'error'} role="alert">
      <p>
        <strong>{title}</strong>
      </p>
      <ul class="problems">
        {problems.map((p, index) => (
          <li key={index} data-problem-line={p.line ?? undefined}>
            {p.file && p.line ? (
              <a href={`#${lineId(p.file, p.line)}`} class="mono">
                {where(p)}
              </a>
            ) : (
              <span class="mono">{where(p)}</span>
            )}
            : {p.message} <span class="muted">({p.code})</span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function SourceView({
  files,
  mainFile,
  problems = [],
}: {
  files: Map<string, string>;
  mainFile: string;
  problems?: Problem[];
}) {
  const names = [...files.keys()].filter((n) => /\.ya?ml$/i.test(n)).sort();
  const first = problems.find((p) => p.file && files.has(p.file))?.file;
  const [file, setFile] = useState(first ?? (files.has(mainFile) ? mainFile : names[0]) ?? '');
  const text = files.get(file);
  const atLine = new Map<number, Problem[]>();
  for (const p of problems)
    if (p.file === file && p.line) atLine.set(p.line, [...(atLine.get(p.line) ?? []), p]);

  return (
    <div class="source-view">
      {names.length > 1 && (
        <label class="inline">
          File
          <select value={file} onChange={(e) => setFile((e.target as HTMLSelectElement).value)}>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
                {problems.some((p) => p.file === n) ? ' (problems)' : ''}
              </option>
            ))}
          </select>
        </label>
      )}
      {text === undefined ? (
        <p class="muted">No file to show.</p>
      ) : (
        <section
          class="source"
          // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region is scrolled by keyboard once it has the focus
          tabIndex={0}
          aria-label={`${file}, with its problems at their lines`}
        >
          <ol>
            {text.split('\n').map((line, index) => {
              const number = index + 1;
              const here = atLine.get(number);
              return (
                <li
                  key={number}
                  id={lineId(file, number)}
                  class={here ? 'has-problem' : undefined}
                  data-line={number}
                >
                  <code>{line || ' '}</code>
                  {here?.map((p, i) => (
                    <div key={i} class="line-problem">
                      {p.column ? `col ${p.column}: ` : ''}
                      {p.message}
                    </div>
                  ))}
                </li>
              );
            })}
          </ol>
        </section>
      )}
    </div>
  );
}
