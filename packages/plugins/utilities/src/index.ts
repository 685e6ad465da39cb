// Weft's utility resources, Heat-style resources that need no cloud: node types of plugin.yaml
// mapped to Resource classes. Their operations are `utilities.resources.<operation>`; update's
// `properties` input holds the properties to change (`operation_kwargs={properties: {salt: two}}`
// draws a new string of the same length and classes; a property set to null goes back to its
// default).
import { resourceMapping } from '@weft/sdk';
import { LocalProcess } from './local-process.js';
import { NoOp, StackResource } from './no-op.js';
import { RandomString } from './random-string.js';

export { pause } from './rolling-update.js';

import { TestResource } from './test-resource.js';
import { Value } from './value.js';
import { WaitCondition, WaitConditionHandle } from './wait-condition.js';

export { CONDITION_NODE_TYPE, conditionData, HANDLE_NODE_TYPE, SIGNAL_DIR } from './wait-condition.js';
export { handleToken, SignalError, signalProblem, writeSignal } from './wait-signals.js';

export const resources = resourceMapping({
  'weft.nodes.RandomString': RandomString,
  'weft.nodes.Value': Value,
  'weft.nodes.NoOp': NoOp,
  'weft.nodes.NestedStack': StackResource,
  'weft.nodes.TestResource': TestResource,
  'weft.nodes.LocalProcess': LocalProcess,
  'weft.nodes.WaitConditionHandle': WaitConditionHandle,
  'weft.nodes.WaitCondition': WaitCondition,
});
