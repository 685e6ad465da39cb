// Weft's REST plugin: Cloudify's cloudify.rest.Requests and cloudify.rest.BunchRequests on undici.
// Blueprints name the operations as Cloudify's utilities plugin maps them
// (`rest.cloudify_rest.tasks.execute`); the short names (`rest.execute`) work too.
import { bunch_execute, execute, execute_as_relationship } from './tasks.js';

export { bunch_execute, execute, execute_as_relationship };

export const cloudify_rest = { tasks: { execute, bunch_execute, execute_as_relationship } };
