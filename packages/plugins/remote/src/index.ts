// Weft's remote-command plugin: Cloudify's fabric plugin (`fabric.fabric_plugin.tasks.*`) over
// SSH, without Python. The exports are reachable both by the paths blueprints written for
// Cloudify use and by their short names (`fabric.run_commands`).
import { run_commands, run_module_task, run_script, run_task } from './operations.js';

export { RemoteCommandError, run_commands, run_module_task, run_script, run_task } from './operations.js';

export const fabric_plugin = { tasks: { run_commands, run_script, run_task, run_module_task } };
