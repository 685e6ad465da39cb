// Writes stdlib/NAME.yaml.json beside each standard library file: the file parsed, with its
// positions (yaml-source.ts ParsedJson), which the parser reads instead of the YAML while the
// text is the one it was made from. Run after changing a file in stdlib/ (a test says when).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Diagnostics } from '../dist/src/dsl/diagnostics.js';
import { STDLIB_DIR } from '../dist/src/dsl/reader.js';
import { parsedToJson, parseYaml } from '../dist/src/dsl/yaml-source.js';

for (const name of readdirSync(STDLIB_DIR).filter((file) => file.endsWith('.yaml'))) {
  const path = join(STDLIB_DIR, name);
  const text = readFileSync(path, 'utf8');
  const diagnostics = new Diagnostics();
  const value = parseYaml(text, path, diagnostics);
  if (value === undefined || diagnostics.problems.length > 0)
    throw new Error(`${name} does not parse: ${JSON.stringify(diagnostics.problems)}`);
  writeFileSync(`${path}.json`, `${JSON.stringify(parsedToJson(value, text))}\n`);
}
