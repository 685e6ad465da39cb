// weft.nodes.TestResource: Heat's OS::Heat::TestResource, for tests and demos. It stores `value`
// (the attribute `output`) and can be told to take its time (wait_secs, action_wait_secs,
// attr_wait_secs), to fail for good (fail) or a number of times first (fail_times), and to be
// replaced rather than updated (update_replace, update_replace_value).
//
// Waits are polled on the engine's retry timer (check*Complete), never slept. A failure comes
// after the wait, as in Heat: `fail` is a NonRecoverableError (the task fails at once);
// `fail_times: N` makes the first N completions of each create or update throw a
// RecoverableError, so the task is retried and then succeeds. Neither applies to delete.
import { randomBytes } from 'node:crypto';
import {
  type Json,
  NonRecoverableError,
  type PropertiesOf,
  type PropertiesSchema,
  type PropertyDiff,
  Range,
  RecoverableError,
  Resource,
  type ResourceDefinition,
  UpdateReplace,
} from '@weft/sdk';

const schema = {
  value: {
    type: 'string',
    description: 'The string to store; the attribute `output`.',
    default: 'test_string',
    updateAllowed: true,
  },
  fail: {
    type: 'boolean',
    description: 'Fail create and update (after the wait), for good.',
    default: false,
    updateAllowed: true,
  },
  fail_times: {
    type: 'integer',
    description:
      'Fail the first this many completions of each create and update (after the wait) with a recoverable error: the task is retried, then succeeds.',
    default: 0,
    updateAllowed: true,
    constraints: [Range({ min: 0 })],
  },
  update_replace: {
    type: 'boolean',
    description: 'A change of `value` replaces the resource instead of updating it.',
    default: false,
    updateAllowed: true,
  },
  update_replace_value: {
    type: 'string',
    description: 'A value that cannot be updated: any change replaces the resource.',
  },
  wait_secs: {
    type: 'number',
    description: 'Seconds each action takes (-1: forever).',
    default: 0,
    updateAllowed: true,
  },
  action_wait_secs: {
    type: 'map',
    description: 'Seconds per action (create, update, delete), instead of wait_secs.',
    updateAllowed: true,
    schema: {
      create: { type: 'number', description: 'Seconds a create takes.' },
      update: { type: 'number', description: 'Seconds an update takes.' },
      delete: { type: 'number', description: 'Seconds a delete takes.' },
    },
  },
  attr_wait_secs: {
    type: 'number',
    description:
      'Seconds before `output` is resolved, after the wait of a create or update: the attribute is written only then.',
    default: 0,
    updateAllowed: true,
    constraints: [Range({ min: 0 })],
  },
} as const satisfies PropertiesSchema;

export type TestResourceProperties = PropertiesOf<typeof schema>;

type Action = 'create' | 'update' | 'delete';

/** What an action's check polls with: when it started, how long it takes, how it ends. */
interface Wait {
  action: Action;
  /** Epoch milliseconds. */
  started: number;
  /** Seconds; negative: forever. */
  seconds: number;
  fail: boolean;
  failTimes: number;
}

/** The runtime property counting the failures of the current create or update (fail_times). */
export const FAILED_ATTEMPTS = 'failed_attempts';

export class TestResource extends Resource<TestResourceProperties> {
  static override properties: PropertiesSchema = schema;
  static override attributes = { output: 'The stored string.' };
  static override pollInterval = 0.5;

  /** The action's wait: its own, else wait_secs; creates and updates add attr_wait_secs. */
  private wait(action: Action, properties: TestResourceProperties, seconds?: number): Wait {
    let wait = seconds ?? properties.action_wait_secs?.[action] ?? properties.wait_secs;
    if (action !== 'delete' && wait >= 0) wait += properties.attr_wait_secs;
    this.ctx.logger.info(`${this.ctx.instance.id} waits ${wait < 0 ? 'forever' : `${wait} s`} (${action})`);
    return {
      action,
      started: Date.now(),
      seconds: wait,
      fail: action !== 'delete' && properties.fail,
      failTimes: action === 'delete' ? 0 : properties.fail_times,
    };
  }

  override handleCreate(): Json {
    if (!this.properties.fail) {
      this.ctx.instance.runtimeProperties.output = this.properties.value;
      // Each physical resource its own id, as Heat's physical_resource_name is made of the
      // resource's uuid: a replacement (same instance here) has another one.
      this.resourceId = `${this.ctx.instance.id}-${randomBytes(4).toString('hex')}`;
    }
    this.ctx.instance.runtimeProperties[FAILED_ATTEMPTS] = 0;
    return { ...this.wait('create', this.properties) };
  }

  override checkCreateComplete(token: Json): boolean {
    return this.done(token as unknown as Wait);
  }

  /** As Heat's TestResource: a new value replaces it when update_replace is set. */
  static override needsReplace(changed: string[], after: Record<string, Json>): string | undefined {
    return changed.includes('value') && after.update_replace === true
      ? 'value changed and update_replace is set'
      : undefined;
  }

  override handleUpdate(snippet: ResourceDefinition, _diff: unknown, changed: PropertyDiff): Json {
    const next = snippet.properties as unknown as TestResourceProperties;
    const replace = TestResource.needsReplace(Object.keys(changed), next as unknown as Record<string, Json>);
    if (replace) throw new UpdateReplace(replace);
    this.ctx.instance.runtimeProperties[FAILED_ATTEMPTS] = 0;
    // As in Heat: only a new value takes the update's time; `fail` fails any update.
    if (!('value' in changed)) return { ...this.wait('update', next, 0), failTimes: 0 };
    if (!next.fail) this.ctx.instance.runtimeProperties.output = next.value;
    return { ...this.wait('update', next) };
  }

  override checkUpdateComplete(token: Json): boolean {
    return this.done(token as unknown as Wait);
  }

  override handleDelete(): Json {
    return { ...this.wait('delete', this.properties) };
  }

  override checkDeleteComplete(token: Json): boolean {
    if (!this.done(token as unknown as Wait)) return false;
    this.ctx.instance.runtimeProperties.output = null;
    return true;
  }

  override resolveAttribute(name: string): Json | undefined {
    return name === 'output' ? this.ctx.instance.runtimeProperties.output : undefined;
  }

  private done(wait: Wait): boolean {
    const waited = (Date.now() - wait.started) / 1000;
    if (wait.seconds < 0 || waited < wait.seconds) return false;
    const id = this.ctx.instance.id;
    if (wait.fail)
      throw new NonRecoverableError(`TestResource ${id} failed its ${wait.action} (fail is set)`);
    const rp = this.ctx.instance.runtimeProperties;
    const failed = typeof rp[FAILED_ATTEMPTS] === 'number' ? rp[FAILED_ATTEMPTS] : 0;
    if (failed < wait.failTimes) {
      rp[FAILED_ATTEMPTS] = failed + 1;
      throw new RecoverableError(
        `TestResource ${id} failed its ${wait.action} on purpose (failure ${failed + 1} of ${wait.failTimes}, fail_times)`,
      );
    }
    return true;
  }
}
