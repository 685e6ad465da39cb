/**
 * A deployment's topology: one box per node, nested in the node that contains it (the instances'
 * containedIn), relationships as arrows, each box coloured by its instances' states. The graph is
 * laid out by elkjs in a Web Worker, started as a deployment page opens, while its data loads: the
 * library is most of the UI's weight and a layout would otherwise hold the page. A layout is
 * computed again only when the graph's shape changes, not when states change, so live updates
 * cost a re-render only.
 */
import Elk, { type ELK, type ElkExtendedEdge, type ElkNode } from 'elkjs/lib/elk-api.js';
import { useEffect, useState } from 'preact/hooks';
import type { Blueprint, NodeInstance } from './api.js';

export interface TopologyNode {
  id: string;
  parent: string | null;
  instances: NodeInstance[];
  /** Its node type, where the topology comes from a blueprint. */
  type?: string;
}

export interface Topology {
  nodes: TopologyNode[];
  edges: { source: string; target: string; type: string }[];
}

const LEAF = { width: 190, height: 58 };
const PADDING = '[top=34,left=14,bottom=14,right=14]';
const CONTAINED_IN = /contained_in/;

/** Nodes, their containers and relationships as the instances tell them. */
export function topologyOf(instances: NodeInstance[]): Topology {
  const byId = new Map(instances.map((i) => [i.id, i]));
  const nodes = new Map<string, TopologyNode>();
  for (const instance of instances) {
    const node = nodes.get(instance.node) ?? { id: instance.node, parent: null, instances: [] };
    node.instances.push(instance);
    const container = byId.get(instance.containedIn ?? '')?.node;
    if (container && container !== instance.node) node.parent = container;
    nodes.set(instance.node, node);
  }
  const edges = new Map<string, Topology['edges'][number]>();
  for (const instance of instances)
    for (const relationship of instance.relationships ?? []) {
      const target = byId.get(relationship.targetId ?? '')?.node ?? relationship.target;
      if (!target || target === instance.node || !nodes.has(target)) continue;
      // Containment is drawn by nesting; an arrow would say it twice.
      if (CONTAINED_IN.test(relationship.type) && nodes.get(instance.node)?.parent === target) continue;
      edges.set(`${instance.node}>${target}`, { source: instance.node, target, type: relationship.type });
    }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

/**
 * A blueprint's topology from its node templates as the server parsed them (with what imports
 * and namespaces bring): the node each is contained in nests it, other relationships are arrows.
 */
export function blueprintTopology(templates: Blueprint['nodes']): Topology {
  const names = new Set(templates.map((t) => t.name));
  return {
    nodes: templates.map((t) => ({
      id: t.name,
      parent: t.containedIn && names.has(t.containedIn) ? t.containedIn : null,
      instances: [],
      type: t.type,
    })),
    edges: templates.flatMap((t) =>
      (t.relationships ?? [])
        .filter((r) => names.has(r.target) && r.target !== t.name)
        .map((r) => ({ source: t.name, target: r.target, type: r.type })),
    ),
  };
}

const BUSY = new Set(['initializing', 'creating', 'configuring', 'starting', 'stopping', 'deleting']);
const UP = new Set(['started']);
const DOWN = new Set(['uninitialized', 'deleted']);

/** The tone of a node from its instances: busy while any changes, ok when all are started. */
export function toneOf(instances: NodeInstance[]): 'busy' | 'ok' | 'idle' | 'partial' {
  if (instances.some((i) => BUSY.has(i.state))) return 'busy';
  if (instances.every((i) => UP.has(i.state))) return 'ok';
  if (instances.every((i) => DOWN.has(i.state))) return 'idle';
  return 'partial';
}

export const stateCounts = (instances: NodeInstance[]) => {
  const counts = new Map<string, number>();
  for (const i of instances) counts.set(i.state, (counts.get(i.state) ?? 0) + 1);
  return [...counts.entries()].map(([state, count]) => `${count} ${state}`).join(' · ');
};

/** The layout worker's file, named with its content hash by the build. */
declare const LAYOUT_WORKER_URL: string;

let elk: ELK | undefined;

/** Starts the layout worker (once per tab) so that it is ready when a topology is to be drawn. */
export function startLayoutWorker(): ELK {
  // A CommonJS module: its constructor is its default export, which elkjs also sets as .default.
  elk ??= new Elk.default({ workerUrl: LAYOUT_WORKER_URL });
  return elk;
}

function layout(topology: Topology): Promise<ElkNode> {
  const children = new Map<string | null, ElkNode[]>();
  const elkNode = new Map<string, ElkNode>();
  for (const node of topology.nodes) {
    const made: ElkNode = { id: node.id, ...LEAF, children: [], layoutOptions: { 'elk.padding': PADDING } };
    elkNode.set(node.id, made);
  }
  for (const node of topology.nodes) {
    // A container missing from the instances (or a cycle) leaves the node at the top.
    const parent = node.parent && elkNode.has(node.parent) && node.parent !== node.id ? node.parent : null;
    children.set(parent, [...(children.get(parent) ?? []), elkNode.get(node.id)!]);
  }
  for (const [parent, list] of children) if (parent) elkNode.get(parent)!.children = list;
  for (const made of elkNode.values())
    if (made.children?.length) {
      delete made.width;
      delete made.height;
    }
  const edges: ElkExtendedEdge[] = topology.edges.map((e, index) => ({
    id: `e${index}`,
    sources: [e.source],
    targets: [e.target],
  }));
  return startLayoutWorker().layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'UP',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.edgeRouting': 'ORTHOGONAL',
    },
    children: children.get(null) ?? [],
    edges,
  });
}

interface Placed {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  container: boolean;
}

/** Absolute positions of every node box (ELK gives them relative to their parent). */
function place(graph: ElkNode): { boxes: Placed[]; offsets: Map<string, { x: number; y: number }> } {
  const boxes: Placed[] = [];
  const offsets = new Map<string, { x: number; y: number }>([['root', { x: 0, y: 0 }]]);
  const walk = (node: ElkNode, dx: number, dy: number) => {
    for (const child of node.children ?? []) {
      const x = dx + (child.x ?? 0);
      const y = dy + (child.y ?? 0);
      offsets.set(child.id, { x, y });
      boxes.push({
        id: child.id,
        x,
        y,
        width: child.width ?? LEAF.width,
        height: child.height ?? LEAF.height,
        container: (child.children?.length ?? 0) > 0,
      });
      walk(child, x, y);
    }
  };
  walk(graph, 0, 0);
  return { boxes, offsets };
}

/** What a box says under its name: its instances' states, or its type where it has none (a blueprint's). */
const describe = (node: TopologyNode) =>
  node.instances.length > 0 ? stateCounts(node.instances) : (node.type ?? '');

export function TopologyGraph({
  topology,
  selected,
  onSelect,
}: {
  topology: Topology;
  selected: string;
  onSelect(node: string): void;
}) {
  // The layout depends on the shape only: states changing during an execution keep it.
  const shape = JSON.stringify([topology.nodes.map((n) => [n.id, n.parent]), topology.edges]);
  const [graph, setGraph] = useState<ElkNode>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    let current = true;
    layout(topology).then(
      (laid) => current && setGraph(laid),
      (caught: Error) => current && setError(caught),
    );
    return () => {
      current = false;
    };
  }, [shape]);

  if (error) return <p class="error">The topology could not be laid out: {error.message}</p>;
  if (!graph) return <p class="muted">Laying out the topology…</p>;
  const { boxes, offsets } = place(graph);
  const byId = new Map(topology.nodes.map((n) => [n.id, n]));
  const width = graph.width ?? 0;
  const height = graph.height ?? 0;

  return (
    <figure class="topology" data-testid="topology">
      <figcaption class="visually-hidden">
        Topology: nodes nested in their hosts, arrows for relationships; choose a node to list its instances
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height}>
        <title>Topology of the deployment</title>
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="10"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
          </marker>
        </defs>
        {boxes.map((box) => {
          const node = byId.get(box.id)!;
          const tone = node.instances.length > 0 ? toneOf(node.instances) : 'idle';
          const label = `${box.id}: ${describe(node)}`;
          return (
            // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a button element
            <g
              key={box.id}
              class={`node tone-${tone}${selected === box.id ? ' selected' : ''}${box.container ? ' host' : ''}`}
              data-node={box.id}
              data-tone={tone}
              transform={`translate(${box.x} ${box.y})`}
              // Lower case: SVG attributes are case-sensitive, and tabIndex would not make it focusable.
              tabindex={0}
              role="button"
              aria-pressed={selected === box.id}
              aria-label={label}
              onClick={() => onSelect(selected === box.id ? '' : box.id)}
              onKeyDown={(event) => {
                if (event.key === 'Enter' || event.key === ' ') {
                  event.preventDefault();
                  onSelect(selected === box.id ? '' : box.id);
                }
              }}
            >
              <title>{label}</title>
              <rect width={box.width} height={box.height} rx="6" />
              <text x="10" y="20" class="node-name">
                {box.id}
                {box.container && <tspan class="node-states"> · {describe(node)}</tspan>}
              </text>
              {!box.container && (
                <text x="10" y="42" class="node-states">
                  {describe(node)}
                </text>
              )}
            </g>
          );
        })}
        {(graph.edges ?? []).flatMap((edge) => {
          const offset = offsets.get(
            (edge as ElkExtendedEdge & { container?: string }).container ?? 'root',
          ) ?? { x: 0, y: 0 };
          return ((edge as ElkExtendedEdge).sections ?? []).map((section) => {
            const points = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
            return (
              <polyline
                key={`${edge.id}-${section.id}`}
                class="edge"
                marker-end="url(#arrow)"
                points={points.map((p) => `${p.x + offset.x},${p.y + offset.y}`).join(' ')}
              />
            );
          });
        })}
      </svg>
    </figure>
  );
}
