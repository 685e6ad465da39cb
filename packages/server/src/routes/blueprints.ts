/**
 * Blueprints: uploaded under a name (a YAML file, or a directory as tar.gz or zip), validated as
 * `weft validate` does, stored in the tenant's engine store by content hash; listed, shown,
 * downloaded as tar.gz, deleted when no deployment uses them.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { blueprintId } from '@weft/engine';
import { create as createTar } from 'tar';
import type { Static } from 'typebox';
import { Type } from 'typebox';
import {
  acceptUploads,
  archiveFiles,
  MAX_UPLOAD_BYTES,
  safeRelativePath,
  upload,
  withMainFile,
} from '../blueprints/archive.js';
import {
  blueprintDetails,
  keepStaged,
  problemViews,
  refuseOutside,
  stagingDir,
  storedBlueprintDir,
  validateBlueprint,
  withTopology,
  writeFiles,
} from '../blueprints/stored.js';
import type { Api, ServerContext } from '../context.js';
import { conflict, notFound, unprocessable } from '../errors.js';
import { Blueprint, BlueprintSummary, UploadedBlueprint } from '../schemas/blueprints.js';
import { AUTH_ERRORS, ErrorBody, IdParams } from '../schemas/common.js';
import { DuplicateError, InUseError, type NamedBlueprintRecord } from '../store/access.js';

const summaryView = (b: NamedBlueprintRecord): Static<typeof BlueprintSummary> => ({
  id: b.id,
  mainFile: b.mainFile,
  description: b.description,
  createdAt: b.createdAt,
  createdBy: b.createdBy,
});

const blueprintView = (b: NamedBlueprintRecord): Static<typeof Blueprint> => ({
  ...summaryView(b),
  ...b.details,
});

export async function blueprintRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access } = context;
  const read = async (tenant: string, id: string) => {
    const blueprint = await access.getBlueprint(tenant, id);
    if (!blueprint) throw notFound('blueprint', id);
    return blueprint;
  };

  acceptUploads(app as never);

  app.put(
    '/blueprints/:id',
    {
      config: { access: 'operator' },
      bodyLimit: MAX_UPLOAD_BYTES,
      schema: {
        tags: ['blueprints'],
        summary: 'Upload a blueprint: a YAML file, or its directory as tar.gz or zip',
        description:
          'The body is the YAML file (Content-Type application/yaml) or an archive of the directory (application/gzip for tar.gz, application/zip). The blueprint is validated as `weft validate` does: 422 lists every problem. Archives may hold only files and directories, at most 5000 entries unpacking to at most 100 MiB.',
        params: IdParams,
        querystring: Type.Object({
          main_file: Type.Optional(
            Type.String({
              maxLength: 500,
              description: 'the main file in the archive (default blueprint.yaml)',
            }),
          ),
          environment: Type.Optional(
            Type.Array(Type.String({ maxLength: 500 }), {
              maxItems: 100,
              description:
                "a HOT template's environment files in the archive (repeatable, merged in this order, as -e): the template is checked with them, as its resource types may be ones only an environment maps; they are not stored with it (the files they name are)",
            }),
          ),
        }),
        response: {
          201: UploadedBlueprint,
          409: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          422: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const { id } = request.params;
      const { kind, bytes } = upload(request.headers['content-type'], request.body, 'blueprint');
      if (await access.getBlueprint(tenant.name, id)) throw conflict(`blueprint '${id}' already exists`);
      const mainFile = safeRelativePath(request.query.main_file ?? 'blueprint.yaml', 'main_file');
      const files =
        kind === 'yaml'
          ? new Map([[mainFile, bytes]])
          : withMainFile(await archiveFiles(kind, bytes), mainFile);
      const environments = (request.query.environment ?? []).map((path) =>
        safeRelativePath(path, 'environment'),
      );
      const absent = environments.find((path) => !files.has(path) || path === mainFile);
      if (absent !== undefined)
        throw unprocessable(`environment '${absent}' is not an environment file in the upload`);
      const staged = stagingDir(tenant);
      try {
        writeFiles(staged, files);
        const staging = environments.map((path) => join(staged, path));
        refuseOutside(staged, staging);
        const { result, loader } = await validateBlueprint(context, tenant, join(staged, mainFile), staging);
        if (!result.problems.ok || !result.blueprint) {
          const problems = problemViews(result.problems.sorted(), staged, loader.imported);
          throw unprocessable(
            `the blueprint has ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}`,
            problems,
          );
        }
        // The environment files hold parameter values (hidden ones too) given again with each
        // deployment: they check the template and are not stored with it.
        for (const path of environments) {
          files.delete(path);
          rmSync(join(staged, path));
        }
        const record = {
          id: blueprintId(Object.fromEntries(files)),
          mainFile,
          files: Object.fromEntries(files),
          createdAt: new Date().toISOString(),
        };
        await tenant.store.putBlueprint(record);
        keepStaged(tenant, staged, record.id);
        const named: NamedBlueprintRecord = {
          tenant: tenant.name,
          id,
          contentId: record.id,
          mainFile,
          description: result.blueprint.description ?? null,
          createdBy: request.caller!.user.name,
          createdAt: record.createdAt,
          details: blueprintDetails(result.blueprint),
        };
        try {
          await access.putBlueprint(named);
        } catch (error) {
          if (error instanceof DuplicateError) throw conflict(`blueprint '${id}' already exists`);
          throw error;
        }
        return reply.status(201).send({
          ...blueprintView(named),
          warnings: problemViews(result.problems.warnings, staged, loader.imported),
        });
      } finally {
        rmSync(staged, { recursive: true, force: true });
      }
    },
  );

  app.get(
    '/blueprints',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['blueprints'],
        summary: "The tenant's blueprints",
        response: { 200: Type.Array(BlueprintSummary), ...AUTH_ERRORS },
      },
    },
    async (request) => (await access.listBlueprints(request.tenant!.name)).map(summaryView),
  );

  app.get(
    '/blueprints/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['blueprints'],
        summary: 'A blueprint: its inputs, nodes, workflows, outputs',
        params: IdParams,
        response: { 200: Blueprint, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const tenant = request.tenant!;
      return blueprintView(await withTopology(context, tenant, await read(tenant.name, request.params.id)));
    },
  );

  app.get(
    '/blueprints/:id/archive',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['blueprints'],
        summary: "The blueprint's files as a tar.gz",
        params: IdParams,
        response: {
          200: Type.Unsafe({ type: 'string', contentMediaType: 'application/gzip' }),
          404: ErrorBody,
          ...AUTH_ERRORS,
        },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const blueprint = await read(tenant.name, request.params.id);
      const dir = await storedBlueprintDir(tenant, blueprint.contentId);
      if (!dir) throw notFound('blueprint', request.params.id);
      const files = Object.keys((await tenant.store.getBlueprint(blueprint.contentId))!.files).sort();
      return reply
        .type('application/gzip')
        .header('content-disposition', `attachment; filename="${blueprint.id}.tar.gz"`)
        .send(createTar({ gzip: true, cwd: dir, portable: true }, files));
    },
  );

  app.delete(
    '/blueprints/:id',
    {
      config: { access: 'operator' },
      schema: {
        tags: ['blueprints'],
        summary: 'Delete a blueprint no deployment was created from',
        params: IdParams,
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const tenant = request.tenant!;
      const blueprint = await read(tenant.name, request.params.id);
      const inUse = async () => {
        const users = (await access.listDeployments(tenant.name, { blueprint: blueprint.id })).map(
          (d) => d.id,
        );
        return conflict(
          `blueprint '${blueprint.id}' is used by ${users.length} deployment(s): delete them first`,
          { deployments: users },
        );
      };
      if ((await access.listDeployments(tenant.name, { blueprint: blueprint.id })).length > 0)
        throw await inUse();
      try {
        if (!(await access.deleteBlueprint(tenant.name, blueprint.id)))
          throw notFound('blueprint', blueprint.id);
      } catch (error) {
        // A deployment was created from it since it was looked at.
        if (error instanceof InUseError) throw await inUse();
        throw error;
      }
      return reply.status(204).send(null);
    },
  );
}
