/**
 * The node property holding Coopr's `resourceTypes` of a Loom type (`{scripts: {format: "file",
 * permissions: "0755"}}`): declared by the node types the engine generates from a manifest, read
 * by the SDK when it stages the resources. Its own module, so that validating a blueprint does
 * not load the SDK's runtime.
 */
export const LOOM_RESOURCE_TYPES_PROPERTY = 'loom_resource_types';
