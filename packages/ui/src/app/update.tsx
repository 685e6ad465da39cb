/**
 * A deployment's update from its page: a blueprint and inputs, the plan of what would change shown
 * as a diff (the API's update-plan, nothing changed), then the update started from that plan.
 */
import { useState } from 'preact/hooks';
import { type BlueprintSummary, type Execution, get, request } from './api.js';
import { parseParameters } from './executions.js';
import { navigate } from './router.js';
import { ErrorNote, show, useLoad } from './ui.js';

interface ValueChange {
  name: string;
  change: 'added' | 'removed' | 'modified';
  before?: unknown;
  after?: unknown;
}

interface NodeChange {
  node: string;
  change: 'added' | 'removed' | 'modified';
  action: 'add' | 'remove' | 'update' | 'replace' | 'reinstall' | 'relink' | 'none';
  type?: { before: string; after: string };
  properties: ValueChange[];
  operations: { name: string; change: string }[];
  relationships: { added: unknown[]; removed: unknown[]; modified: unknown[] };
  instances?: { before: number; after: number };
  replacement?: { properties: string[]; reason: string };
}

export interface UpdatePlan {
  changes: boolean;
  nodes: NodeChange[];
  instances: { id: string; node: string; action: string }[];
  inputs: ValueChange[];
  outputs: ValueChange[];
  operations: { wave: number }[];
}

/** How a plan marks a node, as `weft plan` prints it. */
const MARKS: Record<NodeChange['action'], string> = {
  add: '+',
  remove: '-',
  update: '~',
  replace: '-/+',
  reinstall: '-/+',
  relink: '~',
  none: '~',
};

function ValueChanges({ title, changes }: { title: string; changes: ValueChange[] }) {
  if (changes.length === 0) return null;
  return (
    <>
      <h4>{title}</h4>
      <ul class="value-changes">
        {changes.map((c) => (
          <li key={c.name} data-change={c.change}>
            <code>{c.name}</code>:{' '}
            {c.change === 'added' ? (
              <ins>{show(c.after)}</ins>
            ) : c.change === 'removed' ? (
              <del>{show(c.before)}</del>
            ) : (
              <>
                <del>{show(c.before)}</del> → <ins>{show(c.after)}</ins>
              </>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

export function PlanDiff({ plan }: { plan: UpdatePlan }) {
  if (!plan.changes) return <p data-testid="update-plan">Nothing would change.</p>;
  const waves = new Set(plan.operations.map((o) => o.wave)).size;
  return (
    <div class="plan-diff" data-testid="update-plan">
      <p>
        {plan.nodes.length} node{plan.nodes.length === 1 ? '' : 's'} change; the update runs{' '}
        {plan.operations.length} operation{plan.operations.length === 1 ? '' : 's'} in {waves} wave
        {waves === 1 ? '' : 's'}.
      </p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Change</th>
              <th scope="col">Node</th>
              <th scope="col">What changes</th>
            </tr>
          </thead>
          <tbody>
            {plan.nodes.map((n) => (
              <tr key={n.node} data-plan-node={n.node} data-action={n.action}>
                <td>
                  <code class={`mark mark-${n.change}`}>{MARKS[n.action]}</code> {n.action}
                </td>
                <td>{n.node}</td>
                <td>
                  {n.type && n.type.before !== n.type.after && (
                    <p>
                      type <del>{n.type.before}</del> → <ins>{n.type.after}</ins>
                    </p>
                  )}
                  {n.instances && n.instances.before !== n.instances.after && (
                    <p>
                      instances {n.instances.before} → {n.instances.after}
                    </p>
                  )}
                  {n.replacement && <p>replaced: {n.replacement.reason}</p>}
                  <ValueChanges title="Properties" changes={n.properties} />
                  {n.operations.length > 0 && (
                    <p>operations {n.operations.map((o) => `${o.name} (${o.change})`).join(', ')}</p>
                  )}
                  {n.relationships.added.length +
                    n.relationships.removed.length +
                    n.relationships.modified.length >
                    0 && (
                    <p>
                      relationships: {n.relationships.added.length} added, {n.relationships.removed.length}{' '}
                      removed, {n.relationships.modified.length} modified
                    </p>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ValueChanges title="Inputs" changes={plan.inputs} />
      <ValueChanges title="Outputs" changes={plan.outputs} />
    </div>
  );
}

export function UpdateForm({
  deploymentId,
  blueprintId,
  canApply,
  onClose,
}: {
  deploymentId: string;
  blueprintId: string | undefined;
  canApply: boolean;
  onClose(): void;
}) {
  const blueprints = useLoad(() => get<BlueprintSummary[]>('/blueprints'), []);
  const [blueprint, setBlueprint] = useState(blueprintId ?? '');
  const [inputsText, setInputsText] = useState('');
  const [plan, setPlan] = useState<UpdatePlan>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const path = `/deployments/${encodeURIComponent(deploymentId)}`;

  /** The request both the preview and the update send; undefined when the inputs do not read. */
  const body = () => {
    try {
      return { blueprintId: blueprint || undefined, inputs: parseParameters(inputsText) };
    } catch (caught) {
      setError(new Error(`Inputs: ${(caught as Error).message}`));
      return undefined;
    }
  };
  const preview = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setPlan(undefined);
    const sent = body();
    if (!sent) return;
    setBusy(true);
    try {
      setPlan(await request<UpdatePlan>('POST', `${path}/update-plan`, sent));
    } catch (caught) {
      setError(caught as Error);
    } finally {
      setBusy(false);
    }
  };
  const apply = async () => {
    const sent = body();
    if (!sent) return;
    setBusy(true);
    try {
      const started = await request<Execution>('POST', `${path}/updates`, sent);
      navigate(`/executions/${encodeURIComponent(started.id)}`);
    } catch (caught) {
      setError(caught as Error);
      setBusy(false);
    }
  };
  // A plan is of what was asked: changing the request makes it old.
  const changed = () => setPlan(undefined);

  return (
    <form class="card update-form" onSubmit={preview} aria-labelledby="update-title">
      <h2 id="update-title">Update the deployment</h2>
      <div class="row">
        <label>
          Blueprint
          <select
            value={blueprint}
            onChange={(e) => {
              setBlueprint((e.target as HTMLSelectElement).value);
              changed();
            }}
          >
            {!blueprints.data && <option value={blueprint}>{blueprint || 'Loading…'}</option>}
            {blueprints.data?.map((b) => (
              <option key={b.id} value={b.id}>
                {b.id}
                {b.id === blueprintId ? ' (now)' : ''}
              </option>
            ))}
          </select>
        </label>
      </div>
      <label>
        Inputs to change <span class="muted">(YAML or JSON; the others are kept)</span>
        <textarea
          rows={3}
          spellcheck={false}
          placeholder="port: 9090"
          value={inputsText}
          onInput={(e) => {
            setInputsText((e.target as HTMLTextAreaElement).value);
            changed();
          }}
        />
      </label>
      <ErrorNote error={blueprints.error ?? error} />
      {plan && <PlanDiff plan={plan} />}
      <div class="actions">
        <button type="submit" class={plan ? '' : 'primary'} disabled={busy}>
          Preview the changes
        </button>
        {canApply && plan?.changes && (
          <button type="button" class="primary" disabled={busy} onClick={apply}>
            Update
          </button>
        )}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
