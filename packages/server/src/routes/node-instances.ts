/** Node instances: their state and runtime properties (secret values masked). */
import type { Json, Masker, NodeInstanceRecord } from '@weft/engine';
import type { Static } from 'typebox';
import { Type } from 'typebox';
import type { Api, ServerContext } from '../context.js';
import { notFound } from '../errors.js';
import { tenantMasker } from '../masking.js';
import { AUTH_ERRORS, ErrorBody, IdParams, Name, Page, PageQuery } from '../schemas/common.js';
import { NodeInstance } from '../schemas/deployments.js';

function instanceView(i: NodeInstanceRecord, masker: Masker): Static<typeof NodeInstance> {
  const relationships = Array.isArray(i.relationships) ? (i.relationships as Record<string, Json>[]) : [];
  return {
    id: i.id,
    deploymentId: i.deploymentId,
    node: i.node,
    index: i.index,
    state: i.state,
    runtimeProperties: masker.maskJson(i.runtimeProperties) as Record<string, Json>,
    version: i.version,
    containedIn: i.containedIn,
    hostId: i.hostId,
    relationships: relationships.map((r) => ({
      type: String(r.type),
      target: String(r.target),
      targetId: String(r.targetId),
    })),
  };
}

export async function nodeInstanceRoutes(app: Api, _context: ServerContext): Promise<void> {
  app.get(
    '/node-instances',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['node instances'],
        summary: "Node instances, of one deployment or all the tenant's, a page at a time",
        querystring: Type.Object({
          deploymentId: Type.Optional(Name),
          nodeId: Type.Optional(Type.String({ maxLength: 200 })),
          ...PageQuery,
        }),
        response: { 200: Page(NodeInstance), 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const { store } = request.tenant!;
      const { deploymentId, nodeId: node, offset = 0, size = 100 } = request.query;
      let deployments: string[];
      if (deploymentId !== undefined) {
        if (!(await store.getDeployment(deploymentId))) throw notFound('deployment', deploymentId);
        deployments = [deploymentId];
      } else deployments = (await store.listDeploymentSummaries()).map((d) => d.id);
      const all: NodeInstanceRecord[] = [];
      for (const id of deployments)
        all.push(...(await store.listInstances(id)).filter((i) => node === undefined || i.node === node));
      const masker = await tenantMasker(request.tenant!);
      return {
        items: all.slice(offset, offset + size).map((i) => instanceView(i, masker)),
        total: all.length,
        offset,
        size,
      };
    },
  );

  app.get(
    '/node-instances/:id',
    {
      config: { access: 'viewer' },
      schema: {
        tags: ['node instances'],
        summary: 'A node instance with its runtime properties (secret values masked)',
        params: IdParams,
        response: { 200: NodeInstance, 404: ErrorBody, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const instance = await request.tenant!.store.getInstance(request.params.id);
      if (!instance) throw notFound('node instance', request.params.id);
      return instanceView(instance, await tenantMasker(request.tenant!));
    },
  );
}
