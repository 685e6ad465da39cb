/**
 * HOT versions and what each one offers, from Heat's heat/engine/hot/template.py (one class per
 * version, each with its `functions` and `condition_functions` tables) and setup.cfg (the
 * release names registered beside the dates).
 */

/** The versions by date, oldest first; the index is the version's rank. */
export const HOT_VERSIONS = [
  '2013-05-23',
  '2014-10-16',
  '2015-04-30',
  '2015-10-15',
  '2016-04-08',
  '2016-10-14',
  '2017-02-24',
  '2017-09-01',
  '2018-03-02',
  '2018-08-31',
  '2021-04-16',
] as const;

export type HotVersion = (typeof HOT_VERSIONS)[number];

/** Release names Heat accepts for a version. */
export const RELEASE_NAMES: Record<string, HotVersion> = {
  newton: '2016-10-14',
  ocata: '2017-02-24',
  pike: '2017-09-01',
  queens: '2018-03-02',
  rocky: '2018-08-31',
  wallaby: '2021-04-16',
};

/** A template version as Heat's template version list shows it. */
export interface TemplateVersion {
  version: string;
  type: 'hot';
  aliases: string[];
}

/**
 * The template versions read here, as Heat's list_template_versions (heat/engine/service.py)
 * lists its template plugins (setup.cfg's heat.templates): each dated version under its key
 * (`heat_template_version.2013-05-23`), the release names that stand for it as its aliases.
 * (Heat's CloudFormation formats are not read here.)
 */
export function templateVersions(): TemplateVersion[] {
  return HOT_VERSIONS.map((date) => ({
    version: `heat_template_version.${date}`,
    type: 'hot',
    aliases: Object.keys(RELEASE_NAMES)
      .filter((name) => RELEASE_NAMES[name] === date)
      .map((name) => `heat_template_version.${name}`),
  }));
}

export function rank(version: HotVersion): number {
  return HOT_VERSIONS.indexOf(version);
}

/**
 * A `heat_template_version` value as a version. YAML reads an unquoted date as a date, which the
 * YAML reader here keeps as text; Heat compares the text too.
 */
export function hotVersion(value: unknown): HotVersion | undefined {
  const text = value instanceof Date ? value.toISOString().slice(0, 10) : String(value);
  if ((HOT_VERSIONS as readonly string[]).includes(text)) return text as HotVersion;
  return RELEASE_NAMES[text];
}

/** The first version each function is available in (Heat's `functions` tables). */
export const FUNCTION_SINCE: Record<string, HotVersion> = {
  get_param: '2013-05-23',
  get_resource: '2013-05-23',
  get_attr: '2013-05-23',
  get_file: '2013-05-23',
  list_join: '2013-05-23',
  str_replace: '2013-05-23',
  resource_facade: '2013-05-23',
  repeat: '2015-04-30',
  digest: '2015-04-30',
  str_split: '2015-10-15',
  map_merge: '2016-04-08',
  yaql: '2016-10-14',
  map_replace: '2016-10-14',
  if: '2016-10-14',
  filter: '2017-02-24',
  str_replace_strict: '2017-02-24',
  make_url: '2017-09-01',
  list_concat: '2017-09-01',
  str_replace_vstrict: '2017-09-01',
  list_concat_unique: '2017-09-01',
  contains: '2017-09-01',
};

/** The first version each condition function is available in (`condition_functions`). */
export const CONDITION_FUNCTION_SINCE: Record<string, HotVersion> = {
  get_param: '2016-10-14',
  equals: '2016-10-14',
  not: '2016-10-14',
  and: '2016-10-14',
  or: '2016-10-14',
  yaql: '2017-09-01',
  contains: '2017-09-01',
};

/**
 * CloudFormation functions a HOT template may name: 2013-05-23 maps most of them, later versions
 * removed them (Heat's hot_funcs.Removed) but for Fn::Select, which lasted until 2015-10-15. The
 * ones Weft evaluates are in CFN_FUNCTION_VERSIONS; the others (Fn::GetAZs, the availability zones
 * of an OpenStack cloud, and Fn::MemberListToMap, AWS's query-string lists) are refused by name.
 */
export const CFN_FUNCTIONS = [
  'Fn::GetAZs',
  'Fn::Join',
  'Fn::Select',
  'Fn::Split',
  'Fn::Replace',
  'Fn::Base64',
  'Fn::MemberListToMap',
  'Fn::ResourceFacade',
  'Fn::GetAtt',
  'Ref',
];

/** The first and last version Heat's HOT evaluates each CloudFormation function Weft takes in. */
export const CFN_FUNCTION_VERSIONS: Record<string, [HotVersion, HotVersion]> = {
  'Fn::Select': ['2013-05-23', '2015-04-30'],
  'Fn::Join': ['2013-05-23', '2013-05-23'],
  'Fn::Split': ['2013-05-23', '2013-05-23'],
  'Fn::Replace': ['2013-05-23', '2013-05-23'],
  'Fn::Base64': ['2013-05-23', '2013-05-23'],
  'Fn::ResourceFacade': ['2013-05-23', '2013-05-23'],
  Ref: ['2013-05-23', '2013-05-23'],
};

export function cfnFunctionAvailable(name: string, version: HotVersion): boolean {
  const range = CFN_FUNCTION_VERSIONS[name];
  return range !== undefined && rank(version) >= rank(range[0]) && rank(version) <= rank(range[1]);
}

export function functionAvailable(name: string, version: HotVersion, condition = false): boolean {
  const since = (condition ? CONDITION_FUNCTION_SINCE : FUNCTION_SINCE)[name];
  return since !== undefined && rank(version) >= rank(since);
}

/** Sections and the version each appeared in. */
export const SECTION_SINCE: Record<string, HotVersion> = {
  heat_template_version: '2013-05-23',
  description: '2013-05-23',
  parameter_groups: '2013-05-23',
  parameters: '2013-05-23',
  resources: '2013-05-23',
  outputs: '2013-05-23',
  conditions: '2016-10-14',
};

/** Resource keys and the version each appeared in. */
export const RESOURCE_KEY_SINCE: Record<string, HotVersion> = {
  type: '2013-05-23',
  properties: '2013-05-23',
  metadata: '2013-05-23',
  depends_on: '2013-05-23',
  deletion_policy: '2013-05-23',
  update_policy: '2013-05-23',
  description: '2013-05-23',
  external_id: '2016-10-14',
  condition: '2016-10-14',
};

/** Output keys and the version each appeared in. */
export const OUTPUT_KEY_SINCE: Record<string, HotVersion> = {
  description: '2013-05-23',
  value: '2013-05-23',
  condition: '2016-10-14',
};

/** Parameter keys and the version each appeared in (tags: HOTParamSchema20180302). */
export const PARAMETER_KEY_SINCE: Record<string, HotVersion> = {
  type: '2013-05-23',
  label: '2013-05-23',
  description: '2013-05-23',
  default: '2013-05-23',
  hidden: '2013-05-23',
  constraints: '2013-05-23',
  immutable: '2013-05-23',
  tags: '2018-03-02',
};

/** Constraint keys and the version each appeared in (modulo: HOTParamSchema20170224). */
export const CONSTRAINT_SINCE: Record<string, HotVersion> = {
  length: '2013-05-23',
  range: '2013-05-23',
  allowed_values: '2013-05-23',
  allowed_pattern: '2013-05-23',
  custom_constraint: '2013-05-23',
  modulo: '2017-02-24',
};

export function since(table: Record<string, HotVersion>, key: string, version: HotVersion): boolean {
  const first = table[key];
  return first !== undefined && rank(version) >= rank(first);
}
