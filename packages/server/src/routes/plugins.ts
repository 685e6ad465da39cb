/**
 * Plugins: uploaded as a packaged archive (tar.gz, tar or zip of the plugin's directory, as
 * `npm pack` or `tar czf` make it), checked as `weft plugins install` checks a directory, stored
 * in the database for every server process sharing it; listed with those of the server's plugin
 * directories, shown, deleted. Plugins are the server's, not a tenant's (their code runs for every
 * tenant): uploading and deleting one needs a superuser.
 */
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  type DeploymentModel,
  type DiscoveredPlugin,
  PLUGIN_CODE_PROBLEMS,
  PluginSet,
  readPlugin,
  runsInstalled,
  validatePluginCode,
} from '@weft/engine';
import type { Static } from 'typebox';
import { Type } from 'typebox';
import { acceptUploads, MAX_UPLOAD_BYTES, upload } from '../blueprints/archive.js';
import { problemViews } from '../blueprints/stored.js';
import type { Api, ServerContext } from '../context.js';
import { ApiError, conflict, notFound, unprocessable } from '../errors.js';
import { unpackPlugin } from '../plugins.js';
import { AUTH_ERRORS, ErrorBody } from '../schemas/common.js';
import { Plugin } from '../schemas/plugins.js';
import { DuplicateError, type StoredPluginRecord } from '../store/access.js';

/** Plugin names: also directory names. */
const PLUGIN_NAME = '^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$';

const NameParams = Type.Object({ name: Type.String({ pattern: PLUGIN_NAME }) });

function pluginView(
  plugin: DiscoveredPlugin,
  uploaded: StoredPluginRecord | undefined,
  uploadDir: string,
): Static<typeof Plugin> {
  const isUploaded = uploaded !== undefined && plugin.searchDir === uploadDir;
  return {
    name: plugin.name,
    version: plugin.version ?? null,
    packageName: plugin.packageName ?? null,
    format: plugin.format,
    source: isUploaded ? 'uploaded' : 'directory',
    uploadedBy: isUploaded ? uploaded.uploadedBy : null,
    uploadedAt: isUploaded ? uploaded.uploadedAt : null,
    sha256: isUploaded ? uploaded.sha256 : null,
    usable: plugin.problems.length === 0,
    problems: plugin.problems.map((problem) => ({ code: problem.code, message: problem.message })),
  };
}

export async function pluginRoutes(app: Api, context: ServerContext): Promise<void> {
  const { access, plugins } = context;

  /** Every plugin the server has, the uploaded ones first, with their upload records. */
  const all = async () => {
    const set = await plugins.sync();
    const uploaded = new Map((await access.listPlugins()).map((p) => [p.name, p]));
    return set.plugins.map((p) => pluginView(p, uploaded.get(p.name), plugins.uploadDir));
  };

  /** Deployments of any tenant whose operations run plugin `name` from the installed plugins. */
  const usersOf = async (name: string): Promise<string[]> => {
    const users: string[] = [];
    for (const { name: tenantName } of await access.listTenants()) {
      const tenant = await context.tenants.get(tenantName);
      for (const deployment of await tenant.store.listDeployments()) {
        const declared = (deployment.model as unknown as DeploymentModel | null)?.plugins?.[name];
        if (declared && runsInstalled(declared.source))
          users.push(`deployment '${deployment.id}' of tenant '${tenantName}'`);
      }
    }
    return users;
  };

  app.get(
    '/plugins',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['plugins'],
        summary:
          'The plugins blueprints can use: uploaded ones, then those of the server’s plugin directories',
        response: { 200: Type.Array(Plugin), ...AUTH_ERRORS },
      },
    },
    async () => all(),
  );

  app.get(
    '/plugins/:name',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['plugins'],
        summary: 'One plugin (the one blueprints get when there are several versions)',
        params: NameParams,
        response: { 200: Plugin, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const found = (await all()).find((p) => p.name === request.params.name);
      if (!found) throw notFound('plugin', request.params.name);
      return found;
    },
  );

  await app.register(async (scope) => {
    acceptUploads(scope as never);
    (scope as unknown as Api).post(
      '/plugins',
      {
        config: { access: 'superuser' },
        bodyLimit: MAX_UPLOAD_BYTES,
        schema: {
          tags: ['plugins'],
          summary: 'Upload a plugin: its directory packaged as tar.gz, tar or zip',
          description:
            'The body is the archive (Content-Type application/gzip, application/x-tar or application/zip), e.g. what `npm pack` makes; its plugin.yaml or plugin.json is at its top or in its only directory. It is checked as `weft plugins install` checks a directory: its definition, its types, its entry module loads and exports the functions its types name (422 lists every problem). An archive must bring its npm dependencies (node_modules, or bundleDependencies): the server installs none. 409 when a plugin of that name was uploaded, unless ?force=true replaces it.',
          querystring: Type.Object({
            force: Type.Optional(
              Type.Boolean({ description: 'replace an uploaded plugin of the same name' }),
            ),
          }),
          response: {
            201: Plugin,
            409: ErrorBody,
            413: ErrorBody,
            415: ErrorBody,
            422: ErrorBody,
            ...AUTH_ERRORS,
          },
        },
      },
      async (request, reply) => {
        const { kind, bytes } = upload(request.headers['content-type'], request.body, 'plugin archive');
        if (kind === 'yaml')
          throw new ApiError(
            415,
            'unsupported_media_type',
            "send the plugin's directory as an archive (application/gzip, application/x-tar or application/zip)",
          );
        const staged = plugins.stagingDir();
        try {
          await unpackPlugin(kind, bytes, staged);
          const plugin = readPlugin(staged);
          if (!plugin)
            throw unprocessable(
              'the archive holds no plugin.yaml or plugin.json (at its top, or in its only directory)',
            );
          const refuse = (problems: typeof plugin.problems) => {
            const views = problemViews(problems, staged, new Map());
            return unprocessable(
              `plugin '${plugin.name}' cannot be installed: ${views.map((v) => `${v.file ?? ''}${v.line ? `:${v.line}:${v.column ?? 1}` : ''} ${v.message}`.trim()).join('; ')}`,
              views,
            );
          };
          if (!new RegExp(PLUGIN_NAME).test(plugin.name))
            throw unprocessable(`'${plugin.name}' is not a plugin name (letters, digits, _ and -)`);
          if (plugin.problems.length > 0) throw refuse(plugin.problems);
          const others = (await plugins.sync()).plugins.filter((p) => p.name !== plugin.name);
          const code = (await validatePluginCode(plugin, new PluginSet([plugin, ...others]))).filter((p) =>
            PLUGIN_CODE_PROBLEMS.has(p.code),
          );
          if (code.length > 0) throw refuse(code);
          const record: StoredPluginRecord = {
            name: plugin.name,
            version: plugin.version ?? null,
            sha256: createHash('sha256').update(bytes).digest('hex'),
            kind,
            size: bytes.length,
            uploadedBy: request.caller!.user.name,
            uploadedAt: new Date().toISOString(),
          };
          try {
            await access.putPlugin(record, bytes, request.query.force === true);
          } catch (error) {
            if (error instanceof DuplicateError)
              throw conflict(
                `plugin '${plugin.name}' was uploaded already; delete it first, or upload with ?force=true to replace it`,
              );
            throw error;
          }
          await plugins.place(plugin.name, staged, record.sha256);
          const placed = (await plugins.sync()).plugins.find(
            (p) => p.name === plugin.name && p.searchDir === plugins.uploadDir,
          )!;
          return reply.status(201).send(pluginView(placed, record, plugins.uploadDir));
        } finally {
          rmSync(staged, { recursive: true, force: true });
        }
      },
    );
  });

  app.delete(
    '/plugins/:name',
    {
      config: { access: 'superuser' },
      schema: {
        tags: ['plugins'],
        summary: 'Delete an uploaded plugin no deployment uses (or ?force=true)',
        params: NameParams,
        querystring: Type.Object({
          force: Type.Optional(
            Type.Boolean({
              description: 'delete it even while deployments use it (their operations then fail)',
            }),
          ),
        }),
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      if (!(await access.listPlugins()).some((p) => p.name === name)) {
        if ((await plugins.sync()).find(name))
          throw conflict(
            `plugin '${name}' is in one of the server's plugin directories, which the API does not manage`,
          );
        throw notFound('plugin', name);
      }
      if (request.query.force !== true) {
        const users = await usersOf(name);
        if (users.length > 0)
          throw conflict(
            `plugin '${name}' is still used by ${users.join(', ')}; delete those deployments first, or use ?force=true`,
            { usedBy: users },
          );
      }
      await access.deletePlugin(name);
      await plugins.sync();
      return reply.status(204).send(null);
    },
  );
}
