/**
 * The runtime property that, when set before create, makes create adopt an existing resource
 * instead of making one (Heat's stack adopt): what the stack's abandon data says of the resource.
 * Its own module, so that showing a stack's state does not load the SDK's runtime.
 */
export const ADOPT_KEY = 'heat_adopt';

/**
 * The runtime property holding, during a restore from a snapshot (Heat's stack restore), what the
 * snapshot kept of the resource: one made anew then is brought back by its class's handleRestore.
 */
export const RESTORE_KEY = 'heat_restore';

/**
 * The update operation's input naming the type of the resource that replaces this one (its
 * definition changed type, so the engine replaces it, as Heat's StackUpdate does): the update
 * only refuses when the environment restricts replace, leaving the resource as it is.
 */
export const REPLACED_BY_INPUT = 'replaced_by';

/** The node property that may choose the deletion policy per node (Delete, Retain or Snapshot). */
export const DELETION_POLICY_PROPERTY = 'deletion_policy';

/**
 * The node property naming the actions an update may not take on the resource (Heat's
 * restricted_actions, from the environment): `update` (in place) and `replace`.
 */
export const RESTRICTED_ACTIONS_PROPERTY = 'restricted_actions';

/**
 * The update operation's input that begins a nested stack resource's update before the resources
 * of its nested stack change, as Heat's StackResource goes UPDATE_IN_PROGRESS first: an update
 * with nothing else to do than the one its class always makes (Resource alwaysUpdates) is started
 * (its handleUpdate run, the resource UPDATE_IN_PROGRESS) and left unfinished, for the update
 * operation run after them to finish (checkUpdateComplete, UPDATE_COMPLETE). Anything else (an
 * unfinished action, a replacement, changed properties) is all left to that run.
 */
export const BEGIN_UPDATE_INPUT = 'begin';
