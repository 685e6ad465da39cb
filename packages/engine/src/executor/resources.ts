import { copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { jinja, templateErrorMessage } from './jinja.js';

export class ResourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResourceError';
  }
}

const TEMPLATE_MARKERS = /\{\{|\{%|\{#/;

/** The blueprint's resources: read, rendered and copied, never from outside its directory. */
export class Resources {
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
      return jinja().renderString(text, { ...variables, ctx: this.context() });
    } catch (error) {
      throw new ResourceError(`template error: ${templateErrorMessage(error)}`);
    }
  }

  async getAndRender(path: string, variables?: Record<string, unknown>): Promise<string> {
    return this.render((await this.get(path)).toString('utf8'), variables);
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
    const text = (await this.get(path)).toString('utf8');
    const out = await this.target(path, target);
    // As Cloudify: only text that looks like a template is rendered.
    await writeFile(out, TEMPLATE_MARKERS.test(text) ? this.render(text, variables) : text);
    return out;
  }
}
