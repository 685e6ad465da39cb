import { realpathSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { WeftError } from '@weft/sdk';
import { within } from '../dsl/paths.js';
import { jinja, templateErrorMessage } from './jinja.js';

export class ResourceError extends WeftError {
  static override readonly code = 'resource';
  constructor(message: string) {
    super(message);
    this.name = 'ResourceError';
  }
}

const TEMPLATE_MARKERS = /\{\{|\{%|\{#/;

/** The blueprint's resources: read, rendered and copied, never from outside its directory. */
export class Resources {
  /** The blueprint directory with its symbolic links resolved (found on first need). */
  private realBaseDir: string | undefined;

  constructor(
    private readonly baseDir: string,
    private readonly context: () => Record<string, unknown>,
  ) {}

  private path(path: string): string {
    const full = resolve(this.baseDir, path);
    const rel = relative(this.baseDir, full);
    if (isAbsolute(path) || rel.startsWith('..') || isAbsolute(rel)) {
      throw new ResourceError(`resource '${path}' is outside the blueprint's directory`);
    }
    // Nor through a symbolic link. A path that does not exist is reported when it is read.
    let real: string;
    try {
      real = realpathSync(full);
    } catch {
      return full;
    }
    this.realBaseDir ??= realpathSync(this.baseDir);
    if (!within(this.realBaseDir, real))
      throw new ResourceError(`resource '${path}' leads outside the blueprint's directory (a symbolic link)`);
    return full;
  }

  async get(path: string): Promise<Buffer> {
    try {
      return await readFile(this.path(path));
    } catch (error) {
      if (error instanceof ResourceError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw new ResourceError(
        code === 'ENOENT' || code === 'ENOTDIR'
          ? `resource '${path}' not found in the blueprint's directory`
          : `resource '${path}' cannot be read: ${code ?? (error as Error).message}`,
      );
    }
  }

  /** Renders text as a Jinja template with `ctx` and the variables; undefined variables render empty. */
  render(text: string, variables: Record<string, unknown> = {}): string {
    try {
      // Jinja reads a template with its line ends made \n and without one final line end.
      const source = text.replace(/\r\n?/g, '\n').replace(/\n$/, '');
      return jinja().renderString(source, { ...variables, ctx: this.context() });
    } catch (error) {
      throw new ResourceError(`template error: ${templateErrorMessage(error)}`);
    }
  }

  async getAndRender(path: string, variables?: Record<string, unknown>): Promise<string> {
    const text = (await this.get(path)).toString('utf8');
    // As Cloudify: only text that looks like a template is rendered.
    return TEMPLATE_MARKERS.test(text) ? this.render(text, variables) : text;
  }

  private async target(path: string, target?: string): Promise<string> {
    const out = target ?? join(await mkdtemp(join(tmpdir(), 'weft-resource-')), basename(path));
    await mkdir(dirname(out), { recursive: true });
    return out;
  }

  async download(path: string, target?: string): Promise<string> {
    const source = this.path(path);
    await this.get(path);
    const out = await this.target(path, target);
    await copyFile(source, out);
    return out;
  }

  async downloadAndRender(
    path: string,
    target?: string,
    variables?: Record<string, unknown>,
  ): Promise<string> {
    const rendered = await this.getAndRender(path, variables);
    const out = await this.target(path, target);
    await writeFile(out, rendered);
    return out;
  }
}
