/**
 * The web UI in a real browser against a real `weft serve`: logging in by keyboard, starting an
 * install and watching its live view reach success, the events view and its filters, the
 * deployment's topology, logging out; dark and light themes; no sideways scroll at 1280x720 or on
 * a narrow window.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deploy, fixtures, startTestServer, type TestServer, userWithRole } from '@weft/server/test/harness';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  backgroundLuminance,
  chromiumSkip,
  horizontalOverflow,
  launch,
  screenshot,
  tarGz,
} from './browser.js';

const skip = chromiumSkip();
const gateBlueprint = join(fixtures, 'gate', 'blueprint.yaml');

/** A blueprint with a misspelt key on line 7. */
const BROKEN = `tosca_definitions_version: cloudify_dsl_1_4
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
node_templates:
  web:
    type: cloudify.nodes.Root
    propertees: {}
`;

/** Uploaded as a directory: its node type in an imported file; inputs typed, defaulted, constrained. */
const SHOP = `tosca_definitions_version: cloudify_dsl_1_4
description: A shop.
imports:
  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml
  - types/app.yaml
inputs:
  port:
    type: integer
    default: 8080
    constraints:
      - in_range: [1, 65535]
  name:
    type: string
  size:
    type: string
    default: small
    constraints:
      - valid_values: [small, large]
node_templates:
  host:
    type: cloudify.nodes.Root
  db:
    type: cloudify.nodes.Root
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
  app:
    type: shop.App
    relationships:
      - {type: cloudify.relationships.contained_in, target: host}
      - {type: cloudify.relationships.connected_to, target: db}
`;
const SHOP_TYPES = `node_types:
  shop.App:
    derived_from: cloudify.nodes.Root
relationships:
  shop.runs_on:
    derived_from: cloudify.relationships.contained_in
node_templates:
  cache:
    type: cloudify.nodes.Root
    relationships:
      - {type: shop.runs_on, target: host}
`;

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
    await page.getByLabel('Workflow', { exact: true }).selectOption('install');
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
    // Tab, not Enter: Enter may go to the field's suggestions list instead of the field.
    await page.getByLabel('Node').press('Tab');
    // The list is filtered once no line of another node is left.
    await page
      .locator('.event .where')
      .filter({ hasNotText: /^base/ })
      .first()
      .waitFor({ state: 'detached' });
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
    // Each output under its name, evaluated from the installed state.
    const outputs = page.getByTestId('outputs');
    await outputs.locator('dt', { hasText: 'base_created' }).waitFor();
    assert.equal((await outputs.locator('dd').first().textContent())?.trim(), 'true');
    await screenshot(page, 'deployment');
  });

  test('light and dark themes follow the system, or the theme chosen', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.locator('html[data-theme="dark"]').waitFor({ state: 'attached' });
    const dark = await backgroundLuminance(page);
    await screenshot(page, 'deployment-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.locator('html[data-theme="light"]').waitFor({ state: 'attached' });
    const light = await backgroundLuminance(page);
    assert.ok(dark < 0.05, `dark background luminance ${dark}`);
    assert.ok(light > 0.85, `light background luminance ${light}`);
    // Chosen by keyboard in the top bar: dark while the system is light, kept across a reload.
    await page.getByLabel('Theme').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByLabel('Theme').inputValue(), 'dark');
    await page.reload();
    await page.getByTestId('topology').waitFor();
    assert.ok((await backgroundLuminance(page)) < 0.05, 'dark as chosen');
    await page.getByLabel('Theme').selectOption('system');
    assert.ok((await backgroundLuminance(page)) > 0.85, 'the system’s again');
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

  test('the start form offers the deployment’s workflows with their parameters as fields, checked before sending; a failed install shows the failed task and its error', async () => {
    const tenant = await server.context.tenants.get('default_tenant');
    // Its operations append to a directory, which fails (EISDIR): at once, with task_retries 0.
    await deploy(tenant, gateBlueprint, 'broken', { record: server.stateDir, count: 1 });
    await page.goto(`${server.url}/executions?start=1&deploymentId=broken`);
    // The deployment's workflows to choose from, each with its declared parameters as fields.
    const workflow = page.getByLabel('Workflow', { exact: true });
    // The list fills once the deployment is read: wait for it, not for the placeholder.
    await workflow.locator('option', { hasText: /^heal$/ }).waitFor({ state: 'attached' });
    const names = await workflow.locator('option').allTextContents();
    assert.ok(
      ['install', 'uninstall', 'scale', 'heal'].every((w) => names.includes(w)),
      names.join(),
    );
    await workflow.selectOption('scale');
    assert.equal(await page.locator('#start-delta').inputValue(), '1', "scale's delta defaults to 1");
    assert.equal(await page.locator('#start-delta').getAttribute('type'), 'number');
    assert.equal(await page.locator('#start-scale_compute').getAttribute('type'), 'checkbox');
    await workflow.selectOption('install');
    assert.equal(await page.locator('#start-delta').count(), 0, 'install declares no delta');
    // Checked before it is sent: a retry count below -1 is refused at its field.
    await page.locator('#start-task_retries').fill('-5');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('.field-problem', { hasText: 'must be at least -1' }).waitFor();
    assert.equal((await server.api('GET', '/executions?deploymentId=broken')).body.total, 0);
    await page.locator('#start-task_retries').fill('0');
    await page.locator('#start-task_retry_interval').fill('0');
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
    // What was given, beside the defaults of install's own parameters (every instance).
    assert.deepEqual(stored.body.parameters, {
      node_ids: [],
      node_instance_ids: [],
      type_names: [],
      task_retries: 0,
      task_retry_interval: 0,
    });
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
    // Its deployment cannot be deleted while it runs.
    await page.goto(`${server.url}/deployments/held`);
    await page.getByTestId('live').waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText(/An execution is running on held/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Delete it' }).count(), 0);
    await page.goto(`${server.url}/executions/${started.body.id}`);
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await page.getByTestId('execution-status').getByText('cancelling').waitFor();
    writeFileSync(held, '');
    await page.getByTestId('execution-status').getByText('cancelled').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByTestId('execution-status').getByText('succeeded').waitFor();
    assert.equal((await server.api('GET', `/executions/${started.body.id}`)).body.status, 'terminated');
  });

  test('an upload with problems shows them at their lines; an archive uploads and its page shows what it declares', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(`${server.url}/blueprints`);
    await page.getByRole('button', { name: 'Upload a blueprint' }).click();
    await page.getByLabel('Name').fill('typo');
    await page.locator('input[name="file"]').setInputFiles({
      name: 'blueprint.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(BROKEN),
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    const marked = page.locator('.source li.has-problem');
    await marked.first().waitFor();
    assert.equal(await marked.first().getAttribute('data-line'), '7', 'the misspelt key is on line 7');
    assert.match(
      (await marked.first().locator('.line-problem').textContent()) ?? '',
      /col 5: unknown key.*'properties'/,
    );
    assert.equal((await server.api('GET', '/blueprints/typo')).status, 404, 'nothing stored');
    await screenshot(page, 'blueprint-upload-problems');

    await page.getByLabel('Name').fill('shop');
    await page.locator('input[name="file"]').setInputFiles({
      name: 'shop.tar.gz',
      mimeType: 'application/gzip',
      buffer: tarGz({ 'blueprint.yaml': SHOP, 'types/app.yaml': SHOP_TYPES }),
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.waitForURL(/\/blueprints\/shop$/);
    await page.locator('tr[data-node-row="app"]', { hasText: 'shop.App' }).waitFor();
    const topology = page.getByTestId('topology');
    await topology.locator('[data-node="app"]').waitFor();
    // The imported file's node is drawn too, nested in its host through a derived contained_in.
    assert.equal(await topology.locator('.node').count(), 4);
    assert.equal(await topology.locator('.edge').count(), 1, 'app -> db; contained_in drawn as nesting');
    const [host, cache] = await Promise.all(
      ['host', 'cache'].map((n) => topology.locator(`[data-node="${n}"] rect`).boundingBox()),
    );
    assert.ok(
      cache!.x > host!.x && cache!.y > host!.y && cache!.x + cache!.width < host!.x + host!.width,
      `cache drawn inside host: ${JSON.stringify({ host, cache })}`,
    );
    await page.locator('.source li[data-line="1"]', { hasText: 'tosca_definitions_version' }).waitFor();
    await page.locator('.source-view select').selectOption('types/app.yaml');
    await page.locator('.source li', { hasText: 'shop.App:' }).waitFor();
    await screenshot(page, 'blueprint');
    for (const viewport of [
      { width: 1280, height: 720 },
      { width: 390, height: 800 },
    ]) {
      await page.setViewportSize(viewport);
      for (const path of ['/blueprints', '/blueprints/shop', '/deployments', '/admin']) {
        await page.goto(`${server.url}${path}`);
        await page.locator('main h1').waitFor();
        await page.locator('tbody tr').first().waitFor();
        const { overflow, outside } = await horizontalOverflow(page);
        assert.equal(overflow, 0, `${path} at ${viewport.width}: ${outside.join(', ')}`);
        if (viewport.width === 1280) await screenshot(page, path.slice(1).replace('/', '-'));
      }
      if (viewport.width < 500) await screenshot(page, 'admin-narrow');
    }
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  test('a directory chosen in the browser uploads as an archive of its files', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'weft-ui-dir-')), 'shop');
    mkdirSync(join(dir, 'types'), { recursive: true });
    writeFileSync(join(dir, 'blueprint.yaml'), SHOP);
    writeFileSync(join(dir, 'types', 'app.yaml'), SHOP_TYPES);
    await page.goto(`${server.url}/blueprints`);
    await page.getByRole('button', { name: 'Upload a blueprint' }).click();
    await page.getByLabel('Name').fill('from-folder');
    await page.locator('input[name="directory"]').setInputFiles(dir);
    await page.getByLabel('Main file in the archive').waitFor();
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.waitForURL(/\/blueprints\/from-folder$/);
    await page.locator('tr[data-node-row="app"]', { hasText: 'shop.App' }).waitFor();
    // Stored as the directory was: both files, under their paths.
    const stored = await server.api('GET', '/blueprints/from-folder');
    assert.equal(stored.status, 200);
    await page.locator('.source-view select').selectOption('types/app.yaml');
    await page.locator('.source li', { hasText: 'shop.App:' }).waitFor();
  });

  test('a deployment is created from the inputs form (checked before sending), installed live, and deleted only with force while live', async () => {
    await page.goto(`${server.url}/blueprints/shop`);
    await page.getByRole('button', { name: 'Create a deployment' }).click();
    await page.getByLabel('Deployment name').fill('shop1');
    assert.equal(await page.locator('#input-port').inputValue(), '8080', 'the default filled in');
    assert.equal(await page.locator('#input-size').evaluate((e) => e.tagName), 'SELECT');
    await page.locator('#input-port').fill('70000');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page
      .locator('[data-parameter="port"] .field-problem', { hasText: 'must be from 1 to 65535' })
      .waitFor();
    await page.locator('[data-parameter="name"] .field-problem', { hasText: 'required' }).waitFor();
    assert.equal((await server.api('GET', '/deployments/shop1')).status, 404, 'nothing sent');
    await screenshot(page, 'deployment-create');
    await page.locator('#input-port').fill('8443');
    await page.locator('#input-name').fill('front');
    await page.locator('#input-size').selectOption('large');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.waitForURL(/\/deployments\/shop1$/);
    const made = await server.api('GET', '/deployments/shop1');
    assert.deepEqual(made.body.inputs, { port: 8443, name: 'front', size: 'large' });

    await page.getByRole('button', { name: 'Start a workflow' }).click();
    await page.getByLabel('Workflow', { exact: true }).selectOption('install');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.waitForURL(/\/executions\/[^/]+$/);
    await page.getByTestId('execution-status').getByText('succeeded').waitFor();

    await page.goto(`${server.url}/deployments/shop1`);
    await page.getByTestId('deployment-status').getByText('installed').waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByText(/has 4 live instances/).waitFor();
    const remove = page.getByRole('button', { name: 'Delete it' });
    assert.ok(await remove.isDisabled(), 'not without saying so');
    await page.getByLabel('Delete it with its live instances').check();
    await remove.click();
    await page.waitForURL(/\/deployments$/);
    assert.equal((await server.api('GET', '/deployments/shop1')).status, 404);
  });

  test('admin: secrets set and shown to an admin, plugins listed, a token made, a user created', async () => {
    await page.goto(`${server.url}/admin`);
    await page.getByRole('heading', { name: 'Administration' }).waitFor();
    await page.getByLabel('Key').fill('db_password');
    await page.getByLabel('Value').fill('s3cret-value');
    await page.getByRole('button', { name: 'Set secret' }).click();
    const row = page.locator('tr[data-secret="db_password"]');
    await row.waitFor();
    assert.doesNotMatch((await row.textContent()) ?? '', /s3cret-value/, 'not shown until asked');
    await row.getByRole('button', { name: 'Show value' }).click();
    await row.locator('.secret-value', { hasText: 's3cret-value' }).waitFor();
    await page.locator('#plugins-title').waitFor();
    await page.getByLabel('Description').fill('ci');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByText('New token (shown once').waitFor();
    await page.getByRole('button', { name: 'Revoke token ci' }).waitFor();
    await page.getByLabel('User name').fill('olga');
    await page.locator('#users-title ~ form').getByLabel('Password').fill('olga-password');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.locator('tr[data-user="olga"]').waitFor();
    assert.equal((await server.api('GET', '/users/olga')).status, 200);
    await screenshot(page, 'admin');
  });

  test("a deployment's update is previewed as a diff of the plan, then run from the page", async () => {
    const v1 = [
      'tosca_definitions_version: cloudify_dsl_1_4',
      'imports:',
      '  - http://cloudify.co/spec/cloudify/6.4.0/types.yaml',
      'node_types:',
      '  site.Web:',
      '    derived_from: cloudify.nodes.Root',
      '    properties: {tier: {type: string}}',
      'node_templates:',
      '  web:',
      '    type: site.Web',
      '    properties: {tier: front}',
      '',
    ].join('\n');
    const v2 = `${v1.replace('tier: front', 'tier: edge')}  cache:\n    type: cloudify.nodes.Root\n`;
    for (const [id, text] of [
      ['site-v1', v1],
      ['site-v2', v2],
    ] as const)
      assert.equal(
        (
          await server.api('PUT', `/blueprints/${id}`, {
            body: text,
            headers: { 'content-type': 'application/yaml' },
          })
        ).status,
        201,
      );
    assert.equal(
      (await server.api('PUT', '/deployments/site', { body: { blueprintId: 'site-v1' } })).status,
      201,
    );
    await page.goto(`${server.url}/deployments/site`);
    await page.getByRole('button', { name: 'Update…' }).click();
    const form = page.locator('.update-form');
    await form.getByLabel('Blueprint').selectOption('site-v2');
    await form.getByRole('button', { name: 'Preview the changes' }).click();
    const plan = form.getByTestId('update-plan');
    await plan.locator('tr[data-plan-node="cache"][data-action="add"]').waitFor();
    assert.match((await plan.locator('tr[data-plan-node="web"]').textContent()) ?? '', /tier.*front.*edge/);
    assert.equal(
      (await server.api('GET', '/deployments/site')).body.blueprintId,
      'site-v1',
      'a preview changes nothing',
    );
    await screenshot(page, 'deployment-update-plan');
    await form.getByRole('button', { name: 'Update', exact: true }).click();
    await page.waitForURL(/\/executions\/[^/]+$/);
    await page.getByTestId('execution-status').getByText('succeeded').waitFor();
    assert.equal((await server.api('GET', '/deployments/site')).body.blueprintId, 'site-v2');
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
      await own.goto(`${server.url}/blueprints`);
      await own.getByRole('link', { name: 'shop' }).waitFor();
      assert.equal(await own.getByRole('button', { name: 'Upload a blueprint' }).count(), 0);
      await own.goto(`${server.url}/blueprints/shop`);
      await own.locator('tr[data-node-row="app"]').waitFor();
      assert.equal(await own.getByRole('button', { name: /Create a deployment|Delete/ }).count(), 0);
      await own.goto(`${server.url}/deployments/web`);
      await own.getByTestId('topology').waitFor();
      assert.equal(await own.getByRole('button', { name: /Start a workflow|Delete/ }).count(), 0);
      await own.goto(`${server.url}/admin`);
      await own.locator('tr[data-secret="db_password"]').waitFor();
      assert.equal(await own.getByRole('button', { name: /Set secret|Show value|Delete/ }).count(), 0);
      assert.equal(await own.locator('#users-title').count(), 0, 'users are for superusers');
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
