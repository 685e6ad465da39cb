/** The UI's logic that needs no browser: the event stream's frames, the topology's shape, parameter forms, archives. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Parser } from 'tar';
import type { NodeInstance } from '../src/app/api.js';
import { gzip, readTarGz, writeTar } from '../src/app/archive.js';
import {
  checkConstraint,
  initialText,
  kindOf,
  type ParameterSpec,
  readParameters,
} from '../src/app/parameters.js';
import { parseFrames } from '../src/app/stream.js';
import { toneOf, topologyOf } from '../src/app/topology.js';
import { tarGz } from './browser.js';

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

test('parameters: typed from their fields, defaults left out, types and constraints checked before sending', () => {
  const specs: ParameterSpec[] = [
    { name: 'count', type: 'integer', required: true, constraints: [{ name: 'in_range', argument: [1, 5] }] },
    { name: 'ratio', type: 'float', required: false, default: 0.5 },
    { name: 'debug', type: 'boolean', required: false, default: false },
    {
      name: 'name',
      type: 'string',
      required: false,
      constraints: [{ name: 'pattern', argument: '[a-z]+$' }],
    },
    { name: 'size', required: false, constraints: [{ name: 'valid_values', argument: ['small', 2] }] },
    { name: 'tags', type: 'list', required: false, default: [] },
  ];
  assert.deepEqual(
    specs.map((s) => kindOf(s)),
    ['integer', 'float', 'boolean', 'string', 'choice', 'yaml'],
  );
  assert.equal(initialText(specs[5]!), '[]');
  assert.deepEqual(
    readParameters(specs, {
      count: '3',
      ratio: '0.5',
      debug: 'true',
      name: 'web',
      size: '2',
      tags: '[a, b]',
    }),
    { ok: true, values: { count: 3, debug: true, name: 'web', size: 2, tags: ['a', 'b'] } },
    'ratio left at its default is not sent; the choice 2 is the number it was declared as',
  );
  assert.deepEqual(readParameters(specs, { count: '', debug: 'false', tags: '[]' }), {
    ok: false,
    problems: { count: 'required' },
  });
  assert.deepEqual(readParameters(specs, { count: '9', ratio: 'x', name: 'Web1', tags: '{a: 1}' }), {
    ok: false,
    problems: {
      count: 'must be from 1 to 5',
      ratio: '"x" is not a number',
      name: 'must match "[a-z]+$"',
      tags: 'must be a list',
    },
  });
  assert.equal(readParameters(specs, { count: '2.5' }).ok, false, 'an integer has no fraction');
  assert.equal(checkConstraint('abc', 'max_length', 2), 'length must be at most 2 (it is 3)');
  assert.equal(checkConstraint(3, 'greater_than', '2'), '3 cannot be compared with "2"');
});

test('archives: a tar.gz read in the browser gives its files by path, directories and all', async () => {
  const archive = tarGz({ 'blueprint.yaml': 'a: 1\n', 'types/deep/app.yaml': 'b: ünïcode\n' });
  const files = await readTarGz(new Uint8Array(archive).buffer);
  assert.deepEqual(Object.fromEntries(files), {
    'blueprint.yaml': 'a: 1\n',
    'types/deep/app.yaml': 'b: ünïcode\n',
  });
});

test('archives: a directory written as a tar.gz in the browser reads back whole, long paths and all, and is a tar other tools read', async () => {
  const long = `${'nested/'.repeat(16)}types.yaml`;
  const entries = [
    { path: 'shop/blueprint.yaml', content: new TextEncoder().encode('a: ünïcode\n') },
    { path: `shop/${long}`, content: new Uint8Array(700).fill(0x61) },
    { path: 'shop/empty.txt', content: new Uint8Array(0) },
  ];
  const archive = new Uint8Array(await (await gzip(writeTar(entries))).arrayBuffer());
  assert.deepEqual(Object.fromEntries(await readTarGz(archive.buffer)), {
    'shop/blueprint.yaml': 'a: ünïcode\n',
    [`shop/${long}`]: 'a'.repeat(700),
    'shop/empty.txt': '',
  });
  // node-tar (what the server unpacks uploads with) sees the same files and sizes.
  const seen: [string, number][] = [];
  const parser = new Parser({
    onReadEntry: (entry) => {
      seen.push([entry.path, entry.size]);
      entry.resume();
    },
  });
  const parsed = new Promise((resolve, reject) => {
    parser.on('close', resolve);
    parser.on('error', reject);
  });
  parser.end(Buffer.from(archive));
  await parsed;
  assert.deepEqual(seen, [
    ['shop/blueprint.yaml', 13],
    [`shop/${long}`, 700],
    ['shop/empty.txt', 0],
  ]);
});
