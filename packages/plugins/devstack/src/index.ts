// DevStack plugins as they are written: weft.nodes.DevStack (plugin.yaml) runs a local.conf and the
// plugins it enables; its operations are `devstack.environment.<operation>`. The CLI's `weft devstack`
// commands run a deployment of one such node, and read package lists through Environment.
import { clean, configure, create, start, stop } from './operations.js';

export const environment = { create, configure, start, stop, delete: clean };
export { Environment, type EnvironmentOptions } from './environment.js';
export { PROGRESS_KEY, STATE_KEY } from './operations.js';
export { localPackageFormat, type PackageList } from './packages.js';
