/** The DSL versions Weft reads, oldest first, and the version each gated feature arrived in. */
export const DSL_VERSIONS = [
  'cloudify_dsl_1_0',
  'cloudify_dsl_1_1',
  'cloudify_dsl_1_2',
  'cloudify_dsl_1_3',
  'cloudify_dsl_1_4',
  'cloudify_dsl_1_5',
] as const;

export type DslVersion = (typeof DSL_VERSIONS)[number];

export function isDslVersion(value: unknown): value is DslVersion {
  return typeof value === 'string' && (DSL_VERSIONS as readonly string[]).includes(value);
}

/** 0 for 1_0 ... 5 for 1_5. */
export function versionRank(version: DslVersion): number {
  return DSL_VERSIONS.indexOf(version);
}

/** Features gated by DSL version, as Cloudify's parser gates them. */
export const FEATURE_SINCE = {
  concat: 'cloudify_dsl_1_1',
  operation_max_retries: 'cloudify_dsl_1_1',
  operation_retry_interval: 'cloudify_dsl_1_1',
  plugin_install_arguments: 'cloudify_dsl_1_1',
  description: 'cloudify_dsl_1_2',
  plugin_package: 'cloudify_dsl_1_2',
  dsl_definitions: 'cloudify_dsl_1_2',
  data_types: 'cloudify_dsl_1_2',
  required: 'cloudify_dsl_1_2',
  scalable_capabilities: 'cloudify_dsl_1_3',
  merge: 'cloudify_dsl_1_3',
  hidden: 'cloudify_dsl_1_3',
  resource_tags: 'cloudify_dsl_1_3',
  policies: 'cloudify_dsl_1_3',
  display_label: 'cloudify_dsl_1_3',
  imported_templates: 'cloudify_dsl_1_3',
  item_type: 'cloudify_dsl_1_4',
  object_types: 'cloudify_dsl_1_4',
  availability_rules: 'cloudify_dsl_1_4',
  runtime_properties_schema: 'cloudify_dsl_1_5',
  import_properties: 'cloudify_dsl_1_5',
  plugin_properties: 'cloudify_dsl_1_5',
  operation_name_type: 'cloudify_dsl_1_5',
  constraint_error_message: 'cloudify_dsl_1_5',
} as const satisfies Record<string, DslVersion>;

export type Feature = keyof typeof FEATURE_SINCE;

export function supports(version: DslVersion, feature: Feature): boolean {
  return versionRank(version) >= versionRank(FEATURE_SINCE[feature]);
}
