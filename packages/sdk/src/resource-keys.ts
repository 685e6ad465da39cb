/**
 * The runtime property that, when set before create, makes create adopt an existing resource
 * instead of making one (Heat's stack adopt): what the stack's abandon data says of the resource.
 * Its own module, so that showing a stack's state does not load the SDK's runtime.
 */
export const ADOPT_KEY = 'heat_adopt';
