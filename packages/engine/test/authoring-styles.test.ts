/**
 * The Heat and Loom authoring styles of the SDK, end to end through a blueprint and the executor:
 * a Heat-style resource created asynchronously on the engine's retry timer, its attributes read
 * by get_attribute, and Loom provider results flowing to an automator on the same host.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AllowedValues,
  Automator,
  type Json,
  type LoomTask,
  loomOperations,
  Provider,
  Resource,
  resourceMapping,
  resourceOperations,
} from '@weft/sdk';
import { evaluateOutputs } from '../src/deployment/outputs.js';
import { harness } from './executor-helpers.js';

const HEAD = `tosca_definitions_version: cloudify_dsl_1_4
imports: [cloudify/types/types.yaml]
plugins:
  p: {executor: central_deployment_agent, install: false}
`;

describe('authoring styles through a blueprint', () => {
  test('Heat style: validated properties, create polled on the retry timer, attributes for get_attribute', async () => {
    let checks = 0;
    let creates = 0;
    class Server extends Resource {
      static override properties = {
        flavor: { type: 'string', required: true, constraints: [AllowedValues(['small', 'large'])] },
        disks: { type: 'integer', default: 1 },
      } as never;
      override handleCreate() {
        creates++;
        this.resourceId = `srv-${this.properties.flavor}`;
        return { requested: Date.now() };
      }
      override checkCreateComplete() {
        checks++;
        return checks >= 3;
      }
      override resolveAttribute(name: string) {
        return name === 'address' ? '10.1.2.3' : null;
      }
      override handleDelete() {
        return null;
      }
    }
    Object.assign(Server, { attributes: { address: { description: 'where it answers' } } });
    const ops = resourceOperations(Server as never, { pollInterval: 0.01 }) as unknown as Record<
      string,
      (ctx: never, inputs: never) => unknown
    >;
    const h = await harness(
      `${HEAD}
node_types:
  test.Server:
    derived_from: cloudify.nodes.Root
    properties:
      flavor: {type: string}
      disks: {type: integer, default: 1}
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.create, delete: p.remove}
node_templates:
  vm:
    type: test.Server
    properties: {flavor: small}
outputs:
  address: {value: {get_attribute: [vm, address]}}
  id: {value: {get_attribute: [vm, resource_id]}}
`,
      { operations: { 'p.create': ops.create as never, 'p.remove': ops.delete as never } },
    );
    const install = await h.execute('install', { task_retries: 10, task_retry_interval: 0 });
    assert.equal(install.status, 'terminated', JSON.stringify(install.error));
    assert.equal(creates, 1, 'handleCreate ran once; later runs only polled');
    assert.equal(checks, 3);
    assert.ok(h.events.filter((e) => e.type === 'task_rescheduled').length >= 2);
    const outputs = await evaluateOutputs(h.store, 'dep', new Map());
    assert.deepEqual(outputs, { address: '10.1.2.3', id: 'srv-small' });
    const uninstall = await h.execute('uninstall', { task_retries: 3, task_retry_interval: 0 });
    assert.equal(uninstall.status, 'terminated', JSON.stringify(uninstall.error));
  });

  test('Loom style: a provider result (ipaddress) reaches the automator of a service on that machine', async () => {
    const seen: Record<string, Json>[] = [];
    class Machines extends Provider {
      create() {
        return { status: 'ok' as const, result: { providerid: 'm-1' } };
      }
      confirm(config: Record<string, Json>) {
        return {
          status: 'ok' as const,
          result: { ipaddress: `10.0.0.${config.providerid === 'm-1' ? 7 : 0}` },
        };
      }
      delete() {
        return { status: 'ok' as const };
      }
    }
    class Service extends Automator {
      override install(config: Record<string, Json>, _task: LoomTask) {
        seen.push({ ...config });
        this.output(`installing on ${config.ipaddress}`);
        return { status: 'ok' as const, result: { installed: true } };
      }
    }
    const machine = loomOperations(Machines);
    const service = loomOperations(Service);
    const h = await harness(
      `${HEAD}
node_templates:
  machine:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.machineCreate, delete: p.machineDelete}}
  app:
    type: cloudify.nodes.SoftwareComponent
    interfaces: {cloudify.interfaces.lifecycle: {create: p.serviceCreate}}
    relationships: [{type: cloudify.relationships.contained_in, target: machine}]
`,
      {
        operations: {
          'p.machineCreate': machine.create as never,
          'p.machineDelete': machine.delete as never,
          'p.serviceCreate': service.create as never,
        },
      },
    );
    const install = await h.execute('install', { task_retries: 0 });
    assert.equal(install.status, 'terminated', JSON.stringify(install.error));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.ipaddress, '10.0.0.7');
    assert.equal(seen[0]!.providerid, 'm-1');
    assert.ok(h.events.some((e) => e.type === 'log' && e.message === 'installing on 10.0.0.7'));
  });

  test('a resource mapping makes Resource classes node types: each node runs the class of its type', async () => {
    class Volume extends Resource {
      static override properties = { size: { type: 'integer', required: true } } as never;
      override handleCreate() {
        this.resourceId = `vol-${this.properties.size}`;
        return null;
      }
      override handleDelete() {
        return null;
      }
    }
    class Network extends Resource {
      static override properties = { cidr: { type: 'string', required: true } } as never;
      override handleCreate() {
        this.resourceId = `net-${this.properties.cidr}`;
        return null;
      }
      override handleDelete() {
        return null;
      }
    }
    const resources = resourceMapping({ 'Test::Volume': Volume as never, 'Test::Network': Network as never });
    const h = await harness(
      `${HEAD}
node_types:
  Test::Volume:
    derived_from: cloudify.nodes.Volume
    properties: {size: {type: integer}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.resources.create, delete: p.resources.delete}}
  Test::BigVolume:
    derived_from: Test::Volume
  Test::Network:
    derived_from: cloudify.nodes.Network
    properties: {cidr: {type: string}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.resources.create, delete: p.resources.delete}}
node_templates:
  data: {type: Test::BigVolume, properties: {size: 100}}
  lan: {type: Test::Network, properties: {cidr: 10.0.0.0/24}}
outputs:
  volume: {value: {get_attribute: [data, resource_id]}}
  network: {value: {get_attribute: [lan, resource_id]}}
`,
      {
        operations: {
          'p.resources.create': resources.create as never,
          'p.resources.delete': resources.delete as never,
        },
      },
    );
    const install = await h.execute('install', { task_retries: 0 });
    assert.equal(install.status, 'terminated', JSON.stringify(install.error));
    assert.deepEqual(await evaluateOutputs(h.store, 'dep', new Map()), {
      volume: 'vol-100',
      network: 'net-10.0.0.0/24',
    });
  });
});
