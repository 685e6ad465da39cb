import { resourceMapping } from '@weft/sdk';
import { run } from './run.js';
import { SoftwareConfig, SoftwareDeployment } from './software.js';
import { execute_workflow } from './workflow.js';

// Runs workflow scripts (the engine calls it; as Cloudify's script_runner.tasks.execute_workflow).
export { execute_workflow, run };

/** The name blueprints written for Cloudify give it: `script.script_runner.tasks.run`. */
export const script_runner = { tasks: { run } };

// The ctx endpoint, for plugins that run scripts elsewhere (the remote-command plugin).
export { CtxServer } from './ctx-server.js';
export { ctxTree, type Download, type ScriptState, type Stop } from './ctx-tree.js';
export { CTX_COMMAND } from './script-file.js';

// Heat's software configs, run on this machine (OS::Heat::SoftwareConfig, SoftwareDeployment).
export const resources = resourceMapping({
  'weft.nodes.SoftwareConfig': SoftwareConfig,
  'weft.nodes.SoftwareDeployment': SoftwareDeployment,
});
