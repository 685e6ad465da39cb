// The operations of cloudify.rest.Requests and cloudify.rest.BunchRequests, named as Cloudify's
// utilities plugin maps them (rest.cloudify_rest.tasks.execute, ...). Template params are merged
// as there: the node's `params` property, then the instance's runtime properties, then the
// operation's `params` input. Results go into the instance's runtime properties: by default
// `result_properties` (the translated values) and `calls` (the calls as rendered); with
// `remove_calls` the translated values themselves; under `save_path` when given.
import {
  isPrototypeKey,
  NonRecoverableError,
  type OperationContext,
  operation,
  prototypeKeyReason,
} from '@weft/sdk';
import { runTemplate } from './calls.js';
import type { Value } from './translate.js';

type Map = Record<string, Value>;

const isMap = (value: Value): value is Map =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function mapOf(value: Value, name: string): Map {
  if (value === undefined || value === null || value === '') return {};
  if (!isMap(value)) throw new NonRecoverableError(`${name} must be a map`);
  return value;
}

interface TemplateRun {
  template_file?: Value;
  params: Map;
  prerender?: Value;
  remove_calls?: Value;
  save_path?: Value;
  auth?: Value;
}

/**
 * The node's connection properties with the operation's `auth` input over them: as in Cloudify, it
 * may replace any of them (hosts...), and its user and password are the calls' basic auth.
 */
function connectionOf(nodeProperties: Map, auth: Value): Map {
  const { user, password, ...others } = isMap(auth) ? auth : {};
  const connection: Map = { ...nodeProperties, ...others };
  if (user !== undefined || password !== undefined)
    connection.auth = { user: user ?? '', password: password ?? '' };
  return connection;
}

/** Runs one template and stores its results in `store` (runtime properties). */
async function runAndSave(
  ctx: OperationContext,
  run: TemplateRun,
  nodeProperties: Map,
  store: Map,
): Promise<void> {
  const file = run.template_file;
  if (file === undefined || file === null || file === '') {
    ctx.logger.info('Processing finished. No template file provided.');
    return;
  }
  if (typeof file !== 'string')
    throw new NonRecoverableError('template_file must be a path in the blueprint');
  let template: string;
  try {
    template = (await ctx.getResource(file)).toString('utf8');
  } catch (error) {
    throw new NonRecoverableError(`template_file: ${(error as Error).message}`);
  }
  const params = { ...mapOf(nodeProperties.params, 'the params property'), ...run.params };
  const connection = connectionOf(nodeProperties, run.auth);
  // The node's template params are not URL parameters of its calls.
  delete connection.params;
  const results = await runTemplate(template, params, connection, {
    prerender: run.prerender === true,
    signal: ctx.signal,
    logger: ctx.logger,
    resources: {
      renderText: (text, variables) => {
        try {
          return ctx.renderTemplate(text, variables);
        } catch (error) {
          throw new NonRecoverableError((error as Error).message);
        }
      },
      render: async (path, variables) => {
        try {
          return await ctx.getResourceAndRender(path, variables);
        } catch (error) {
          throw new NonRecoverableError(`raw_payload: ${(error as Error).message}`);
        }
      },
    },
  });
  const saved: Map = run.remove_calls === true ? results.result_properties : { ...results };
  if (typeof run.save_path === 'string' && run.save_path !== '') {
    // A runtime property of that name would replace the prototype of the runtime properties.
    if (isPrototypeKey(run.save_path))
      throw new NonRecoverableError(`save_path: ${prototypeKeyReason(run.save_path)}`);
    store[run.save_path] = saved;
  } else Object.assign(store, saved);
}

function templateRun(inputs: Map, params: Map): TemplateRun {
  return {
    template_file: inputs.template_file,
    params,
    prerender: inputs.prerender,
    remove_calls: inputs.remove_calls,
    save_path: inputs.save_path,
    auth: inputs.auth,
  };
}

/** A node's REST calls: `template_file` rendered with `params`. No template file, nothing to do. */
export const execute = operation(async (ctx: OperationContext, inputs: Map) => {
  const runtime = ctx.instance.runtimeProperties;
  const params = { ...runtime, ...mapOf(inputs.params, 'params') };
  await runAndSave(ctx, templateRun(inputs, params), ctx.node.properties, runtime);
});

/** As execute, from a relationship: the source's properties, both ends' runtime properties as params. */
export const execute_as_relationship = operation(async (ctx: OperationContext, inputs: Map) => {
  if (!ctx.source || !ctx.target)
    throw new NonRecoverableError('execute_as_relationship runs on a relationship');
  const params = {
    ...ctx.target.instance.runtimeProperties,
    ...ctx.source.instance.runtimeProperties,
    ...mapOf(inputs.params, 'params'),
  };
  await runAndSave(
    ctx,
    templateRun(inputs, params),
    ctx.source.node.properties,
    ctx.source.instance.runtimeProperties,
  );
});

/** The value at a list-of-keys path in `from`, or null. */
function valueAt(from: Value, path: Value): Value {
  let value = from;
  for (const key of Array.isArray(path) ? path : [path]) {
    if (Array.isArray(value)) value = value[Number(key)];
    else if (isMap(value)) value = value[String(key)];
    else return null;
    if (value === undefined) return null;
  }
  return value;
}

/**
 * cloudify.rest.BunchRequests: `templates`, a list of {template_file, params, params_attributes,
 * prerender, save_to, remove_calls}, run in order. params_attributes names runtime properties (a
 * path each) to add to the params; the instance's runtime properties are not params otherwise.
 */
export const bunch_execute = operation(async (ctx: OperationContext, inputs: Map) => {
  const templates = inputs.templates ?? [];
  if (!Array.isArray(templates)) throw new NonRecoverableError('templates must be a list');
  if (templates.length === 0) ctx.logger.debug('No calls.');
  const runtime = ctx.instance.runtimeProperties;
  for (const entry of templates) {
    const template = mapOf(entry, 'each of templates');
    ctx.logger.info(`Processing: ${JSON.stringify(template.template_file ?? null)}`);
    const params = { ...mapOf(template.params, 'params') };
    for (const [name, path] of Object.entries(mapOf(template.params_attributes, 'params_attributes')))
      params[name] = valueAt(runtime, path);
    await runAndSave(
      ctx,
      { ...templateRun(template, params), save_path: template.save_to, auth: inputs.auth },
      ctx.node.properties,
      runtime,
    );
  }
});
