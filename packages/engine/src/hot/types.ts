/**
 * The resource types a HOT template can name without a plugin of its own: Heat's resources that
 * need no cloud, each run by the Resource class of Weft's utilities plugin (the script plugin for
 * software configs) under its node type.
 * ResourceGroup, ResourceChain and OS::Heat::Stack are expanded by the front end itself.
 */

/** Heat type name to the utilities plugin's node type that runs it. */
export const BUILTIN_TYPES: Record<string, string> = {
  'OS::Heat::RandomString': 'weft.nodes.RandomString',
  'OS::Heat::Value': 'weft.nodes.Value',
  'OS::Heat::None': 'weft.nodes.NoOp',
  'OS::Heat::TestResource': 'weft.nodes.TestResource',
  'OS::Heat::WaitConditionHandle': 'weft.nodes.WaitConditionHandle',
  'OS::Heat::WaitCondition': 'weft.nodes.WaitCondition',
  'OS::Heat::SoftwareConfig': 'weft.nodes.SoftwareConfig',
  'OS::Heat::SoftwareDeployment': 'weft.nodes.SoftwareDeployment',
};

/** The plugin of a built-in type's node type, when it is not the utilities plugin (imported always). */
export const BUILTIN_PLUGINS: Record<string, string> = {
  'OS::Heat::SoftwareConfig': 'script',
  'OS::Heat::SoftwareDeployment': 'script',
};

/** Types the front end expands into other resources. */
export const GROUP_TYPES = ['OS::Heat::ResourceGroup', 'OS::Heat::ResourceChain', 'OS::Heat::Stack'];

/**
 * The node type of a template resource: one for every template, so that an update which maps
 * its type to another template (or another alias of the same) updates the nested stack in place,
 * as Heat does.
 */
export const NESTED_STACK = 'weft.heat.TemplateResource';

/**
 * Whether a node of this type is one of Heat's stack resources (a group, chain, OS::Heat::Stack or
 * template resource): Heat always updates their nested stacks, and lets the resources in them
 * decide whether they change (StackResource._needs_update), so a preview shows them updated.
 */
export function isStackResourceType(type: string): boolean {
  return type === NESTED_STACK || GROUP_TYPES.includes(type);
}

/** Every type name a template may use here, for "did you mean" and the unknown-type message. */
export function knownTypes(): string[] {
  return [...Object.keys(BUILTIN_TYPES), ...GROUP_TYPES].sort();
}

/** The Cloudify stack of node types every HOT deployment imports. */
export const HOT_IMPORTS = ['cloudify/types/types.yaml', 'plugin:utilities'];
