// weft.nodes.WaitConditionHandle and weft.nodes.WaitCondition: Heat's OS::Heat::WaitConditionHandle
// and OS::Heat::WaitCondition. The handle is a directory signals are written to (its `endpoint`)
// by `weft signal`, from a terminal or from a script given the handle's `curl_cli`; the wait
// condition is complete once `count` signals of status SUCCESS arrived, and fails at the first
// FAILURE (with the failures' reasons) or when `timeout` seconds pass (Heat's messages:
// `WaitConditionFailure: ...`, `WaitConditionTimeout: ...: N of COUNT received`). Waiting is
// polled on the engine's retry timer: it holds no worker.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  AllowedValues,
  type Json,
  NonRecoverableError,
  type Problem,
  type PropertiesOf,
  type PropertiesSchema,
  type PropertyDiff,
  pythonJson,
  Range,
  Resource,
  type ResourceDefinition,
} from '@weft/sdk';
import { clearSignals, createHandleDir, readSignals } from './wait-signals.js';

/** Heat's signal transports; only the local ones can work without a cloud. */
const TRANSPORTS = [
  'CFN_SIGNAL',
  'TEMP_URL_SIGNAL',
  'HEAT_SIGNAL',
  'NO_SIGNAL',
  'ZAQAR_SIGNAL',
  'TOKEN_SIGNAL',
];
const LOCAL_TRANSPORTS = ['TOKEN_SIGNAL', 'NO_SIGNAL'];

const handleSchema = {
  signal_transport: {
    type: 'string',
    description:
      'How the handle is signalled: TOKEN_SIGNAL (the default) with `weft signal` (curl_cli), NO_SIGNAL for no way at all.',
    default: 'TOKEN_SIGNAL',
    constraints: [AllowedValues(TRANSPORTS)],
  },
} as const satisfies PropertiesSchema;

/** The node type of handles, which `weft signal` checks a node against. */
export const HANDLE_NODE_TYPE = 'weft.nodes.WaitConditionHandle';
/** The runtime property holding a handle's signal directory, whatever its transport. */
export const SIGNAL_DIR = 'signal_dir';
const HANDLE_TOKEN = 'handle_token';

/** The command a script signals a handle with: append `--data-binary '{"status": "SUCCESS"}'`. */
export function signalCommand(endpoint: string, token: string): string {
  // Quoted only when it must be, so that the command also works from a variable ($cmd --data ...).
  const quote = (text: string) =>
    /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
  return `weft signal --endpoint ${quote(endpoint)} --token ${quote(token)}`;
}

export class WaitConditionHandle extends Resource<PropertiesOf<typeof handleSchema>> {
  static override properties: PropertiesSchema = handleSchema;
  static override attributes = {
    token: 'The token `weft signal --endpoint` must be given (TOKEN_SIGNAL; else null).',
    endpoint: "The handle's signal directory, for `weft signal --endpoint` (TOKEN_SIGNAL; else null).",
    curl_cli:
      'The command prefix that signals the handle: append --data-binary \'{"status": "SUCCESS"}\' (TOKEN_SIGNAL; else null).',
    signal: 'JSON text of a map with the alarm_url (the endpoint) and token a client signals with.',
  };

  static override validate(values: Record<string, Json>): Problem[] {
    const transport = values.signal_transport;
    return typeof transport === 'string' &&
      TRANSPORTS.includes(transport) &&
      !LOCAL_TRANSPORTS.includes(transport)
      ? [
          {
            path: 'signal_transport',
            message: `${transport} needs OpenStack; here a handle is signalled with weft signal (TOKEN_SIGNAL) or not at all (NO_SIGNAL)`,
          },
        ]
      : [];
  }

  private get signalled(): boolean {
    return this.properties.signal_transport === 'TOKEN_SIGNAL';
  }

  /** The handle's signal directory, once it is created. */
  private get dir(): string | undefined {
    const dir = this.ctx.instance.runtimeProperties[SIGNAL_DIR];
    return typeof dir === 'string' ? dir : undefined;
  }

  override handleCreate(): null {
    const token = randomBytes(24).toString('hex');
    // An id and directory of its own: a replacement is created before the handle it replaces is
    // deleted, and its wait condition, seeing a new handle, is replaced too (it waits again).
    const id = `${this.ctx.instance.id}-${randomBytes(4).toString('hex')}`;
    const dir = join(this.ctx.plugin.workdir, 'wait-handles', id);
    createHandleDir(dir, token);
    Object.assign(this.ctx.instance.runtimeProperties, { [HANDLE_TOKEN]: token, [SIGNAL_DIR]: dir });
    this.resourceId = id;
    return null;
  }

  override handleDelete(): null {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    return null;
  }

  override resolveAttribute(name: string): Json | undefined {
    const dir = this.dir;
    if (!this.resourceId || !dir) return null;
    const token = this.ctx.instance.runtimeProperties[HANDLE_TOKEN] as string;
    switch (name) {
      case 'token':
        return this.signalled ? token : null;
      case 'endpoint':
        return this.signalled ? dir : null;
      case 'curl_cli':
        return this.signalled ? signalCommand(dir, token) : null;
      case 'signal':
        return pythonJson(this.signalled ? { alarm_url: dir, token } : {});
      default:
        return undefined;
    }
  }
}

/** The node type of wait conditions, whose `data` `weft signal` refreshes once they completed. */
export const CONDITION_NODE_TYPE = 'weft.nodes.WaitCondition';

/**
 * A wait condition's `data` attribute: JSON text of its handle's signals' data by id, read from
 * the handle as it is now (Heat's _resolve_attribute reads the handle's metadata afresh).
 */
export function conditionData(endpoint: string): string {
  const data: Record<string, unknown> = {};
  for (const [id, signal] of readSignals(endpoint)) data[id] = signal.data;
  return pythonJson(data);
}

const conditionSchema = {
  handle: {
    type: 'string',
    description: 'The handle that signals this wait condition (get_resource of it).',
    required: true,
  },
  timeout: {
    type: 'number',
    description: 'Seconds to wait for the signals to arrive.',
    required: true,
    constraints: [Range({ min: 1, max: 43200 })],
  },
  count: {
    type: 'integer',
    description: 'The number of SUCCESS signals to wait for.',
    default: 1,
    updateAllowed: true,
    constraints: [Range({ min: 1 })],
  },
} as const satisfies PropertiesSchema;

type ConditionProperties = PropertiesOf<typeof conditionSchema>;

/** What a create or update polls with. */
interface Wait {
  endpoint: string;
  /** Epoch milliseconds. */
  started: number;
  timeout: number;
  count: number;
}

export class WaitCondition extends Resource<ConditionProperties> {
  static override properties: PropertiesSchema = conditionSchema;
  static override attributes = {
    data: "JSON text of the signals' data, by signal id.",
  };
  static override pollInterval = 1;

  /**
   * The handle's signal directory: the handle is the resource `handle` names, which the node
   * depends on (get_resource makes it a dependency), as Heat looks it up by its reference.
   */
  private endpoint(): string {
    const handle = this.ctx.instance.relationships.find(
      (r) => r.target.instance.runtimeProperties.resource_id === this.properties.handle,
    );
    const endpoint = handle?.target.instance.runtimeProperties[SIGNAL_DIR];
    if (
      !handle ||
      !handle.target.node.typeHierarchy.includes(HANDLE_NODE_TYPE) ||
      typeof endpoint !== 'string'
    )
      throw new NonRecoverableError(
        `${handle?.target.node.name ?? this.properties.handle} is not a valid wait condition handle.`,
      );
    return endpoint;
  }

  private start(properties: ConditionProperties): Json {
    const wait: Wait = {
      endpoint: this.endpoint(),
      started: Date.now(),
      timeout: properties.timeout,
      count: properties.count,
    };
    this.ctx.logger.info(
      `${this.ctx.instance.id} waits up to ${wait.timeout} s for ${wait.count} signal${wait.count === 1 ? '' : 's'}`,
    );
    return { ...wait };
  }

  override handleCreate(): Json {
    this.resourceId = this.ctx.instance.id;
    return this.start(this.properties);
  }

  override checkCreateComplete(token: Json): boolean {
    return this.wait(token as unknown as Wait);
  }

  /** A new count waits again, from now, as Heat's handle_update. */
  override handleUpdate(snippet: ResourceDefinition, _diff: unknown, _changed: PropertyDiff): Json {
    return this.start(snippet.properties as unknown as ConditionProperties);
  }

  override checkUpdateComplete(token: Json): boolean {
    return this.wait(token as unknown as Wait);
  }

  /** Heat clears the handle's signals: a new wait condition on it waits for new ones. */
  override handleDelete(): null {
    try {
      clearSignals(this.endpoint());
    } catch (error) {
      // The handle is gone already (deleted first, or never created): nothing to clear.
      if (!(error instanceof NonRecoverableError)) throw error;
    }
    return null;
  }

  override resolveAttribute(name: string): Json | undefined {
    if (name !== 'data') return undefined;
    let endpoint: string;
    try {
      endpoint = this.endpoint();
    } catch {
      return '';
    }
    return conditionData(endpoint);
  }

  /** Heat's _wait: the timeout first, then any failure, then enough successes. */
  private wait(wait: Wait): boolean {
    const signals = [...readSignals(wait.endpoint).values()];
    const reasons = (status: string) => signals.filter((s) => s.status === status).map((s) => s.reason);
    const name = `resources.${this.ctx.node.name}`;
    if (Date.now() - wait.started > wait.timeout * 1000) {
      const received = reasons('SUCCESS');
      throw new NonRecoverableError(
        `WaitConditionTimeout: ${name}: ${received.length} of ${wait.count} received${received.length ? ` - ${received.join(';')}` : ''}`,
      );
    }
    if (signals.some((s) => s.status !== 'SUCCESS'))
      throw new NonRecoverableError(`WaitConditionFailure: ${name}: ${reasons('FAILURE').join(';')}`);
    return signals.length >= wait.count;
  }
}
