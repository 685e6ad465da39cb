/**
 * The web UI's bench (WEFT_UI_BENCH=1; skipped otherwise: figures, not timed assertions): the first
 * paint of a deployment page with 1,000 instances, and how long a task's state change in the
 * server takes to show on that page while an install of the 1,000 runs. Prints the figures.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deploy, fixtures, startTestServer, type TestServer } from '@weft/server/test/harness';
import type { Browser, Page } from 'playwright-core';
import { chromiumSkip, launch, screenshot, sessionFor } from './browser.js';

const skip = process.env.WEFT_UI_BENCH === '1' ? chromiumSkip() : 'a bench: run it with WEFT_UI_BENCH=1';
const INSTANCES = 1000;
const LOADS = 5;

/** Median and maximum of a list of milliseconds, for printing. */
function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `median ${Math.round(median)} ms, max ${Math.round(sorted.at(-1)!)} ms (${sorted.length} samples)`;
}

/**
 * Run in the page before the app: records when the instance table's first rows and the topology
 * first show (ms since navigation), and, for every instance row shown, the wall-clock time at the
 * frame where each of its states first appears.
 */
function recordPaints() {
  const marks: Record<string, number> = {};
  const seen: Record<string, number> = {};
  (window as unknown as { weftBench: unknown }).weftBench = { marks, seen };
  new MutationObserver(() => {
    requestAnimationFrame(() => {
      const now = Date.now();
      if (marks.rows === undefined && document.querySelector('tr[data-instance]'))
        marks.rows = performance.now();
      if (marks.topology === undefined && document.querySelector('.topology svg [data-node]'))
        marks.topology = performance.now();
      for (const row of document.querySelectorAll('tr[data-instance]')) {
        const key = `${row.getAttribute('data-instance')} ${row.children[1]?.textContent}`;
        seen[key] ??= now;
      }
    });
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

describe('web UI bench', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  /** The gated instances' start waits until this file exists: the install lasts until the page follows it. */
  let gate: string;

  before(async () => {
    server = await startTestServer();
    const tenant = await server.context.tenants.get('default_tenant');
    // base and last, and 998 instances of gated between them.
    gate = join(server.stateDir, 'gate');
    await deploy(tenant, join(fixtures, 'gate', 'blueprint.yaml'), 'big', {
      record: join(server.stateDir, 'record'),
      gate,
      count: INSTANCES - 2,
    });
    browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const session = await sessionFor(server, 'admin', 'admin-password');
    await context.addInitScript((text) => sessionStorage.setItem('weft.session', text), session);
    await context.addInitScript(recordPaints);
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const firstPaints = async (label: string) => {
    const rows: number[] = [];
    const topology: number[] = [];
    for (let load = 0; load < LOADS; load++) {
      await page.goto(`${server.url}/deployments/big`);
      await page.locator('.topology svg [data-node]').first().waitFor();
      await page.locator('tr[data-instance]').first().waitFor();
      const marks = await page.evaluate(
        () => (window as unknown as { weftBench: { marks: Record<string, number> } }).weftBench.marks,
      );
      rows.push(marks.rows!);
      topology.push(marks.topology!);
    }
    assert.equal(await page.locator('tr[data-instance]').count(), 50, 'a page of instances drawn');
    console.log(`first paint of a deployment page with ${INSTANCES} instances (${label}):`);
    console.log(`  instances table: ${summary(rows)}`);
    console.log(`  topology:        ${summary(topology)}`);
  };

  test(`first paint of a deployment with ${INSTANCES} instances, not installed`, () =>
    firstPaints('not installed'));

  test('a task state change in the server shows on the deployment page', async () => {
    await page.goto(`${server.url}/deployments/big`);
    await page.locator('tr[data-instance]').first().waitFor();
    const shown = await page
      .locator('tr[data-instance]')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-instance')!));
    const started = await server.api('POST', '/executions', {
      body: { deploymentId: 'big', workflowId: 'install' },
    });
    assert.equal(started.status, 201);
    // Found running (the page asks while idle) and followed live; then the gated starts go on.
    await page.getByTestId('live').waitFor();
    const liveAt = Date.now();
    writeFileSync(gate, '');
    await page.getByTestId('live').waitFor({ state: 'detached', timeout: 300_000 });
    const execution = await server.api('GET', `/executions/${started.body.id}`);
    assert.equal(execution.body.status, 'terminated');
    const seen = await page.evaluate(
      () => (window as unknown as { weftBench: { seen: Record<string, number> } }).weftBench.seen,
    );
    // Each state an instance on the page took while the page followed the run, from the task that
    // set it to the frame showing it. States that came and went within one refresh are not shown,
    // and not counted.
    const tasks = (await server.api('GET', `/executions/${started.body.id}/tasks`)).body as {
      kind: string;
      instanceId: string;
      targetState: string | null;
      updatedAt: string;
    }[];
    const latencies: number[] = [];
    for (const task of tasks) {
      if (task.kind !== 'state' || !shown.includes(task.instanceId) || Date.parse(task.updatedAt) < liveAt)
        continue;
      const at = seen[`${task.instanceId} ${task.targetState}`];
      if (at !== undefined) latencies.push(at - Date.parse(task.updatedAt));
    }
    assert.ok(latencies.length > 0, 'state changes were seen');
    const took = Date.parse(execution.body.endedAt) - Date.parse(execution.body.startedAt);
    console.log(`live state change on screen, install of ${INSTANCES} instances (${took} ms):`);
    console.log(`  ${summary(latencies)}`);
    await screenshot(page, 'deployment-1000');
  });

  test(`first paint of a deployment with ${INSTANCES} instances, installed`, () =>
    firstPaints('installed, with runtime properties'));
});
