// The pause between two batches of a HOT ResourceGroup's rolling update (its update_policy
// rolling_update pause_time, as Heat's ResourceGroup._replace pauses between batches). It waits
// on the engine's retry timer, never sleeping: the first run asks to run again `seconds` later,
// and that second run ends the pause.
import { type Json, NonRecoverableError, type OperationContext, operation } from '@weft/sdk';

export const pause = operation(
  async (ctx: OperationContext, inputs: Record<string, Json>): Promise<void> => {
    const seconds = inputs.seconds;
    if (typeof seconds !== 'number' || !(seconds >= 0))
      throw new NonRecoverableError(
        `pause: seconds must be a number of 0 or more, got ${JSON.stringify(seconds)}`,
      );
    const batch = typeof inputs.batch === 'number' ? ` after batch ${inputs.batch}` : '';
    if (ctx.operation.retryNumber === 0 && seconds > 0) {
      ctx.logger.info(`rolling update of ${ctx.node.name}: pausing ${seconds} s${batch}`);
      ctx.operation.retry(`pausing ${seconds} s between the batches of the rolling update`, seconds);
    }
    ctx.logger.info(`rolling update of ${ctx.node.name}: pause${batch} over`);
  },
  { resumable: true },
);
