// Bundles the web UI into dist/public: content-hashed scripts and styles (cached for good by the
// browser) and an index.html that names them. No inline script or style: the server's CSP allows
// only its own files. The graph layout library runs in a Web Worker (its own content-hashed file,
// copied as elkjs ships it), so laying out a topology never blocks the page.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'public');
const started = performance.now();

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const worker = readFileSync(createRequire(import.meta.url).resolve('elkjs/lib/elk-worker.min.js'));
const workerName = `elk-worker-${createHash('sha256').update(worker).digest('hex').slice(0, 8)}.js`;
writeFileSync(join(out, 'assets', workerName), worker);
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
  define: { LAYOUT_WORKER_URL: JSON.stringify(`/assets/${workerName}`) },
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
const bytes = emitted.reduce((sum, [, meta]) => sum + meta.bytes, 0) + worker.length;
console.log(
  `web UI built in ${Math.round(performance.now() - started)} ms: ${emitted.length + 1} files, ${Math.round(bytes / 1024)} KiB`,
);
