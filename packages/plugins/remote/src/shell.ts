// Building POSIX shell text for the remote host.
import { randomBytes } from 'node:crypto';
import { NonRecoverableError } from '@weft/sdk';

/** A single-quoted word: the shell takes it literally. */
export function quote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A double-quoted word: `$VAR` and `$(...)` still expand, as in the unquoted `export K=V` lines
 * Cloudify's fabric plugin writes (so `PATH: /opt/bin:$PATH` works), but spaces and quotes survive.
 */
function expandable(value: string): string {
  return `"${value.replace(/["\\`]/g, (c) => `\\${c}`)}"`;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `export NAME="value"` lines, one per variable. */
export function exports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!NAME.test(name))
        throw new NonRecoverableError(
          `"${name}" cannot be an environment variable name (letters, digits and _)`,
        );
      return `export ${name}=${expandable(value)}\n`;
    })
    .join('');
}

/** Runs `command` through sudo as root; `-S` reads the password from standard input when one is given. */
export function sudo(command: string, withPassword: boolean): string {
  return `sudo ${withPassword ? "-S -p ''" : '-n'} -H -- sh -c ${quote(command)}`;
}

/**
 * Shell lines that write `content` to `path` (a shell word, variables allowed) through base64, so
 * any bytes survive, and set its mode. Several files thus travel in one command's standard input.
 */
export function writeFileLines(path: string, content: string | Buffer, mode: '600' | '700'): string {
  const marker = `WEFT_${randomBytes(8).toString('hex')}`;
  const encoded = Buffer.from(content)
    .toString('base64')
    .replace(/.{1,76}/g, '$&\n');
  return `base64 -d > ${path} <<'${marker}'\n${encoded}${marker}\nchmod ${mode} ${path}\n`;
}
