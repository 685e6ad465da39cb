// weft.nodes.SoftwareConfig and weft.nodes.SoftwareDeployment: Heat's OS::Heat::SoftwareConfig
// and OS::Heat::SoftwareDeployment, with this machine as the server. A deployment runs its
// config's script for each of its `actions` as heat-config's script hook does
// (heat-config-script/install.d/hook-script.py): the inputs as environment variables (maps and
// lists as JSON), with Heat's derived deploy_* inputs, `heat_outputs_path` to write an output
// NAME to `$heat_outputs_path.NAME`, the script's stdout, stderr and status code as
// deploy_stdout, deploy_stderr and deploy_status_code; then as Heat's signal handling: a
// non-zero status code, or an output flagged error_output that the script wrote, fails the
// deployment. Outputs are attributes of the deployment (get_attr).
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AllowedValues,
  type Json,
  NonRecoverableError,
  type Problem,
  type PropertiesOf,
  type PropertiesSchema,
  pythonJson,
  RESOURCE_ID_KEY,
  RESOURCE_STATE_KEY,
  Resource,
  type ResourceAction,
  type ResourceDefinition,
  UpdateReplace,
} from '@weft/sdk';
import { execute, ownEnvironment } from './run.js';

/** The config groups this machine has a hook for: script (Heat::Ungrouped runs as one). */
const GROUPS = ['script', 'Heat::Ungrouped'];

/** The type of a config's input or output, as Heat's SoftwareConfig declares both. */
const VALUE_TYPE = {
  type: 'string',
  description: 'String, Number, CommaDelimitedList, Json or Boolean.',
  default: 'String',
  constraints: [AllowedValues(['String', 'Number', 'CommaDelimitedList', 'Json', 'Boolean'])],
} as const;

const configSchema = {
  group: {
    type: 'string',
    description: 'The tool that runs the config: script (Heat::Ungrouped, the default, is run as script).',
    default: 'Heat::Ungrouped',
  },
  config: { type: 'string', description: 'The script, with its #! line.', default: '' },
  inputs: {
    type: 'list',
    description: 'The inputs: {name, description, type, default, replace_on_change}.',
    default: [],
    schema: {
      type: 'map',
      schema: {
        name: { type: 'string', required: true, description: 'The variable the script reads.' },
        description: { type: 'string', description: 'What it is.' },
        type: VALUE_TYPE,
        default: { type: 'any', description: 'The value when input_values has none.' },
        replace_on_change: {
          type: 'boolean',
          description: 'A new value replaces the deployment (its DELETE, then CREATE) instead of an UPDATE.',
          default: false,
        },
      },
    },
  },
  outputs: {
    type: 'list',
    description: 'The outputs: {name, description, type, error_output}.',
    default: [],
    schema: {
      type: 'map',
      schema: {
        name: {
          type: 'string',
          required: true,
          description: 'The output; read from $heat_outputs_path.NAME.',
        },
        description: { type: 'string', description: 'What it is.' },
        type: VALUE_TYPE,
        error_output: {
          type: 'boolean',
          description: 'When the script writes it, the deployment fails with its value.',
          default: false,
        },
      },
    },
  },
  options: { type: 'map', description: 'Options for the hook (the script hook has none).', default: {} },
} as const satisfies PropertiesSchema;

type ConfigProperties = PropertiesOf<typeof configSchema>;

/** Attributes every deployment has (Heat's ATTRIBUTES). */
const DEPLOY_OUTPUTS = ['deploy_stdout', 'deploy_stderr', 'deploy_status_code'];

/** Output names that would overwrite the deployment's own bookkeeping. */
const RESERVED = [RESOURCE_ID_KEY, RESOURCE_STATE_KEY, ...DEPLOY_OUTPUTS];

export const CONFIG_NODE_TYPE = 'weft.nodes.SoftwareConfig';

export class SoftwareConfig extends Resource<ConfigProperties> {
  static override properties: PropertiesSchema = configSchema;
  static override attributes = { config: "The config's text." };

  static override validate(values: Record<string, Json>): Problem[] {
    const problems: Problem[] = [];
    if (typeof values.group === 'string' && !GROUPS.includes(values.group))
      problems.push({
        path: 'group',
        message: `there is no hook for group '${values.group}' here: a config runs on this machine as a script (group script)`,
      });
    const inputs = Array.isArray(values.inputs) ? values.inputs : [];
    inputs.forEach((input, i) => {
      const name = (input as Record<string, Json> | null)?.name;
      if (typeof name === 'string' && (name === '' || /[=\0]/.test(name)))
        problems.push({
          path: `inputs[${i}].name`,
          message: 'an input is an environment variable: no = in its name',
        });
    });
    const outputs = Array.isArray(values.outputs) ? values.outputs : [];
    outputs.forEach((output, i) => {
      const name = (output as Record<string, Json> | null)?.name;
      if (typeof name === 'string' && RESERVED.includes(name))
        problems.push({
          path: `outputs[${i}].name`,
          message: `'${name}' is a deployment attribute of its own`,
        });
    });
    return problems;
  }

  // As Heat's: every config is a new one (a new id), so a deployment of it sees a new config.
  override handleCreate(): null {
    this.resourceId = randomUUID();
    return null;
  }

  override resolveAttribute(name: string): Json | undefined {
    return name === 'config' ? this.properties.config : undefined;
  }
}

const ACTIONS = ['CREATE', 'UPDATE', 'DELETE', 'SUSPEND', 'RESUME'] as const;
const TRANSPORTS = ['CFN_SIGNAL', 'TEMP_URL_SIGNAL', 'HEAT_SIGNAL', 'NO_SIGNAL', 'ZAQAR_SIGNAL'];

const deploymentSchema = {
  config: {
    type: 'string',
    description: 'The config to run (get_resource of a SoftwareConfig).',
    updateAllowed: true,
  },
  server: {
    type: 'string',
    description: 'Ignored: the config runs on this machine (deploy_server_id, when given).',
    updateAllowed: true,
  },
  input_values: {
    type: 'map',
    description: "Values of the config's inputs; others are passed as inputs too.",
    default: {},
    updateAllowed: true,
  },
  actions: {
    type: 'list',
    description: 'The actions the config runs for.',
    default: ['CREATE', 'UPDATE'],
    updateAllowed: true,
    schema: { type: 'string', constraints: [AllowedValues([...ACTIONS])] },
  },
  signal_transport: {
    type: 'string',
    description:
      "How the script's end is known: here always from the script itself, on this machine; NO_SIGNAL does not wait for its result.",
    default: 'CFN_SIGNAL',
    constraints: [AllowedValues(TRANSPORTS)],
  },
  name: { type: 'string', description: 'The name of the derived config.', updateAllowed: true },
} as const satisfies PropertiesSchema;

type DeploymentProperties = PropertiesOf<typeof deploymentSchema>;

interface Input {
  name: string;
  value: Json;
  replaceOnChange: boolean;
}

export class SoftwareDeployment extends Resource<DeploymentProperties> {
  static override properties: PropertiesSchema = deploymentSchema;
  static override attributes = {
    deploy_stdout: "The script's standard output.",
    deploy_stderr: "The script's standard error.",
    deploy_status_code: "The script's exit code.",
  };

  /** The config the deployment runs: the node its `config` is the resource id of (get_resource makes it a dependency). */
  private config(configId: string | undefined): ConfigProperties {
    const found = this.ctx.instance.relationships.find(
      (r) => r.target.instance.runtimeProperties[RESOURCE_ID_KEY] === configId,
    );
    if (!found || !found.target.node.typeHierarchy.includes(CONFIG_NODE_TYPE))
      throw new NonRecoverableError(
        configId === undefined
          ? `${this.ctx.node.name} has no config to run`
          : `${found?.target.node.name ?? configId} is not a software config (give config: {get_resource: A_SOFTWARE_CONFIG})`,
      );
    // Defaults as the schema gives them: the config's own validation checked the rest.
    const given = found.target.node.properties as Partial<ConfigProperties>;
    return {
      group: given.group ?? 'Heat::Ungrouped',
      config: given.config ?? '',
      inputs: given.inputs ?? [],
      outputs: given.outputs ?? [],
      options: given.options ?? {},
    } as ConfigProperties;
  }

  /** Heat's derived inputs: the config's (valued), the other input_values, then deploy_*. */
  private inputs(
    properties: DeploymentProperties,
    config: ConfigProperties,
    action: ResourceAction,
  ): Input[] {
    const values: Record<string, Json> = { ...(properties.input_values ?? {}) };
    const inputs: Input[] = [];
    for (const input of config.inputs as Record<string, Json>[]) {
      const name = input.name as string;
      const value = Object.hasOwn(values, name) ? values[name]! : (input.default ?? null);
      delete values[name];
      inputs.push({ name, value, replaceOnChange: input.replace_on_change === true });
    }
    for (const [name, value] of Object.entries(values)) inputs.push({ name, value, replaceOnChange: false });
    const derived: Record<string, Json> = {
      deploy_server_id: properties.server ?? null,
      deploy_action: action,
      deploy_stack_id: `${this.ctx.deployment.id}/${this.ctx.deployment.id}`,
      deploy_resource_name: this.ctx.node.name,
      deploy_signal_transport: properties.signal_transport,
    };
    for (const [name, value] of Object.entries(derived)) inputs.push({ name, value, replaceOnChange: false });
    return inputs;
  }

  /** Where its scripts run and write their outputs (heat-config's working and outputs directories). */
  private get workdir(): string {
    return join(this.ctx.plugin.workdir, 'heat-config', this.ctx.instance.id);
  }

  /** Runs the config for the action, if it is one of the deployment's actions. */
  private async deploy(action: ResourceAction, properties: DeploymentProperties): Promise<null> {
    if (!properties.actions.includes(action)) return null;
    const config = this.config(properties.config);
    const run = randomUUID();
    const base = this.workdir;
    const working = join(base, 'working');
    const outputs = join(base, 'outputs');
    mkdirSync(working, { recursive: true, mode: 0o700 });
    mkdirSync(outputs, { recursive: true, mode: 0o700 });
    const script = join(working, run);
    writeFileSync(script, config.config, { mode: 0o700 });
    const env = ownEnvironment();
    for (const input of this.inputs(properties, config, action)) {
      const value = input.value;
      env[input.name] = value === null ? '' : typeof value === 'object' ? pythonJson(value) : String(value);
    }
    const outputsPath = join(outputs, run);
    env.heat_outputs_path = outputsPath;
    this.ctx.logger.info(`running ${config.group === 'script' ? 'the script' : 'the config'} for ${action}`);
    const stdout: string[] = [];
    const stderr: string[] = [];
    let exit: Awaited<ReturnType<typeof execute>>;
    try {
      exit = await execute(this.ctx, [script], env, working, {
        stdout: (line) => stdout.push(line),
        stderr: (line) => stderr.push(line),
      });
    } finally {
      rmSync(script, { force: true });
    }
    const rp = this.ctx.instance.runtimeProperties;
    const reasons: string[] = [];
    const code = exit.code ?? (exit.signal ? -1 : 0);
    if (code !== 0) reasons.push(`deploy_status_code : Deployment exited with non-zero status code: ${code}`);
    for (const output of config.outputs as Record<string, Json>[]) {
      const name = output.name as string;
      let value: string;
      try {
        value = readFileSync(`${outputsPath}.${name}`, 'utf8');
      } catch {
        continue;
      }
      rmSync(`${outputsPath}.${name}`, { force: true });
      rp[name] = value;
      if (output.error_output === true) reasons.push(`${name} : ${value}`);
    }
    Object.assign(rp, {
      deploy_stdout: stdout.length ? `${stdout.join('\n')}\n` : '',
      deploy_stderr: stderr.length ? `${stderr.join('\n')}\n` : '',
      deploy_status_code: code,
    });
    if (reasons.length > 0) {
      const message = `Deployment to server failed: ${reasons.join(', ')}`;
      if (properties.signal_transport === 'NO_SIGNAL')
        this.ctx.logger.warning(`${message} (not waited for: signal_transport is NO_SIGNAL)`);
      else throw new NonRecoverableError(message);
    }
    return null;
  }

  override handleCreate(): Promise<null> {
    this.resourceId = this.ctx.instance.id;
    return this.deploy('CREATE', this.properties);
  }

  /** As Heat: a changed input that is replace_on_change replaces the deployment. */
  override handleUpdate(snippet: ResourceDefinition): Promise<null> {
    const next = snippet.properties as unknown as DeploymentProperties;
    const config = this.config(next.config);
    const before = new Map(this.inputs(this.properties, config, 'UPDATE').map((i) => [i.name, i.value]));
    for (const input of this.inputs(next, config, 'UPDATE'))
      if (
        input.replaceOnChange &&
        before.has(input.name) &&
        pythonJson(before.get(input.name)) !== pythonJson(input.value)
      )
        throw new UpdateReplace(`input ${input.name} changed and is replace_on_change`);
    return this.deploy('UPDATE', next);
  }

  override async handleDelete(): Promise<null> {
    await this.deploy('DELETE', this.properties);
    // Each run removes its own files: what is left is empty directories.
    rmSync(this.workdir, { recursive: true, force: true });
    return null;
  }

  override handleSuspend(): Promise<null> {
    return this.deploy('SUSPEND', this.properties);
  }

  override handleResume(): Promise<null> {
    return this.deploy('RESUME', this.properties);
  }

  // The outputs and deploy_* are runtime properties, written by each run: nothing to resolve.
  override resolveAttribute(name: string): Json | undefined {
    return this.ctx.instance.runtimeProperties[name];
  }
}
