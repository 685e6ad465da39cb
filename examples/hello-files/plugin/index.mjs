// A small plugin for the hello-files example: a site directory and pages written into it.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function createSite(ctx) {
  const root = join(tmpdir(), `weft-${ctx.deployment.id}-${ctx.instance.id}`);
  mkdirSync(root, { recursive: true });
  ctx.instance.runtimeProperties.root = root;
  ctx.logger.info(`site directory ${root}`);
}

export function deleteSite(ctx) {
  const root = ctx.instance.runtimeProperties.root;
  if (typeof root === 'string') rmSync(root, { recursive: true, force: true });
  delete ctx.instance.runtimeProperties.root;
}

// The page is written next to its site: the relationship's target side set `root` on the page.
export function linkToSite(ctx) {
  ctx.source.instance.runtimeProperties.root = ctx.target.instance.runtimeProperties.root;
}

export function writePage(ctx, inputs) {
  const path = join(ctx.instance.runtimeProperties.root, ctx.node.properties.file);
  const html = `<!doctype html><title>${inputs.title}</title><h1>${inputs.title}</h1><p>Written by Weft for ${ctx.deployment.id}.</p>\n`;
  writeFileSync(path, html);
  ctx.instance.runtimeProperties.path = path;
  ctx.logger.info(`wrote ${path}`);
}
