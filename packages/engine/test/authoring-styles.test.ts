/**
 * The Heat and Loom authoring styles of the SDK, end to end through a blueprint and the executor:
 * a Heat-style resource created asynchronously on the engine's retry timer, its attributes read
 * by get_attribute, and Loom provider results flowing to an automator on the same host.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
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

  test('Loom as written: numeric status, ipaddress and ssh-auth become the host ip and agent_config', async () => {
    const hosts: Record<string, Json>[] = [];
    let confirms = 0;
    class Cloud extends Provider {
      create() {
        return { status: 0, result: { providerid: 'i-42', 'ssh-auth': { user: 'root', password: 'pw' } } };
      }
      confirm() {
        confirms++;
        return {
          status: 0,
          result: {
            ipaddresses: { access_v4: '192.0.2.10', bind_v4: '10.0.0.10' },
            'ssh-auth': { identityfile: '/keys/id_rsa' },
            hostname: 'node1.example.com',
          },
        };
      }
      delete() {
        return { status: 0 };
      }
    }
    class Broken extends Provider {
      create() {
        return { status: 1, stderr: 'quota exceeded' };
      }
      confirm() {
        return { status: 0 };
      }
      delete() {
        return { status: 0 };
      }
    }
    const cloud = loomOperations(Cloud);
    const broken = loomOperations(Broken);
    const blueprint = (provider: string) => `${HEAD}
node_templates:
  machine:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none, user: centos}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.${provider}Create, delete: p.${provider}Delete}}
  app:
    type: cloudify.nodes.SoftwareComponent
    interfaces: {cloudify.interfaces.lifecycle: {create: p.look}}
    relationships: [{type: cloudify.relationships.contained_in, target: machine}]
`;
    const operations = {
      'p.cloudCreate': cloud.create as never,
      'p.cloudDelete': cloud.delete as never,
      'p.brokenCreate': broken.create as never,
      'p.brokenDelete': broken.delete as never,
      'p.look': ((ctx: {
        instance: { hostIp?: string };
        host?: { instance: { runtimeProperties: Record<string, Json> } };
      }) => {
        hosts.push({
          hostIp: ctx.instance.hostIp ?? null,
          agent: ctx.host?.instance.runtimeProperties.agent_config ?? null,
        });
      }) as never,
    };
    const h = await harness(blueprint('cloud'), { operations });
    const install = await h.execute('install', { task_retries: 0 });
    assert.equal(install.status, 'terminated', JSON.stringify(install.error));
    assert.equal(confirms, 1);
    assert.deepEqual(hosts, [
      { hostIp: '192.0.2.10', agent: { user: 'root', password: 'pw', key: '/keys/id_rsa' } },
    ]);

    const failing = await harness(blueprint('broken'), { operations });
    const failed = await failing.execute('install', { task_retries: 0 });
    assert.equal(failed.status, 'failed');
    assert.match(JSON.stringify(failed.error), /Broken create failed \(status 1\)/);
    assert.match(JSON.stringify(failed.error), /quota exceeded/);
  });

  test("Loom's BOOTSTRAP runs once per host for each automator, whatever the number of its services there", async () => {
    const bootstraps: string[] = [];
    let installs = 0;
    class Machines extends Provider {
      create() {
        return { status: 0, result: { ipaddress: '192.0.2.1', providerid: randomUUID() } };
      }
      confirm() {
        return { status: 0 };
      }
      delete() {
        return { status: 0 };
      }
    }
    const automator = (label: string) =>
      class extends Automator {
        override bootstrap(_config: Record<string, Json>, task: LoomTask) {
          bootstraps.push(`${label} ${String(task.properties.host)}`);
          return { status: 0 };
        }
        override install() {
          installs++;
          return { status: 0 };
        }
      };
    class Chef extends automator('chef') {}
    class Shell extends automator('shell') {}
    const machines = loomOperations(Machines);
    const chef = loomOperations(Chef);
    const shell = loomOperations(Shell);
    const service = (name: string, op: string, host: string) => `
  ${name}:
    type: Service
    properties: {host: ${host}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.${op}}}
    relationships: [{type: cloudify.relationships.contained_in, target: ${host}}]`;
    const h = await harness(
      `${HEAD}
node_types:
  Service: {derived_from: cloudify.nodes.SoftwareComponent, properties: {host: {type: string}}}
node_templates:
  m1:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.machineCreate, delete: p.machineDelete}}
  m2:
    type: cloudify.nodes.Compute
    properties: {agent_config: {install_method: none}}
    interfaces: {cloudify.interfaces.lifecycle: {create: p.machineCreate, delete: p.machineDelete}}
${service('a', 'chef', 'm1')}
${service('b', 'chef', 'm1')}
${service('c', 'shell', 'm1')}
${service('d', 'chef', 'm2')}
`,
      {
        operations: {
          'p.machineCreate': machines.create as never,
          'p.machineDelete': machines.delete as never,
          'p.chef': chef.create as never,
          'p.shell': shell.create as never,
        },
      },
    );
    const install = await h.execute('install', { task_retries: 0 });
    assert.equal(install.status, 'terminated', JSON.stringify(install.error));
    assert.equal(installs, 4);
    assert.deepEqual(bootstraps.sort(), ['chef m1', 'chef m2', 'shell m1']);
  });

  test("Loom's service actions: stop, start and restart workflows run STOP and START only, as Loom's STOP/START/RESTART_SERVICES", async () => {
    const ran: string[] = [];
    class Service extends Automator {
      override initialize() {
        ran.push('initialize');
        return { status: 0 };
      }
      override start() {
        ran.push('start');
        return { status: 0 };
      }
      override stop() {
        ran.push('stop');
        return { status: 0 };
      }
      override remove() {
        ran.push('remove');
        return { status: 0 };
      }
    }
    const ops = loomOperations(Service);
    const h = await harness(
      `${HEAD}
node_templates:
  app:
    type: cloudify.nodes.SoftwareComponent
    interfaces:
      cloudify.interfaces.lifecycle: {create: p.create, start: p.start, stop: p.stop, delete: p.delete}
`,
      {
        operations: {
          'p.create': ops.create as never,
          'p.start': ops.start as never,
          'p.stop': ops.stop as never,
          'p.delete': ops.delete as never,
        },
      },
    );
    const service = async () => (await h.store.listInstances('dep'))[0]?.runtimeProperties.loom_service;
    const run = async (workflow: string) => {
      ran.length = 0;
      const execution = await h.execute(workflow, { task_retries: 0 });
      assert.equal(execution.status, 'terminated', JSON.stringify(execution.error));
      return [...ran];
    };
    assert.deepEqual(await run('install'), ['initialize', 'start']);
    assert.equal(await service(), 'started');
    assert.deepEqual(await run('stop'), ['stop']);
    assert.equal(await service(), 'stopped');
    assert.deepEqual(await run('start'), ['start'], 'no second INITIALIZE');
    assert.equal(await service(), 'started');
    assert.deepEqual(await run('restart'), ['stop', 'start']);
    assert.deepEqual(await run('stop'), ['stop']);
    // A stopped service is not stopped again on its way out.
    assert.deepEqual(await run('uninstall'), ['remove']);
    assert.equal(await service(), undefined);
    assert.deepEqual(await run('install'), ['initialize', 'start'], 'a new service is initialized');
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
