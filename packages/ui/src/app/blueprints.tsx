/**
 * Blueprints: the list with an upload form (a YAML file, or a directory as tar.gz or zip), and a
 * blueprint's page: what it declares, its topology, its files with problems at their lines, the
 * deployments made from it, and creating a deployment with a form generated from its inputs.
 */
import { useMemo, useState } from 'preact/hooks';
import {
  ApiError,
  type Blueprint,
  type BlueprintSummary,
  type Deployment,
  get,
  getBytes,
  type Page as Paged,
  type Problem,
  query,
  request,
  upload,
} from './api.js';
import { useCan } from './app.js';
import { gzip, readTarGz, writeTar } from './archive.js';
import { fieldTexts, ParameterFields, readParameters } from './parameters.js';
import { navigate } from './router.js';
import { ProblemList, SourceView } from './source.js';
import { blueprintTopology, TopologyGraph } from './topology.js';
import { ErrorNote, ListActions, Page, Status, show, useLoad, When } from './ui.js';

/** The content type the API takes for a file, by its name; undefined for one it does not take. */
export function uploadType(name: string): { type: string; archive: boolean } | undefined {
  const lower = name.toLowerCase();
  if (/\.ya?ml$/.test(lower)) return { type: 'application/yaml', archive: false };
  if (/\.(tar\.gz|tgz)$/.test(lower)) return { type: 'application/gzip', archive: true };
  if (lower.endsWith('.zip')) return { type: 'application/zip', archive: true };
  if (lower.endsWith('.tar')) return { type: 'application/x-tar', archive: true };
  return undefined;
}

/** The warnings of the last upload of each blueprint in this tab: its page shows them at their lines. */
const uploadWarnings = new Map<string, Problem[]>();

const problemsOf = (error: unknown): Problem[] =>
  error instanceof ApiError && Array.isArray(error.details) ? (error.details as Problem[]) : [];

/**
 * The files of a directory chosen in the browser as a tar.gz, under their paths from the chosen
 * directory (its name first: the server reads an archive held in one top-level folder from inside
 * it).
 */
async function directoryArchive(chosen: File[]): Promise<File> {
  const entries = await Promise.all(
    chosen.map(async (f) => ({
      path: f.webkitRelativePath || f.name,
      content: new Uint8Array(await f.arrayBuffer()),
    })),
  );
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const top = entries[0]?.path.split('/')[0] ?? 'blueprint';
  return new File([await gzip(writeTar(entries))], `${top}.tar.gz`, { type: 'application/gzip' });
}

function UploadForm({ onClose }: { onClose(): void }) {
  const [error, setError] = useState<Error>();
  const [problems, setProblems] = useState<Problem[]>([]);
  const [files, setFiles] = useState<Map<string, string>>();
  const [mainFile, setMainFile] = useState('blueprint.yaml');
  const [busy, setBusy] = useState(false);
  const [archive, setArchive] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const id = String(form.get('id') ?? '').trim();
    const chosenDirectory = [...((form.getAll('directory') as File[]) ?? [])].filter((f) => f.name !== '');
    const file =
      chosenDirectory.length > 0
        ? await directoryArchive(chosenDirectory)
        : (form.get('file') as File | null);
    setError(undefined);
    setProblems([]);
    setFiles(undefined);
    if (!file || file.size === 0) return setError(new Error('Choose a file or a directory to upload.'));
    const kind = uploadType(file.name);
    if (!kind)
      return setError(new Error(`${file.name}: upload a .yaml file, or a .tar.gz, .tgz, .tar or .zip`));
    const main = kind.archive ? String(form.get('mainFile') || 'blueprint.yaml') : 'blueprint.yaml';
    setBusy(true);
    try {
      const made = await upload<Blueprint>(
        'PUT',
        `/blueprints/${encodeURIComponent(id)}${query({ main_file: kind.archive ? main : undefined })}`,
        file,
        kind.type,
      );
      uploadWarnings.set(made.id, made.warnings ?? []);
      navigate(`/blueprints/${encodeURIComponent(made.id)}`);
    } catch (caught) {
      setError(caught as Error);
      const found = problemsOf(caught);
      setProblems(found);
      setMainFile(main);
      // The files as sent, to show the problems at their lines (a zip is not read here).
      if (found.length > 0)
        try {
          if (!kind.archive) setFiles(new Map([[main, await file.text()]]));
          else if (kind.type === 'application/gzip') setFiles(await readTarGz(await file.arrayBuffer()));
        } catch {
          // not readable here: the list of problems stays
        }
      setBusy(false);
    }
  };

  return (
    <form class="card" onSubmit={submit} aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a blueprint</h2>
      <div class="row">
        <label>
          Name
          <input name="id" required pattern="[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}" />
        </label>
        <label>
          File <span class="muted">(YAML, or the directory as .tar.gz / .zip)</span>
          <input
            name="file"
            type="file"
            accept=".yaml,.yml,.tar.gz,.tgz,.tar,.zip"
            onChange={(e) => {
              const chosen = (e.target as HTMLInputElement).files?.[0];
              setArchive(chosen ? uploadType(chosen.name)?.archive === true : false);
            }}
          />
        </label>
        <label>
          Or a directory <span class="muted">(its files are sent as a .tar.gz)</span>
          <input
            name="directory"
            type="file"
            {...{ webkitdirectory: true }}
            onChange={(e) => setArchive(((e.target as HTMLInputElement).files?.length ?? 0) > 0)}
          />
        </label>
        {archive && (
          <label>
            Main file in the archive
            <input name="mainFile" defaultValue="blueprint.yaml" />
          </label>
        )}
      </div>
      {error && problems.length === 0 && <ErrorNote error={error} />}
      <ProblemList problems={problems} title={error?.message ?? 'Problems'} />
      {files && problems.length > 0 && <SourceView files={files} mainFile={mainFile} problems={problems} />}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Uploading…' : 'Upload'}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}

export function Blueprints() {
  const canUpload = useCan('operator');
  const [uploading, setUploading] = useState(false);
  const list = useLoad(() => get<BlueprintSummary[]>('/blueprints'), []);
  return (
    <Page
      title="Blueprints"
      actions={
        <ListActions
          reload={list.reload}
          add={{
            label: 'Upload a blueprint',
            shown: canUpload && !uploading,
            open: () => setUploading(true),
          }}
        />
      }
    >
      {uploading && <UploadForm onClose={() => setUploading(false)} />}
      <ErrorNote error={list.error} />
      {list.data && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Blueprint</th>
                <th scope="col">Description</th>
                <th scope="col">Main file</th>
                <th scope="col">Uploaded</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((b) => (
                <tr key={b.id}>
                  <td>
                    <a href={`/blueprints/${encodeURIComponent(b.id)}`}>{b.id}</a>
                  </td>
                  <td>{b.description ?? <span class="muted">none</span>}</td>
                  <td class="mono">{b.mainFile}</td>
                  <td>
                    <When at={b.createdAt} /> <span class="muted">by {b.createdBy}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.data?.length === 0 && <p class="muted">No blueprints.</p>}
    </Page>
  );
}

/** Creating a deployment: its name and a form generated from the blueprint's inputs. */
export function CreateDeploymentForm({ blueprint, onClose }: { blueprint: Blueprint; onClose(): void }) {
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [serverProblems, setServerProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const element = event.currentTarget as HTMLFormElement;
    const id = String(new FormData(element).get('id') ?? '').trim();
    setError(undefined);
    setServerProblems([]);
    const read = readParameters(blueprint.inputs, fieldTexts(element, blueprint.inputs));
    setProblems(read.ok ? {} : read.problems);
    if (!read.ok) return setError(new Error('Some inputs are not right: see the fields marked.'));
    setBusy(true);
    try {
      await request('PUT', `/deployments/${encodeURIComponent(id)}`, {
        blueprintId: blueprint.id,
        inputs: read.values,
      });
      navigate(`/deployments/${encodeURIComponent(id)}`);
    } catch (caught) {
      setError(caught as Error);
      setServerProblems(problemsOf(caught));
      setBusy(false);
    }
  };

  return (
    <form class="card" onSubmit={submit} aria-labelledby="create-title" noValidate>
      <h2 id="create-title">Create a deployment of {blueprint.id}</h2>
      <label>
        Deployment name
        <input name="id" required pattern="[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}" />
      </label>
      <fieldset>
        <legend>Inputs</legend>
        <ParameterFields specs={blueprint.inputs} prefix="input" problems={problems} />
      </fieldset>
      {error && serverProblems.length === 0 && <ErrorNote error={error} />}
      <ProblemList problems={serverProblems} title={error?.message ?? 'Problems'} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Create
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}

function DeleteBlueprint({ id }: { id: string }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState<Error>();
  const remove = async () => {
    setError(undefined);
    try {
      await request('DELETE', `/blueprints/${encodeURIComponent(id)}`);
      navigate('/blueprints');
    } catch (caught) {
      setError(caught as Error);
    }
  };
  return (
    <>
      {!asking ? (
        <button type="button" class="danger" onClick={() => setAsking(true)}>
          Delete
        </button>
      ) : (
        <span class="confirm">
          Delete blueprint {id}?{' '}
          <button type="button" class="danger" onClick={remove}>
            Delete it
          </button>{' '}
          <button type="button" onClick={() => setAsking(false)}>
            Keep it
          </button>
        </span>
      )}
      <ErrorNote error={error} />
    </>
  );
}

export function BlueprintPage({ id }: { id: string }) {
  const canOperate = useCan('operator');
  const path = encodeURIComponent(id);
  const blueprint = useLoad(() => get<Blueprint>(`/blueprints/${path}`), [id]);
  const files = useLoad(async () => readTarGz(await getBytes(`/blueprints/${path}/archive`)), [id]);
  const deployments = useLoad(
    () => get<Paged<Deployment>>(`/deployments${query({ blueprintId: id, size: 100 })}`),
    [id],
  );
  const [creating, setCreating] = useState(false);
  const [selected, setSelected] = useState('');
  const b = blueprint.data;
  const topology = useMemo(() => b && blueprintTopology(b.nodes), [b]);
  const warnings = uploadWarnings.get(id) ?? [];

  return (
    <Page
      title={`Blueprint ${id}`}
      actions={
        b &&
        canOperate && (
          <>
            {!creating && (
              <button type="button" class="primary" onClick={() => setCreating(true)}>
                Create a deployment
              </button>
            )}
            <DeleteBlueprint id={id} />
          </>
        )
      }
    >
      <ErrorNote error={blueprint.error} />
      {b && creating && <CreateDeploymentForm blueprint={b} onClose={() => setCreating(false)} />}
      {b && (
        <>
          {b.description && <p>{b.description}</p>}
          <dl class="facts">
            <div>
              <dt>Main file</dt>
              <dd class="mono">{b.mainFile}</dd>
            </div>
            <div>
              <dt>DSL</dt>
              <dd class="mono">{b.dslVersion}</dd>
            </div>
            <div>
              <dt>Uploaded</dt>
              <dd>
                <When at={b.createdAt} /> by {b.createdBy}
              </dd>
            </div>
            <div>
              <dt>Plugins</dt>
              <dd>{b.plugins.length ? b.plugins.join(', ') : <span class="muted">none</span>}</dd>
            </div>
          </dl>
          <section aria-labelledby="bp-topology-title">
            <h2 id="bp-topology-title">Topology</h2>
            {topology && topology.nodes.length > 0 ? (
              <TopologyGraph topology={topology} selected={selected} onSelect={setSelected} />
            ) : (
              <p class="muted">No node templates.</p>
            )}
          </section>
          <div class="columns">
            <section aria-labelledby="bp-nodes-title">
              <h2 id="bp-nodes-title">Node types</h2>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Node</th>
                      <th scope="col">Type</th>
                      <th scope="col">Derived from</th>
                    </tr>
                  </thead>
                  <tbody>
                    {b.nodes.map((n) => (
                      <tr
                        key={n.name}
                        data-node-row={n.name}
                        class={selected === n.name ? 'selected' : undefined}
                      >
                        <td>{n.name}</td>
                        <td class="mono">{n.type}</td>
                        <td class="mono">{n.typeHierarchy.filter((t) => t !== n.type).join(' ← ')}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <h2>Inputs</h2>
              {b.inputs.length === 0 ? (
                <p class="muted">None.</p>
              ) : (
                <div class="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Input</th>
                        <th scope="col">Type</th>
                        <th scope="col">Default</th>
                        <th scope="col">Constraints</th>
                      </tr>
                    </thead>
                    <tbody>
                      {b.inputs.map((i) => (
                        <tr key={i.name}>
                          <td>
                            {i.name}
                            {i.required && <span class="required"> (required)</span>}
                            {i.description && <div class="muted">{i.description}</div>}
                          </td>
                          <td class="mono">{i.type ?? ''}</td>
                          <td class="mono">{i.default === undefined ? '' : show(i.default)}</td>
                          <td class="mono">
                            {i.constraints.map((c) => `${c.name}: ${show(c.argument)}`).join('; ')}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </section>
            <section aria-labelledby="bp-side-title">
              <h2 id="bp-side-title">Deployments</h2>
              <ErrorNote error={deployments.error} />
              {deployments.data?.items.length === 0 && <p class="muted">None.</p>}
              <ul class="plain">
                {deployments.data?.items.map((d) => (
                  <li key={d.id}>
                    <a href={`/deployments/${encodeURIComponent(d.id)}`}>{d.id}</a>{' '}
                    {d.status && <Status status={d.status} />}
                  </li>
                ))}
              </ul>
              <h2>Workflows</h2>
              <ul class="plain">
                {b.workflows.map((w) => (
                  <li key={w.name}>
                    {w.name}
                    {w.parameters.length > 0 && (
                      <span class="muted"> ({w.parameters.map((p) => p.name).join(', ')})</span>
                    )}
                  </li>
                ))}
              </ul>
              <h2>Outputs and capabilities</h2>
              <ul class="plain">
                {[...b.outputs, ...b.capabilities].map((o) => (
                  <li key={o.name}>
                    {o.name}
                    {o.description && <span class="muted"> – {o.description}</span>}
                  </li>
                ))}
              </ul>
            </section>
          </div>
          <section aria-labelledby="bp-source-title">
            <h2 id="bp-source-title">Files</h2>
            <ErrorNote error={files.error} />
            <ProblemList problems={warnings} title="Warnings when it was uploaded" />
            {files.data && <SourceView files={files.data} mainFile={b.mainFile} problems={warnings} />}
          </section>
        </>
      )}
    </Page>
  );
}
