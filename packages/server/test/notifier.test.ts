/**
 * What wakes an event stream: its tenant's new events, and for a stream of one execution only
 * that execution's (or a notification that names none: from another server process).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventNotifier } from '../src/executions/notifier.js';

test("a stream of one execution is woken by that execution's events, not by the tenant's others", async () => {
  const notifier = new EventNotifier();
  const relayed: string[] = [];
  notifier.relayTo((tenant) => relayed.push(tenant));
  const never = new AbortController().signal;
  const ofX = notifier.seen('t', 'x');
  const ofTenant = notifier.seen('t');
  // A stream of x waiting: the other execution's events leave it waiting, x's wake it.
  const waiting = notifier.next('t', ofX, 60_000, never, 'x');
  notifier.notify('t', 'y');
  notifier.notify('u', 'x');
  assert.equal(notifier.seen('t', 'x'), ofX);
  assert.notEqual(notifier.seen('t'), ofTenant, "the tenant's streams are woken by y's");
  notifier.notify('t', 'x');
  assert.equal(await waiting, 'notified');
  // Every notification still goes to the other processes, by tenant.
  assert.deepEqual(relayed, ['t', 'u', 't']);
  // One from another process names no execution: every stream of the tenant looks.
  const seenX = notifier.seen('t', 'x');
  const again = notifier.next('t', seenX, 60_000, never, 'x');
  notifier.notifyHere('t');
  assert.equal(await again, 'notified');
  // Also a stream that was reading (not waiting) when it came: it looks again at once.
  const reading = notifier.seen('t', 'x');
  notifier.notifyHere('t');
  assert.equal(await notifier.next('t', reading, 60_000, never, 'x'), 'notified');
  // Missed notifications (a lost connection): every stream looks.
  const seenY = notifier.seen('t', 'y');
  const stream = notifier.next('t', seenY, 60_000, never, 'y');
  notifier.notifyEveryoneHere();
  assert.equal(await stream, 'notified');
  const between = notifier.seen('u', 'z');
  notifier.notifyEveryoneHere();
  assert.equal(await notifier.next('u', between, 60_000, never, 'z'), 'notified');
});
