import type { Diagnostics } from './diagnostics.js';
import { didYouMean } from './diagnostics.js';
import { functionName } from './functions.js';
import type { Entry } from './imports.js';
import { isMapping, keyLocOf, locOf, type Value, type ValueMap } from './yaml-source.js';

/**
 * Checks of the parts of a blueprint that Cloudify's manager uses and Weft only carries along:
 * `deployment_settings` (schedules, groups, display name) and deployment and blueprint labels.
 * They follow Cloudify's parser, so a blueprint valid here uploads there.
 */

/** `text` is a string or a function giving one. */
type Kind = 'string' | 'text' | 'boolean' | 'integer' | 'list' | 'mapping';

/** Each schedule key and what its value must be. */
const SCHEDULE_KEYS: Record<string, Kind> = {
  workflow: 'string',
  execution_arguments: 'mapping',
  workflow_parameters: 'mapping',
  since: 'string',
  until: 'string',
  recurrence: 'string',
  timezone: 'string',
  weekdays: 'list',
  count: 'integer',
  default_enabled: 'boolean',
  stop_after_fail: 'boolean',
  slip: 'integer',
};
const EXECUTION_ARGUMENTS: Record<string, Kind> = {
  force: 'boolean',
  is_dry_run: 'boolean',
  wait_after_fail: 'integer',
  allow_custom_parameters: 'boolean',
};
const SETTINGS_KEYS = ['default_schedules', 'default_groups', 'id_template', 'display_name'];
const WEEKDAYS = ['su', 'mo', 'tu', 'we', 'th', 'fr', 'sa'];
/** A schedule's recurrence: `1 day`, `2w`, `10min` (Cloudify's time delta). */
const TIME_DELTA = /^\d+ ?(min(ute)?|h(our)?|d(ay)?|w(eek)?|mo(nth)?|y(ear)?)s?$/;

function isKind(value: Value, kind: Kind): boolean {
  switch (kind) {
    case 'string':
      return typeof value === 'string';
    case 'text':
      return typeof value === 'string' || functionName(value) !== undefined;
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return Number.isInteger(value);
    case 'list':
      return Array.isArray(value);
    case 'mapping':
      return isMapping(value);
  }
}

/** Keys of `def` against `kinds`: unknown keys and values of the wrong kind are problems. */
function checkKeys(def: ValueMap, kinds: Record<string, Kind>, path: string, diagnostics: Diagnostics): void {
  for (const [key, value] of Object.entries(def)) {
    const kind = Object.hasOwn(kinds, key) ? kinds[key] : undefined;
    if (!kind)
      diagnostics.add(
        'unknown-key',
        keyLocOf(def, key),
        `${path}.${key}`,
        `unknown key${didYouMean(key, Object.keys(kinds))}`,
      );
    else if (value !== null && !isKind(value, kind))
      diagnostics.add(
        'type-mismatch',
        locOf(def, key),
        `${path}.${key}`,
        `expected ${kind === 'text' ? 'a string or a function' : `a ${kind}`}`,
      );
  }
}

/** A runtime value (get_attribute) cannot be known when a deployment is created. */
function isRuntime(value: Value | undefined): boolean {
  return functionName(value) === 'get_attribute';
}

function checkSchedule(schedule: ValueMap, path: string, diagnostics: Diagnostics): void {
  checkKeys(schedule, SCHEDULE_KEYS, path, diagnostics);
  for (const key of ['workflow', 'since'])
    if (schedule[key] === undefined)
      diagnostics.add('missing-key', locOf(schedule), `${path}.${key}`, `a schedule needs '${key}'`);
  const recurrence = schedule.recurrence;
  if (typeof recurrence === 'string' && !TIME_DELTA.test(recurrence))
    diagnostics.add(
      'bad-value',
      locOf(schedule, 'recurrence'),
      `${path}.recurrence`,
      `'${recurrence}' is not a time delta (e.g. 1 day, 2 weeks, 30min)`,
    );
  if (Array.isArray(schedule.weekdays))
    schedule.weekdays.forEach((day, i) => {
      if (typeof day !== 'string' || !WEEKDAYS.includes(day.toLowerCase().slice(-2)))
        diagnostics.add(
          'bad-value',
          locOf(schedule.weekdays, i),
          `${path}.weekdays[${i}]`,
          `${JSON.stringify(day)} is not a weekday (${WEEKDAYS.join(', ')})`,
        );
    });
  if (isMapping(schedule.execution_arguments))
    checkKeys(schedule.execution_arguments, EXECUTION_ARGUMENTS, `${path}.execution_arguments`, diagnostics);
  const parameters = schedule.workflow_parameters;
  if (isMapping(parameters)) {
    const runtime = isRuntime(parameters)
      ? ['']
      : Object.keys(parameters).filter((k) => isRuntime(parameters[k]));
    for (const key of runtime)
      diagnostics.add(
        'bad-value',
        key ? locOf(parameters, key) : locOf(schedule, 'workflow_parameters'),
        `${path}.workflow_parameters${key ? `.${key}` : ''}`,
        'a scheduled workflow is set up when the deployment is created: get_attribute cannot be used here',
      );
  }
}

/**
 * `deployment_settings`: its keys, each default schedule, and the functions in it (checked by
 * `checkFunctionsIn`, which knows the blueprint's inputs).
 */
export function checkDeploymentSettings(
  settings: Value | undefined,
  diagnostics: Diagnostics,
  checkFunctionsIn: (value: Value, path: string, container: ValueMap, key: string) => void,
): void {
  if (settings === undefined || settings === null) return;
  const path = 'deployment_settings';
  if (!isMapping(settings)) {
    diagnostics.add('type-mismatch', locOf(settings), path, 'expected a mapping');
    return;
  }
  checkKeys(
    settings,
    { default_schedules: 'mapping', default_groups: 'list', id_template: 'string', display_name: 'text' },
    path,
    diagnostics,
  );
  for (const key of SETTINGS_KEYS)
    if (settings[key] !== undefined) checkFunctionsIn(settings[key]!, `${path}.${key}`, settings, key);
  if (!isMapping(settings.default_schedules)) return;
  for (const [name, schedule] of Object.entries(settings.default_schedules)) {
    if (isMapping(schedule)) checkSchedule(schedule, `${path}.default_schedules.${name}`, diagnostics);
    else
      diagnostics.add(
        'type-mismatch',
        locOf(settings.default_schedules, name),
        `${path}.default_schedules.${name}`,
        'expected a mapping',
      );
  }
}

/**
 * `labels` and `blueprint_labels`: each a mapping with a list of `values`. A blueprint's labels
 * are set on upload, so they are plain strings; a deployment's are set when it is created, so
 * they may use functions, but not get_attribute.
 */
export function checkLabels(
  section: 'labels' | 'blueprint_labels',
  entries: Entry[],
  diagnostics: Diagnostics,
): void {
  for (const entry of entries) {
    const path = `${section}.${entry.name}`;
    const def = entry.value;
    if (!isMapping(def) || !Array.isArray(def.values)) {
      diagnostics.add('type-mismatch', entry.at, `${path}.values`, 'a label needs a list of values');
      continue;
    }
    for (const key of Object.keys(def))
      if (key !== 'values')
        diagnostics.add(
          'unknown-key',
          keyLocOf(def, key),
          `${path}.${key}`,
          'unknown key; a label has only values',
        );
    def.values.forEach((value, i) => {
      const plain = typeof value === 'string';
      const allowed =
        section === 'blueprint_labels' ? plain : plain || (isMapping(value) && !isRuntime(value));
      if (!allowed)
        diagnostics.add(
          'bad-value',
          locOf(def.values, i),
          `${path}.values[${i}]`,
          section === 'blueprint_labels'
            ? 'a blueprint label value must be a string'
            : 'a label value must be a string or a function other than get_attribute (labels are set when the deployment is created)',
        );
    });
  }
}
