// Weft's utility resources, Heat-style resources that need no cloud: node types of plugin.yaml
// mapped to Resource classes. Their operations are `utilities.resources.<operation>`.
import { LocalProcess } from './local-process.js';
import { NoOp } from './no-op.js';
import { utilityResources } from './operations.js';
import { RandomString } from './random-string.js';
import { TestResource } from './test-resource.js';
import { Value } from './value.js';

export const resources = utilityResources({
  'weft.nodes.RandomString': RandomString,
  'weft.nodes.Value': Value,
  'weft.nodes.NoOp': NoOp,
  'weft.nodes.TestResource': TestResource,
  'weft.nodes.LocalProcess': LocalProcess,
});
