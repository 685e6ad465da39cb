/** The UI's logic that needs no browser: reading the event stream's frames, the topology's shape. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeInstance } from '../src/app/api.js';
import { parseFrames } from '../src/app/stream.js';
import { toneOf, topologyOf } from '../src/app/topology.js';

test('stream frames: comments skipped, id/event/data read, an incomplete frame kept for the next chunk', () => {
  const { frames, rest } = parseFrames(
    ': weft event stream\n\nid: 7\nevent: log\ndata: {"seq":7}\n\nevent: end\ndata: {"status":"terminated"}\n\nid: 8\nda',
  );
  assert.deepEqual(frames, [
    { id: '7', event: 'log', data: '{"seq":7}' },
    { event: 'end', data: '{"status":"terminated"}' },
  ]);
  assert.equal(rest, 'id: 8\nda');
});

const instance = (
  id: string,
  node: string,
  state: string,
  extra: Partial<NodeInstance> = {},
): NodeInstance => ({
  id,
  deploymentId: 'd',
  node,
  state,
  containedIn: null,
  hostId: null,
  relationships: [],
  ...extra,
});

test('topology: nodes nest in their container, relationships become edges, containment is not drawn twice', () => {
  const instances = [
    instance('vm_1', 'vm', 'started'),
    instance('db_1', 'db', 'started', {
      containedIn: 'vm_1',
      relationships: [{ type: 'cloudify.relationships.contained_in', targetId: 'vm_1' }],
    }),
    instance('app_1', 'app', 'creating', {
      containedIn: 'vm_1',
      relationships: [
        { type: 'cloudify.relationships.contained_in', targetId: 'vm_1' },
        { type: 'cloudify.relationships.connected_to', targetId: 'db_1' },
      ],
    }),
    instance('app_2', 'app', 'started', {
      containedIn: 'vm_1',
      relationships: [{ type: 'cloudify.relationships.connected_to', targetId: 'db_1' }],
    }),
  ];
  const topology = topologyOf(instances);
  assert.deepEqual(
    topology.nodes.map((n) => [n.id, n.parent, n.instances.length]),
    [
      ['vm', null, 1],
      ['db', 'vm', 1],
      ['app', 'vm', 2],
    ],
  );
  assert.deepEqual(topology.edges, [
    { source: 'app', target: 'db', type: 'cloudify.relationships.connected_to' },
  ]);
  assert.equal(toneOf(topology.nodes[2]!.instances), 'busy', 'one instance changing');
  assert.equal(toneOf(topology.nodes[0]!.instances), 'ok');
  assert.equal(toneOf([instance('x', 'x', 'deleted')]), 'idle');
  assert.equal(toneOf([instance('x', 'x', 'started'), instance('y', 'x', 'stopped')]), 'partial');
});
