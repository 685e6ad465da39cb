/**
 * Stored blueprints as the engine reads them: each one's files written out once under the tenant's
 * blueprints directory (by content hash, so a directory never changes), loaded with the server's
 * plugins and with `NS--blueprint:ID` imports resolved to the tenant's stored blueprints.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import {
  type Blueprint,
  type BlueprintReader,
  CONTAINED_IN,
  checkPluginFunctions,
  type DeploymentRecord,
  environmentFiles,
  fileSystemReader,
  type LoadResult,
  listedWorkflows,
  loadBlueprint,
  type PluginSet,
  type PreparedDeployment,
  type Problem,
  type PropertySchema,
  prepareDeployment,
  prepareUpdateVersion,
  type ValueMap,
  workflowModels,
} from '@weft/engine';
import type { Static } from 'typebox';
import type { ServerContext } from '../context.js';
import { notFound, unprocessable } from '../errors.js';
import type { Environment } from '../schemas/environment.js';
import type { BlueprintDetails, NamedBlueprintRecord, ParameterDetails } from '../store/access.js';
import type { TenantState } from '../tenants.js';
import { safeRelativePath } from './archive.js';

/** Writes files (relative path -> content) into a directory that does not exist yet. */
export function writeFiles(dir: string, files: Iterable<[string, Uint8Array]>): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [path, content] of files) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, content, { mode: 0o600 });
  }
}

/** A new, empty directory beside the stored blueprints, for an upload being checked. */
export function stagingDir(tenant: TenantState): string {
  const dir = join(tenant.blueprintsDir, `.upload-${randomBytes(8).toString('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Moves a checked upload into place as the files of blueprint `contentId`; when they are already
 * there (the same files were uploaded before), the upload is dropped.
 */
export function keepStaged(tenant: TenantState, staged: string, contentId: string): string {
  const dir = join(tenant.blueprintsDir, contentId);
  try {
    renameSync(staged, dir);
  } catch (error) {
    if (!['EEXIST', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    rmSync(staged, { recursive: true, force: true });
  }
  return dir;
}

/**
 * The directory holding stored blueprint `contentId`'s files, written out from the engine store
 * when this machine does not have them yet. Undefined when the store has no such blueprint.
 */
export async function storedBlueprintDir(
  tenant: TenantState,
  contentId: string,
): Promise<string | undefined> {
  const dir = join(tenant.blueprintsDir, contentId);
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return dir;
  const record = await tenant.store.getBlueprint(contentId);
  if (!record) return undefined;
  const staged = stagingDir(tenant);
  writeFiles(staged, Object.entries(record.files));
  return keepStaged(tenant, staged, contentId);
}

export interface StoredLoader {
  /** Runs `load` with a reader whose `blueprint:ID` imports find the tenant's stored blueprints. */
  load<T>(load: (reader: BlueprintReader) => T): Promise<T>;
  /** The named blueprints imported, by the directory their files are in. */
  imported: Map<string, string>;
  plugins: PluginSet;
}

/**
 * Loading is synchronous and stored blueprints are read asynchronously: the blueprint is loaded,
 * the stored blueprints it asked for and did not get are fetched, and it is loaded again, until it
 * asks for none it has not been given (each round adds at least one, so this ends).
 */
export async function storedLoader(context: ServerContext, tenant: TenantState): Promise<StoredLoader> {
  const plugins = await context.plugins.sync();
  const mainFiles = new Map<string, string | undefined>();
  const imported = new Map<string, string>();
  return {
    plugins,
    imported,
    async load(load) {
      for (;;) {
        const wanted = new Set<string>();
        const reader = fileSystemReader({
          resolvePlugin: plugins.resolvePlugin,
          // A HOT template's resource types are found among the plugins' node types, as locally.
          pluginNames: () => [...new Set(plugins.plugins.map((p) => p.name))],
          resolveBlueprint: (id) => {
            if (mainFiles.has(id)) return mainFiles.get(id);
            wanted.add(id);
            return undefined;
          },
        });
        const result = load(reader);
        if (wanted.size === 0) return result;
        for (const id of wanted) {
          const named = await context.access.getBlueprint(tenant.name, id);
          const dir = named && (await storedBlueprintDir(tenant, named.contentId));
          mainFiles.set(id, dir && join(dir, named.mainFile));
          if (dir) imported.set(dir, id);
        }
      }
    },
  };
}

/**
 * Validates a blueprint as `weft validate` does (with a HOT template's environment files, as -e):
 * every problem at once; plugins that are not installed and secrets the tenant does not hold are
 * warnings.
 */
export async function validateBlueprint(
  context: ServerContext,
  tenant: TenantState,
  mainFile: string,
  environments: string[] = [],
): Promise<{ result: LoadResult; loader: StoredLoader }> {
  const loader = await storedLoader(context, tenant);
  const result = await loader.load((reader) =>
    loadBlueprint(mainFile, {
      reader,
      deploymentId: 'validate',
      validateOnly: true,
      ...(environments.length > 0 ? { environments } : {}),
    }),
  );
  const blueprint = result.blueprint;
  if (blueprint) {
    const declared = Object.fromEntries(
      [...blueprint.plugins.values()].map((p) => [
        p.name,
        p.packageVersion !== undefined ? { packageVersion: p.packageVersion } : {},
      ]),
    );
    await checkPluginFunctions(
      blueprint,
      loader.plugins.entriesFor({ plugins: declared }),
      result.problems,
      'warn',
    );
    const stored = new Set((await tenant.store.listSecrets()).map((s) => s.key));
    for (const { name, at, path } of blueprint.secretReferences.values())
      if (!stored.has(name))
        result.problems.warn(
          'missing-secret',
          at,
          path,
          `get_secret: no secret '${name}' in tenant '${tenant.name}'; set it before installing (PUT /secrets/${name})`,
        );
  }
  return { result, loader };
}

/** A problem as the API reports it: files relative to the blueprint, no server paths. */
export interface ProblemView {
  code: string;
  file: string | null;
  line: number | null;
  column: number | null;
  path: string;
  message: string;
}

/** How a problem's file among a request's environment files is named: this, then its path as sent. */
const ENVIRONMENT_PREFIX = 'environment:';

/**
 * Problems with their files named as the uploader knows them: relative to the blueprint's
 * directory, `blueprint:ID/FILE` in an imported stored blueprint, `environment:FILE` among the
 * environment files sent with the request, else the file's name alone (the standard library, a
 * plugin's types).
 */
export function problemViews(
  problems: Problem[],
  root: string,
  imported: Map<string, string>,
  environmentDir?: string,
): ProblemView[] {
  // The environment's directory first: it may be inside the blueprint's.
  const places: [string, string][] = [
    ...(environmentDir ? [[environmentDir, ENVIRONMENT_PREFIX] as [string, string]] : []),
    [root, ''],
    ...[...imported].map(([dir, id]): [string, string] => [dir, `blueprint:${id}/`]),
  ];
  const shown = (file: string): string => {
    for (const [dir, prefix] of places) {
      const rel = relative(dir, file);
      if (!rel.startsWith('..') && !rel.startsWith(sep)) return `${prefix}${rel}`;
    }
    return file.split(sep).pop() ?? file;
  };
  const scrub = (message: string) =>
    places.reduce((text, [dir, prefix]) => text.split(`${dir}${sep}`).join(prefix), message);
  return problems.map((p) => ({
    code: p.code,
    file: p.file !== undefined ? shown(p.file) : null,
    line: p.line ?? null,
    column: p.col ?? null,
    path: p.path,
    message: scrub(p.message),
  }));
}

function parameter(schema: PropertySchema): ParameterDetails {
  return {
    name: schema.name,
    type: schema.type ?? null,
    description: schema.description ?? null,
    required: schema.required && !schema.hasDefault,
    ...(schema.hasDefault ? { default: schema.default ?? null } : {}),
    constraints: schema.constraints.map((c) => ({ name: c.name, argument: c.argument })),
  };
}

/**
 * The blueprint with the links its topology is drawn from: a blueprint stored by a server that
 * did not record them (containedIn, relationships) has its details worked out again from its
 * files, once, and stored. One that no longer loads (a plugin gone) is shown as it was stored.
 */
export async function withTopology(
  context: ServerContext,
  tenant: TenantState,
  blueprint: NamedBlueprintRecord,
): Promise<NamedBlueprintRecord> {
  if (blueprint.details.nodes.every((node) => node.containedIn !== undefined)) return blueprint;
  const dir = await storedBlueprintDir(tenant, blueprint.contentId);
  if (!dir) return blueprint;
  const { result } = await validateBlueprint(context, tenant, join(dir, blueprint.mainFile));
  if (!result.blueprint) return blueprint;
  const details = blueprintDetails(result.blueprint);
  await context.access.setBlueprintDetails(tenant.name, blueprint.id, details);
  return { ...blueprint, details };
}

/** What a blueprint declares, for those who will deploy it. */
export function blueprintDetails(blueprint: Blueprint): BlueprintDetails {
  const described = (defs: Map<string, { name: string; description?: string }>) =>
    [...defs.values()].map((d) => ({ name: d.name, description: d.description ?? null }));
  return {
    dslVersion: blueprint.version,
    inputs: [...blueprint.inputs.values()].map(parameter),
    // With the links the topology is drawn from: what the parser resolved (imports, namespaces,
    // derived relationship types), which the blueprint's main file alone does not tell.
    nodes: [...blueprint.nodeTemplates.values()].map((n) => {
      const host = n.relationships.find((r) => r.hierarchy.includes(CONTAINED_IN));
      return {
        name: n.name,
        type: n.type,
        typeHierarchy: n.hierarchy,
        containedIn: host?.target ?? null,
        relationships: n.relationships
          .filter((r) => r !== host)
          .map((r) => ({ type: r.type, target: r.target })),
      };
    }),
    // The parameters the engine takes, as a deployment of it lists them.
    workflows: listedWorkflows({ workflows: workflowModels(blueprint) }).map(
      ({ name: workflow, parameters }) => ({
        name: workflow,
        parameters: Object.entries(parameters).map(([name, p]) => ({
          name,
          type: p.type ?? null,
          description: p.description ?? null,
          required: p.required,
          ...(p.default !== undefined ? { default: p.default } : {}),
          constraints: (blueprint.workflows.get(workflow)?.parameters.get(name)?.constraints ?? []).map(
            (c) => ({
              name: c.name,
              argument: c.argument,
            }),
          ),
        })),
      }),
    ),
    outputs: described(blueprint.outputs),
    capabilities: described(blueprint.capabilities),
    plugins: [...blueprint.plugins.keys()],
  };
}

/** A request's environment written out to load the blueprint with; removed once loaded. */
interface StagedEnvironment {
  dir: string;
  /** The environment files, absolute, in the order they are merged. */
  paths: string[];
}

/**
 * Refuses (422) environments that name files outside `dir` (an absolute path, a `..`): the server
 * reads no file of its own on a request's behalf.
 */
export function refuseOutside(dir: string, environments: string[]): void {
  const outside = environmentFiles(environments, fileSystemReader(), dir).named.filter((file) =>
    relative(dir, file).startsWith('..'),
  );
  if (outside.length > 0)
    throw unprocessable(
      `the environment names files it was not sent with: ${outside.map((file) => relative(dir, file)).join(', ')} (name files next to the environment, relative to it)`,
    );
}

/**
 * Writes a request's environment files, with paths that stay in it, into a new directory inside
 * the stored blueprint's (removed once loaded; nothing lists that directory, the store lists its
 * files): the templates the environment names read files next to them with get_file as the main
 * template's directory allows it, as when the environment is in the blueprint's directory locally.
 */
function stageEnvironment(blueprintDir: string, environment: Static<typeof Environment>): StagedEnvironment {
  const files = Object.entries(environment.files).map(([path, content]): [string, Uint8Array] => [
    safeRelativePath(path, 'environment.files'),
    Buffer.from(content, 'base64'),
  ]);
  const names = new Set(files.map(([path]) => path));
  const order = environment.order.map((path) => safeRelativePath(path, 'environment.order'));
  const missing = order.find((path) => !names.has(path));
  if (missing !== undefined)
    throw unprocessable(`environment.order: '${missing}' is not among environment.files`);
  const dir = join(blueprintDir, `.environment-${randomBytes(8).toString('hex')}`);
  const staged = { dir, paths: order.map((path) => join(dir, path)) };
  try {
    writeFiles(dir, files);
    refuseOutside(dir, staged.paths);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return staged;
}

/** What a stored blueprint is planned with: inputs as they are, or those of an update of a deployment. */
export type StoredInputs =
  | { inputs: ValueMap }
  | {
      /** The deployment updated, its sealed values opened. */
      existing: DeploymentRecord;
      /** The inputs given for the update: chosen with the deployment's as `weft update` chooses them. */
      given: ValueMap | undefined;
      /**
       * Whether those given are merged over the deployment's (an update, the default) or replace
       * them (install's comparison with what the deployment was created from).
       */
      mergeInputs?: boolean;
    };

/**
 * Plans a deployment of a stored blueprint with inputs (and a HOT template's environment), as
 * creating it or updating it to that blueprint does: the deployment refers to the blueprint as
 * uploaded (every file of it, scripts and resources included), not only to the files its plan
 * read. Bad inputs or a blueprint that no longer loads are a 422 with every problem.
 */
export async function prepareStored(
  context: ServerContext,
  tenant: TenantState,
  blueprint: NamedBlueprintRecord,
  deploymentId: string,
  inputs: StoredInputs,
  refusal: string,
  environment?: Static<typeof Environment>,
): Promise<PreparedDeployment & { hidden?: string[] }> {
  const dir = await storedBlueprintDir(tenant, blueprint.contentId);
  if (!dir) throw notFound('blueprint', blueprint.id);
  return prepareIn(context, tenant, dir, blueprint, deploymentId, inputs, refusal, environment);
}

/**
 * As {@link prepareStored}, from the blueprint's files in `dir` (a stored blueprint's, or an
 * upload's staging directory: its problems are then by paths in the upload).
 */
export async function prepareIn(
  context: ServerContext,
  tenant: TenantState,
  dir: string,
  blueprint: Pick<NamedBlueprintRecord, 'contentId' | 'mainFile'>,
  deploymentId: string,
  inputs: StoredInputs,
  refusal: string,
  environment?: Static<typeof Environment>,
): Promise<PreparedDeployment & { hidden?: string[] }> {
  const loader = await storedLoader(context, tenant);
  const staged = environment ? stageEnvironment(dir, environment) : undefined;
  try {
    const blueprintPath = join(dir, blueprint.mainFile);
    const environments = staged ? { environments: staged.paths } : {};
    const { problems, prepared } = await loader.load((reader) => {
      if ('inputs' in inputs)
        return prepareDeployment({
          reader,
          blueprintPath,
          deploymentId,
          inputs: inputs.inputs,
          ...environments,
        });
      // The same choice of inputs (and refusal of immutable parameters) as the local update's.
      const checked = loadBlueprint(blueprintPath, {
        reader,
        deploymentId,
        validateOnly: true,
        ...environments,
      });
      if (!checked.blueprint || !checked.problems.ok) return { problems: checked.problems };
      return prepareUpdateVersion({
        reader,
        blueprintPath,
        existing: inputs.existing,
        checked,
        given: inputs.given,
        mergeInputs: inputs.mergeInputs ?? true,
        ...environments,
      });
    });
    if (!prepared) {
      const views = problemViews(problems.sorted(), dir, loader.imported, staged?.dir);
      throw unprocessable(
        `${refusal}: ${views.length} ${views.length === 1 ? 'problem' : 'problems'}`,
        views,
      );
    }
    return { ...prepared, deployment: { ...prepared.deployment, blueprintId: blueprint.contentId } };
  } finally {
    if (staged) rmSync(staged.dir, { recursive: true, force: true });
  }
}
