/**
 * The web UI in a real browser against a real `weft serve`: logging in by keyboard, starting an
 * install and watching its live view reach success, the events view and its filters, the
 * deployment's topology, logging out; dark and light themes; no sideways scroll at 1280x720 or on
 * a narrow window.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deploy, fixtures, startTestServer, type TestServer, userWithRole } from '@weft/server/test/harness';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { backgroundLuminance, chromiumSkip, horizontalOverflow, launch, screenshot } from './browser.js';

const skip = chromiumSkip();
const gateBlueprint = join(fixtures, 'gate', 'blueprint.yaml');

describe('web UI', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let failedId: string;
  const gate = () => join(server.stateDir, 'gate');
  const executionIdOf = (url: string) => decodeURIComponent(new URL(url).pathname.split('/').pop()!);

  before(async () => {
    server = await startTestServer();
    const tenant = await server.context.tenants.get('default_tenant');
    await deploy(tenant, gateBlueprint, 'web', {
      record: join(server.stateDir, 'record'),
      gate: gate(),
      count: 2,
    });
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    page = await context.newPage();
    // A page error (a script failing, a CSP refusal) fails the test that caused it.
    page.on('pageerror', (error) => {
      throw error;
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the UI is served at / and at its pages’ paths, with the CSP and without a token', async () => {
    for (const path of ['/', '/executions/some-id', '/deployments']) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      assert.match(await response.text(), /<script type="module" src="\/assets\/app-[\w-]+\.js">/);
    }
    const missing = await fetch(`${server.url}/assets/none.js`);
    assert.equal(missing.status, 404, 'a missing file is not answered with the page');
    const api = await fetch(`${server.url}/api/v1/nothing-here`);
    assert.equal(api.status, 401, "the API's unknown routes still need a token");
  });

  test('logging in by keyboard only: a wrong password is said, the right one opens the executions', async () => {
    await page.goto(server.url);
    await page.getByRole('heading', { name: 'Weft' }).waitFor();
    // The user name field has the focus: no mouse from here on.
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type('wrong-password');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'password');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('admin-password');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Executions' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/executions');
    const session = await page.evaluate(() => sessionStorage.getItem('weft.session'));
    assert.match(session ?? '', /"user":"admin"/, 'the token is kept for this tab');
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'and nowhere that outlives it');
    await screenshot(page, 'executions');
  });

  test('an install started from the page is followed live to success', async () => {
    await page.getByRole('button', { name: 'Start a workflow' }).click();
    await page.locator('.start-form').getByLabel('Deployment').selectOption('web');
    await page.getByLabel('Workflow', { exact: true }).fill('install');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.waitForURL(/\/executions\/[^/]+$/);
    const id = executionIdOf(page.url());

    // Held at the gate: the page shows the operation that runs now and its log line.
    await page.locator('.running li', { hasText: 'start on gated_' }).first().waitFor();
    await page.locator('.event', { hasText: 'waiting at' }).first().waitFor();
    assert.equal(await page.getByTestId('execution-status').textContent(), 'started');
    assert.ok(
      await page.getByRole('button', { name: 'Cancel', exact: true }).isVisible(),
      'cancel is offered',
    );
    const progress = page.getByRole('progressbar', { name: 'Operations finished' });
    const partway = Number(await progress.getAttribute('value'));
    const max = Number(await progress.getAttribute('max'));
    assert.ok(partway > 0 && partway < max, `partway: ${partway} of ${max}`);
    await screenshot(page, 'execution-running');

    writeFileSync(gate(), '');
    await page.getByTestId('execution-status').getByText('succeeded').waitFor();
    await page.locator('.event[data-type="workflow_succeeded"]').waitFor();
    assert.equal(Number(await progress.getAttribute('value')), max, 'every operation finished');
    assert.equal(await page.locator('.running li').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Cancel', exact: true }).count(), 0);
    const stored = await server.api('GET', `/executions/${id}`);
    assert.equal(stored.body.status, 'terminated');

    // The log's filters: warnings and above are none; a node's filter keeps that node's lines.
    await page.getByLabel('Level').selectOption('warning');
    await page.getByText('No events.').waitFor();
    await page.getByLabel('Level').selectOption('info');
    await page.getByLabel('Node').fill('base');
    await page.getByLabel('Node').press('Enter');
    const nodes = await page.locator('.event .where').allTextContents();
    assert.ok(nodes.length > 0 && nodes.every((n) => n.startsWith('base')), nodes.join(', '));
    await screenshot(page, 'execution-succeeded');
  });

  test('the executions list shows it; the events page follows and filters', async () => {
    await page.getByRole('link', { name: 'Executions' }).click();
    const row = page.getByRole('row', { name: /web install succeeded/ });
    await row.waitFor();
    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    await page.locator('.event[data-type="workflow_succeeded"]').waitFor();
    await page.getByText('Following live').waitFor();
    await page.getByLabel('Node').fill('last');
    await page.getByLabel('Node').press('Enter');
    await page.waitForURL(/node=last/);
    await page.locator('.event', { hasText: 'started last_' }).waitFor();
    const nodes = await page.locator('.event .where').allTextContents();
    assert.ok(nodes.length > 0 && nodes.every((n) => n.startsWith('last')), nodes.join(', '));
    await screenshot(page, 'events');
  });

  test('the deployment page draws the topology coloured by instance states', async () => {
    await page.goto(`${server.url}/deployments/web`);
    const topology = page.getByTestId('topology');
    await topology.waitFor();
    for (const node of ['base', 'gated', 'last'])
      assert.equal(await topology.locator(`[data-node="${node}"]`).getAttribute('data-tone'), 'ok', node);
    assert.equal(await topology.locator('.edge').count(), 2, 'gated -> base, last -> gated');
    await topology.locator('[data-node="gated"]').focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^Instances of gated/ }).waitFor();
    assert.equal(await page.locator('tr[data-instance]').count(), 2);
    await screenshot(page, 'deployment');
  });

  test('light and dark themes follow the system', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await backgroundLuminance(page);
    await screenshot(page, 'deployment-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await backgroundLuminance(page);
    assert.ok(dark < 0.05, `dark background luminance ${dark}`);
    assert.ok(light > 0.85, `light background luminance ${light}`);
  });

  test('no page scrolls sideways at 1280x720 or on a narrow window', async () => {
    const execution = (await server.api('GET', '/executions')).body.items[0].id as string;
    for (const viewport of [
      { width: 1280, height: 720 },
      { width: 390, height: 800 },
    ]) {
      await page.setViewportSize(viewport);
      // Each page with what it shows once loaded.
      for (const [path, loaded] of [
        ['/executions', 'tbody tr'],
        [`/executions/${execution}`, '.event'],
        ['/events', '.event'],
        ['/deployments/web', '.topology svg'],
      ] as const) {
        await page.goto(`${server.url}${path}`);
        await page.locator(loaded).first().waitFor();
        const { overflow, outside } = await horizontalOverflow(page);
        assert.equal(overflow, 0, `${path} at ${viewport.width}x${viewport.height}: ${outside.join(', ')}`);
      }
      if (viewport.width < 500) await screenshot(page, 'deployment-narrow');
    }
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  test('a failed install shows the failed task and its error; parameters typed as YAML reach the workflow', async () => {
    const tenant = await server.context.tenants.get('default_tenant');
    // Its operations append to a directory, which fails (EISDIR): at once, with task_retries 0.
    await deploy(tenant, gateBlueprint, 'broken', { record: server.stateDir, count: 1 });
    await page.goto(`${server.url}/executions?start=1&deploymentId=broken`);
    await page.getByLabel('Workflow', { exact: true }).fill('install');
    await page.getByLabel(/^Parameters/).fill('task_retries: 0\ntask_retry_interval: 0');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.waitForURL(/\/executions\/[^/?]+$/);
    failedId = executionIdOf(page.url());
    await page.getByTestId('execution-status').getByText('failed').waitFor();
    const failure = page.locator('.failure', { hasText: 'Failed: create on base_' });
    assert.match((await failure.locator('h3').textContent()) ?? '', /\(attempt 1\)/);
    await failure.waitFor();
    assert.match((await failure.textContent()) ?? '', /EISDIR/);
    await page.locator('.failure', { hasText: 'Why it stopped' }).waitFor();
    assert.ok(await page.getByRole('button', { name: 'Resume' }).isVisible(), 'resume is offered');
    const stored = await server.api('GET', `/executions/${failedId}`);
    assert.deepEqual(stored.body.parameters, { task_retries: 0, task_retry_interval: 0 });
    await screenshot(page, 'execution-failed');
  });

  test('cancel stops a running install; resume from the page finishes it', async () => {
    const tenant = await server.context.tenants.get('default_tenant');
    const held = join(server.stateDir, 'gate-held');
    await deploy(tenant, gateBlueprint, 'held', {
      record: join(server.stateDir, 'record-held'),
      gate: held,
      count: 1,
    });
    const started = await server.api('POST', '/executions', {
      body: { deploymentId: 'held', workflowId: 'install' },
    });
    assert.equal(started.status, 201);
    await page.goto(`${server.url}/executions/${started.body.id}`);
    await page.locator('.event', { hasText: 'waiting at' }).first().waitFor();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await page.getByTestId('execution-status').getByText('cancelling').waitFor();
    writeFileSync(held, '');
    await page.getByTestId('execution-status').getByText('cancelled').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByTestId('execution-status').getByText('succeeded').waitFor();
    assert.equal((await server.api('GET', `/executions/${started.body.id}`)).body.status, 'terminated');
  });

  test('a viewer sees no control an operator has', async () => {
    await userWithRole(server, 'vera', 'default_tenant', 'viewer');
    const viewer = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    try {
      const own = await viewer.newPage();
      await own.goto(server.url);
      await own.getByLabel('User name').fill('vera');
      await own.getByLabel('Password').fill('vera-password');
      await own.getByRole('button', { name: 'Log in' }).click();
      await own.getByRole('row', { name: /broken install failed/ }).waitFor();
      assert.equal(await own.getByRole('button', { name: 'Start a workflow' }).count(), 0);
      await own.goto(`${server.url}/executions/${failedId}`);
      await own.getByTestId('execution-status').getByText('failed').waitFor();
      assert.equal(await own.getByRole('button', { name: 'Resume' }).count(), 0);
      assert.equal(await own.getByRole('button', { name: /Cancel/ }).count(), 0);
    } finally {
      await viewer.close();
    }
  });

  test('logging out revokes the token and shows the login page', async () => {
    await page.goto(`${server.url}/executions`);
    const session = JSON.parse((await page.evaluate(() => sessionStorage.getItem('weft.session')))!);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('weft.session')), null);
    const after = await server.api('GET', '/auth/me', { token: session.token });
    assert.equal(after.status, 401, 'the token no longer works');
  });
});
