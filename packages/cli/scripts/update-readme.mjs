// Rewrites the CLI reference block of the repository README from the command definitions.
import { readFileSync, writeFileSync } from 'node:fs';
import { cliReference, withReference } from '../dist/src/reference.js';

const path = new URL('../../../README.md', import.meta.url);
writeFileSync(path, withReference(readFileSync(path, 'utf8'), await cliReference()));
