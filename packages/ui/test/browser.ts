/**
 * A real browser for the UI's tests: Debian's chromium driven by playwright-core (no browser
 * download). Without chromium the tests are skipped naming it, unless WEFT_TEST_CHROMIUM_REQUIRED=1
 * (CI), where that fails.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { TestServer } from '@weft/server/test/harness';
import { type Browser, chromium, type Page } from 'playwright-core';
import { writeTar } from '../src/app/archive.js';

export const CHROMIUM = process.env.WEFT_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumSkip(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `chromium is not installed (no ${CHROMIUM}; Debian: apt-get install chromium)`;
  if (process.env.WEFT_TEST_CHROMIUM_REQUIRED === '1')
    throw new Error(`${reason}, and WEFT_TEST_CHROMIUM_REQUIRED=1`);
  return reason;
}

/** A session for the UI made from a token (as its login page keeps it), to open pages signed in. */
export async function sessionFor(server: TestServer, username: string, password: string): Promise<string> {
  const issued = (await server.api('POST', '/auth/login', { token: null, body: { username, password } }))
    .body;
  const me = (await server.api('GET', '/auth/me', { token: issued.token })).body;
  return JSON.stringify({
    token: issued.token,
    tokenId: issued.id,
    user: me.name,
    superuser: me.superuser,
    tenants: me.tenants,
    tenant: 'default_tenant',
  });
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI containers) chromium refuses to start sandboxed.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** Screenshots of the main pages, kept as test artifacts: WEFT_UI_SCREENSHOTS, or a directory under the OS's tmp. */
export const SCREENSHOTS = process.env.WEFT_UI_SCREENSHOTS ?? join(tmpdir(), 'weft-ui-screenshots');

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * How far the page scrolls sideways (what a layout break looks like), and the elements that stick
 * out of the window, to say which.
 */
export const horizontalOverflow = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const outside = [...document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > width + 1)
      .filter((element) => !element.closest('.table-wrap, .topology, .log'))
      .map((element) => `${element.tagName.toLowerCase()}.${element.getAttribute('class') ?? ''}`);
    return { overflow: document.documentElement.scrollWidth - width, outside: outside.slice(0, 5) };
  });

/** The relative luminance (0 black, 1 white) of the page's background. */
export const backgroundLuminance = (page: Page) =>
  page.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.body)
      .backgroundColor.match(/\d+/g)!
      .slice(0, 3)
      .map((c) => Number(c) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  });

/** A tar.gz of the given files, written by the UI's own tar writer: the tests need no tar binary. */
export function tarGz(files: Record<string, string | Buffer>): Buffer {
  return gzipSync(
    writeTar(Object.entries(files).map(([path, content]) => ({ path, content: Buffer.from(content) }))),
  );
}
