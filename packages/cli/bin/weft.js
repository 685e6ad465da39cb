#!/usr/bin/env node
// Runs the compiled CLI; `npm ci` builds it through the root `prepare` script.
// `weft --version` alone is answered before the CLI (commander, the engine) is loaded.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  const { readFileSync } = await import('node:fs');
  process.stdout.write(
    `${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`,
  );
} else await import('../dist/src/main.js');
