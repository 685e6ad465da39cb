/**
 * Deployments: created from a named blueprint and inputs (nothing runs: an execution does that),
 * listed with their status, shown, deleted, and their outputs evaluated from stored state.
 */
import { rmSync } from 'node:fs';
import {
  ACTIVE_EXECUTION_STATUSES,
  type BlueprintRecord,
  blueprintId,
  type DeploymentRecord,
  Diagnostics,
  deploymentChanges,
  deploymentStatus,
  describeChanges,
  type ExecutionRecord,
  evaluateOutputs,
  flattenedResources,
  heatStackState,
  isAdoptedStack,
  isLive,
  type Json,
  markForAdoption,
  modelOf,
  openDeployment,
  parseYaml,
  sealDeployment,
  type ValueMap,
} from '@weft/engine';
import { jsonEqual } from '@weft/sdk';
import type { Static } from 'typebox';
import { Type } from 'typebox';
import { archiveFiles, MAX_UPLOAD_BYTES, safeRelativePath, withMainFile } from '../blueprints/archive.js';
import {
  prepareIn,
  prepareStored,
  stagingDir,
  storedBlueprintDir,
  writeFiles,
} from '../blueprints/stored.js';
import type { Api, ServerContext } from '../context.js';
import { heldVersion, recordView } from '../deployment-views.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { tenantMasker } from '../masking.js';
import { AUTH_ERRORS, ErrorBody, IdParams, Name, Page, PageQuery } from '../schemas/common.js';
import { Deployment, DeploymentSummary } from '../schemas/deployments.js';
import { Environment } from '../schemas/environment.js';
import { AbandonData } from '../schemas/stack.js';
import { SharedReads } from '../shared-reads.js';
import { DuplicateError, MissingReferenceError, type NamedBlueprintRecord } from '../store/access.js';
import type { TenantState } from '../tenants.js';

const executionBrief = (e: ExecutionRecord | null) =>
  e && { id: e.id, workflow: e.workflow, status: e.status, createdAt: e.createdAt, endedAt: e.endedAt };

export async function deploymentRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;

  const read = async (tenant: TenantState, id: string) => {
    const deployment = await tenant.store.getDeployment(id);
    if (!deployment) throw notFound('deployment', id);
    return deployment;
  };

  /** The deployment as GET /deployments/:id shows it, from one read of the store. */
  const view = async (tenant: TenantState, id: string): Promise<Static<typeof Deployment>> => {
    const detail = await tenant.store.getDeploymentDetail(id, heldVersion(tenant, id));
    if (!detail) throw notFound('deployment', id);
    const { instanceCounts, lastExecution } = detail;
    const [shown, named] = await Promise.all([
      // A HOT template's hidden parameters are masked as secrets are.
      recordView(tenant, id, detail, () => tenantMasker(tenant, detail.secretsVersion)),
      access.getDeployment(tenant.name, id),
    ]);
    // Read for a HOT template's deployment only: the others are shown from one read.
    const stackStatus = shown.hot
      ? await Promise.all([tenant.store.listExecutions(id), tenant.store.listInstances(id)]).then(
          ([executions, instances]) => heatStackState(executions, isAdoptedStack(instances)),
        )
      : undefined;
    const instanceStates: Record<string, number> = {};
    const perNode = new Map<string, number>();
    for (const { node, state, count } of instanceCounts) {
      instanceStates[state] = (instanceStates[state] ?? 0) + count;
      perNode.set(node, (perNode.get(node) ?? 0) + count);
    }
    return {
      id,
      blueprintId: named?.blueprint ?? null,
      status: deploymentStatus(instanceStates, lastExecution),
      createdAt: shown.record.createdAt,
      createdBy: named?.createdBy ?? null,
      instanceStates,
      lastExecution: executionBrief(lastExecution),
      inputs: shown.inputs,
      nodes: shown.nodes.map((n) => ({ ...n, instances: perNode.get(n.id) ?? 0 })),
      ...(stackStatus !== undefined ? { stackStatus } : {}),
      workflows: shown.workflows,
    };
  };

  /**
   * Per tenant store: many clients reading one deployment at once share the queries (see
   * SharedReads). A view depends on the tenant only, not on who asks (its masking is the tenant's).
   */
  /** The JSON of the views sent so far (the serializer the response schema compiles, run once per view). */
  const written = new WeakMap<object, string>();
  const reads = new WeakMap<TenantState['store'], SharedReads<Static<typeof Deployment>>>();
  const sharedView = (tenant: TenantState, id: string) => {
    let shared = reads.get(tenant.store);
    if (!shared) reads.set(tenant.store, (shared = new SharedReads((key) => view(tenant, key))));
    return shared.get(id);
  };

  /**
   * Refuses (409, with what differs) to create again a deployment that exists from another
   * blueprint or other inputs, as `weft install` refuses it: a deployment is changed by an update.
   */
  const requireSameVersion = async (
    tenant: TenantState,
    stored: DeploymentRecord,
    blueprint: NamedBlueprintRecord,
    body: { inputs?: Record<string, unknown>; environment?: Static<typeof Environment> },
  ) => {
    // The blueprint as stored, every file of it, as the deployment refers to it.
    const files = await tenant.store.getBlueprint(blueprint.contentId);
    if (!files) throw notFound('blueprint', blueprint.id);
    const dir = await storedBlueprintDir(tenant, blueprint.contentId);
    if (!dir) throw notFound('blueprint', blueprint.id);
    await requireSameFiles(tenant, stored, dir, files, body);
  };

  /** As requireSameVersion, with the blueprint's files given (`record`) and written out in `dir`. */
  const requireSameFiles = async (
    tenant: TenantState,
    stored: DeploymentRecord,
    dir: string,
    files: BlueprintRecord,
    body: { inputs?: Record<string, unknown>; environment?: Static<typeof Environment> },
  ) => {
    // Compared with the inputs as given: a sealed value differs from the same value given again.
    const existing = openDeployment(stored, tenant.secrets.sealer());
    const prepared = await prepareIn(
      context,
      tenant,
      dir,
      { contentId: files.id, mainFile: files.mainFile },
      stored.id,
      { existing, given: body.inputs as ValueMap | undefined, mergeInputs: false },
      `deployment '${stored.id}' exists; the blueprint and inputs cannot be compared with it`,
      body.environment,
    );
    const changes = deploymentChanges(existing, await tenant.store.getBlueprint(existing.blueprintId), {
      ...prepared,
      blueprint: files,
    });
    if (changes)
      throw conflict(
        `deployment '${stored.id}' was created from another blueprint or other inputs (${describeChanges(changes).join('; ')}); update it with POST /deployments/${stored.id}/updates`,
        changes,
      );
  };

  /**
   * Refuses (422) to adopt abandon data with a blueprint that is not a HOT template, or that is
   * not the template the data holds (Heat adopts a stack with its abandon data's template), as
   * `weft install --adopt` does.
   */
  const refuseAdopt = async (
    tenant: TenantState,
    blueprint: NamedBlueprintRecord,
    prepared: DeploymentRecord,
    adopt: Static<typeof AbandonData>,
  ) => {
    if (modelOf(prepared.model).blueprint.heatTemplateVersion === undefined)
      throw unprocessable(
        `an adopt takes a HOT template (heat_template_version); blueprint '${blueprint.id}' is not one`,
      );
    if (adopt.template === undefined || adopt.template === null) return;
    const record = await tenant.store.getBlueprint(blueprint.contentId);
    const bytes = record?.files[record.mainFile];
    const parsed = bytes && parseYaml(new TextDecoder().decode(bytes), blueprint.mainFile, new Diagnostics());
    if (!jsonEqual(JSON.parse(JSON.stringify(parsed ?? null)) as Json, adopt.template as Json))
      throw unprocessable(
        `the stack was abandoned with another template than blueprint '${blueprint.id}' (${blueprint.mainFile}); Heat adopts a stack with the template of its abandon data: upload that one as the blueprint, or leave 'template' out of the data to adopt with this one`,
      );
  };

  app.put(
    '/deployments/:id',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary: 'Create a deployment of a blueprint with inputs (it runs nothing: start an install)',
        description:
          "Idempotent, as weft install is: when the deployment exists and the blueprint's files and the inputs (those not given: the deployment's) make what it was created from, it is answered unchanged (200); when they do not, 409 with the files, nodes and input names that differ in details (an update changes a deployment: POST /deployments/{id}/updates).",
        params: IdParams,
        body: Type.Object({
          blueprintId: Name,
          inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          environment: Type.Optional(Environment),
          adopt: Type.Optional({
            ...AbandonData,
            description:
              "a HOT stack's abandon data (POST /deployments/{id}/abandon): the new deployment's resources take over those of the data when the install creates them, as Heat's stack adopt (refused when the deployment exists, the blueprint is not a HOT template, or the data's template is another one)",
          }),
        }),
        response: {
          200: Deployment,
          201: Deployment,
          404: ErrorBody,
          409: ErrorBody,
          422: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const { id } = request.params;
      const blueprint = await access.getBlueprint(tenant.name, request.body.blueprintId);
      if (!blueprint) throw notFound('blueprint', request.body.blueprintId);
      const { adopt } = request.body;
      const present = await tenant.store.getDeployment(id);
      if (present && adopt)
        throw conflict(`deployment '${id}' exists; an adopt creates a new stack (give it another id)`);
      if (present) {
        await requireSameVersion(tenant, present, blueprint, request.body);
        return reply.status(200).send(await view(tenant, id));
      }
      // The name is taken first, so that the blueprint cannot be deleted while it is being deployed.
      try {
        await access.createDeployment({
          tenant: tenant.name,
          id,
          blueprint: blueprint.id,
          createdBy: request.caller!.user.name,
          createdAt: new Date().toISOString(),
        });
      } catch (error) {
        if (error instanceof DuplicateError) throw conflict(`deployment '${id}' already exists`);
        if (error instanceof MissingReferenceError) throw notFound('blueprint', blueprint.id);
        throw error;
      }
      let deployment: DeploymentRecord;
      try {
        const prepared = await prepareStored(
          context,
          tenant,
          blueprint,
          id,
          { inputs: (request.body.inputs ?? {}) as ValueMap },
          'the deployment cannot be created',
          request.body.environment,
        );
        if (adopt) await refuseAdopt(tenant, blueprint, prepared.deployment, adopt);
        deployment = sealDeployment(prepared.deployment, tenant.secrets.sealer());
        await tenant.store.createDeployment(deployment, prepared.instances);
        if (adopt)
          await markForAdoption(
            tenant.store,
            id,
            flattenedResources(adopt.resources as Record<string, Json>),
          );
      } catch (error) {
        await access.deleteDeployment(tenant.name, id);
        throw error;
      }
      return reply.status(201).send(await view(tenant, deployment.id));
    },
  );

  app.get(
    '/deployments',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary: "The tenant's deployments with their status, a page at a time",
        querystring: Type.Object({ blueprintId: Type.Optional(Name), ...PageQuery }),
        response: { 200: Page(DeploymentSummary), ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const { blueprintId: blueprint, offset = 0, size = 100 } = request.query;
      const named = new Map((await access.listDeployments(tenant.name)).map((d) => [d.id, d]));
      const all = (await tenant.store.listDeploymentSummaries()).filter(
        (d) => blueprint === undefined || named.get(d.id)?.blueprint === blueprint,
      );
      return {
        items: all.slice(offset, offset + size).map((d) => ({
          id: d.id,
          blueprintId: named.get(d.id)?.blueprint ?? null,
          status: deploymentStatus(d.instanceStates, d.lastExecution),
          createdAt: d.createdAt,
          createdBy: named.get(d.id)?.createdBy ?? null,
          instanceStates: d.instanceStates as Record<string, number>,
          lastExecution: executionBrief(d.lastExecution),
        })),
        total: all.length,
        offset,
        size,
      };
    },
  );

  app.post(
    '/deployments/:id/compare',
    {
      config: { access: 'operator' },
      // The archive as base64 in the JSON, and a MiB for the rest.
      bodyLimit: Math.ceil((MAX_UPLOAD_BYTES * 4) / 3) + 1024 * 1024,
      schema: {
        tags: ['deployments'],
        summary:
          'Whether a blueprint (sent with the request, stored nowhere) and inputs make what the deployment was created from',
        description:
          "What PUT /deployments/{id} of a deployment that exists answers, without uploading the blueprint first: 200 when the blueprint's files and the inputs (those not given: the deployment's) make what it was created from; 409 with the files, nodes and input names that differ in details; 422 with the blueprint's problems. Nothing is stored: `weft install` of a deployment that exists asks this.",
        params: IdParams,
        body: Type.Object({
          archive: Type.String({
            contentEncoding: 'base64',
            description: "the blueprint's directory as a tar.gz (or zip: kind), base64",
          }),
          kind: Type.Optional(Type.Union([Type.Literal('tar.gz'), Type.Literal('zip')])),
          mainFile: Type.Optional(
            Type.String({
              maxLength: 500,
              description: 'the main file in the archive (default blueprint.yaml)',
            }),
          ),
          environmentFiles: Type.Optional(
            Type.Array(Type.String({ maxLength: 500 }), {
              maxItems: 100,
              description:
                "a HOT template's environment files in the archive, as an upload's `environment` names them: left out of the blueprint compared (the files they name are not)",
            }),
          ),
          inputs: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          environment: Type.Optional(Environment),
        }),
        response: {
          200: Type.Object({ same: Type.Literal(true) }),
          404: ErrorBody,
          409: ErrorBody,
          413: ErrorBody,
          422: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const stored = await read(tenant, request.params.id);
      const mainFile = safeRelativePath(request.body.mainFile ?? 'blueprint.yaml', 'mainFile');
      const files = withMainFile(
        await archiveFiles(request.body.kind ?? 'tar.gz', Buffer.from(request.body.archive, 'base64')),
        mainFile,
      );
      // As an upload leaves them out of the blueprint it stores.
      for (const path of request.body.environmentFiles ?? [])
        files.delete(safeRelativePath(path, 'environment'));
      const record: BlueprintRecord = {
        id: blueprintId(Object.fromEntries(files)),
        mainFile,
        files: Object.fromEntries(files),
        createdAt: new Date().toISOString(),
      };
      // Written out only while it is compared: nothing is left of it.
      const staged = stagingDir(tenant);
      try {
        writeFiles(staged, files);
        await requireSameFiles(tenant, stored, staged, record, request.body);
      } finally {
        rmSync(staged, { recursive: true, force: true });
      }
      return { same: true as const };
    },
  );

  app.get(
    '/deployments/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary: 'A deployment: status, inputs (secrets masked), nodes, workflows',
        params: IdParams,
        response: { 200: Deployment, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const shown = await sharedView(request.tenant!, request.params.id);
      // A view shared by many requests is written out once (it is not changed once made).
      const serialize = reply.getSerializationFunction('200')!;
      return reply
        .type('application/json; charset=utf-8')
        .serializer((view: Record<string, unknown>) => {
          let json = written.get(view);
          if (json === undefined) written.set(view, (json = serialize(view)));
          return json;
        })
        .send(shown);
    },
  );

  app.delete(
    '/deployments/:id',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['deployments'],
        summary: 'Delete a deployment that runs nothing and has no live instances (or ?force=true)',
        params: IdParams,
        querystring: Type.Object({
          force: Type.Optional(
            Type.Boolean({ description: 'delete it even with live instances (they are left as they are)' }),
          ),
        }),
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const active = (await tenant.store.listExecutions(deployment.id)).find((e) =>
        ACTIVE_EXECUTION_STATUSES.includes(e.status),
      );
      if (active)
        throw conflict(
          `deployment '${deployment.id}' has a running execution ${active.id} (${active.workflow}): wait for it or cancel it`,
          { execution: active.id },
        );
      const live = (await tenant.store.listInstances(deployment.id)).filter((i) => isLive(i.state));
      if (live.length > 0 && request.query.force !== true)
        throw conflict(
          `deployment '${deployment.id}' has ${live.length} live node instance(s): uninstall it first, or delete it with ?force=true`,
          { liveInstances: live.map((i) => i.id) },
        );
      await tenant.store.deleteDeployment(deployment.id);
      await access.deleteDeployment(tenant.name, deployment.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/deployments/:id/outputs',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['deployments'],
        summary: "A deployment's outputs and capabilities, evaluated from its stored state (secrets masked)",
        params: IdParams,
        response: {
          200: Type.Object({
            deploymentId: Type.String(),
            outputs: Type.Record(Type.String(), Type.Unknown()),
            capabilities: Type.Record(Type.String(), Type.Unknown()),
          }),
          404: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      const deployment = await read(tenant, request.params.id);
      const secrets = await tenant.secrets.all();
      return {
        deploymentId: deployment.id,
        outputs: await evaluateOutputs(tenant.store, deployment.id, secrets),
        capabilities: await evaluateOutputs(tenant.store, deployment.id, secrets, 'capabilities'),
      };
    },
  );
}
