// Bundles the web UI into dist/public: content-hashed scripts and styles (cached for good by the
// browser) and an index.html that names them. No inline script or style: the server's CSP allows
// only its own files. The graph layout library is split off and loaded when a topology is shown.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'public');
const started = performance.now();

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: { app: join(root, 'src', 'app', 'main.tsx'), style: join(root, 'src', 'styles.css') },
  bundle: true,
  splitting: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});

const emitted = Object.entries(result.metafile.outputs);
const entry = (name, extension) =>
  emitted.find(([file]) => basename(file).startsWith(`${name}-`) && file.endsWith(extension))?.[0];
const script = entry('app', '.js');
const style = entry('style', '.css');
if (!script || !style) throw new Error('the bundle has no app script or style');

const template = readFileSync(join(root, 'src', 'index.html'), 'utf8');
writeFileSync(
  join(out, 'index.html'),
  template
    .replace('%STYLE%', `/assets/${basename(style)}`)
    .replace('%SCRIPT%', `/assets/${basename(script)}`),
);
const bytes = emitted.reduce((sum, [, meta]) => sum + meta.bytes, 0);
console.log(
  `web UI built in ${Math.round(performance.now() - started)} ms: ${emitted.length} files, ${Math.round(bytes / 1024)} KiB`,
);
