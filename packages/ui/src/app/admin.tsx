/**
 * Administration: the tenant's secrets (names for everyone, setting and deleting for operators,
 * values for admins), the server's plugins, the caller's tokens, and the users (superusers only).
 * A control is shown only to a role the API lets use it.
 */
import { useContext, useState } from 'preact/hooks';
import { get, request } from './api.js';
import { SessionContext, useCan } from './app.js';
import { ErrorNote, Page, useLoad, When } from './ui.js';

interface Secret {
  key: string;
  createdAt: string;
  updatedAt: string;
}

interface Plugin {
  name: string;
  version: string | null;
  packageName: string | null;
  format: string;
  usable: boolean;
  problems: { code: string; message: string }[];
}

interface Token {
  id: string;
  description: string;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

interface User {
  name: string;
  superuser: boolean;
  createdAt: string;
  tenants: { tenant: string; role: string }[];
}

/** Runs an action, keeping its error to show, then reloads what it changed. */
function useAction(after: () => void) {
  const [error, setError] = useState<Error>();
  const run = async (action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      after();
      return true;
    } catch (caught) {
      setError(caught as Error);
      return false;
    }
  };
  return { error, run };
}

function Secrets() {
  const canSet = useCan('operator');
  const canRead = useCan('admin');
  const list = useLoad(() => get<Secret[]>('/secrets'), []);
  const { error, run } = useAction(list.reload);
  const [shown, setShown] = useState<Record<string, string>>({});
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const key = String(data.get('key')).trim();
    if (
      await run(() =>
        request('PUT', `/secrets/${encodeURIComponent(key)}`, { value: String(data.get('value')) }),
      )
    )
      form.reset();
  };
  return (
    <section aria-labelledby="secrets-title">
      <h2 id="secrets-title">Secrets</h2>
      <ErrorNote error={list.error ?? error} />
      {canSet && (
        <form class="row" onSubmit={submit} aria-label="Set a secret">
          <label>
            Key
            <input name="key" required pattern="[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}" />
          </label>
          <label>
            Value
            <input name="value" type="password" required autoComplete="off" />
          </label>
          <button type="submit" class="primary">
            Set secret
          </button>
        </form>
      )}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Updated</th>
              {(canSet || canRead) && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.data?.map((s) => (
              <tr key={s.key} data-secret={s.key}>
                <td class="mono">
                  {s.key}
                  {shown[s.key] !== undefined && <pre class="secret-value">{shown[s.key]}</pre>}
                </td>
                <td>
                  <When at={s.updatedAt} />
                </td>
                {(canSet || canRead) && (
                  <td>
                    {canRead && shown[s.key] === undefined && (
                      <button
                        type="button"
                        onClick={() =>
                          run(async () => {
                            const secret = await get<{ value: string }>(
                              `/secrets/${encodeURIComponent(s.key)}`,
                            );
                            setShown((all) => ({ ...all, [s.key]: secret.value }));
                          })
                        }
                      >
                        Show value
                      </button>
                    )}{' '}
                    {canSet && (
                      <button
                        type="button"
                        class="danger"
                        aria-label={`Delete secret ${s.key}`}
                        onClick={() => run(() => request('DELETE', `/secrets/${encodeURIComponent(s.key)}`))}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data?.length === 0 && <p class="muted">No secrets.</p>}
    </section>
  );
}

function Plugins() {
  const list = useLoad(() => get<Plugin[]>('/plugins'), []);
  return (
    <section aria-labelledby="plugins-title">
      <h2 id="plugins-title">Plugins</h2>
      <ErrorNote error={list.error} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Plugin</th>
              <th scope="col">Version</th>
              <th scope="col">Package</th>
              <th scope="col">Usable</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.map((p) => (
              <tr key={p.name}>
                <td>{p.name}</td>
                <td class="mono">{p.version ?? ''}</td>
                <td class="mono">{p.packageName ?? ''}</td>
                <td>
                  {p.usable ? 'yes' : 'no'}
                  {p.problems.map((problem) => (
                    <div key={problem.code} class="field-problem">
                      {problem.message}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data?.length === 0 && <p class="muted">No plugins.</p>}
    </section>
  );
}

function Tokens() {
  const session = useContext(SessionContext);
  const list = useLoad(() => get<Token[]>('/tokens'), []);
  const { error, run } = useAction(list.reload);
  const [made, setMade] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const description = String(new FormData(form).get('description')).trim();
    await run(async () => {
      const token = await request<{ token: string }>('POST', '/tokens', { description });
      setMade(token.token);
      form.reset();
    });
  };
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Your tokens</h2>
      <ErrorNote error={list.error ?? error} />
      <form class="row" onSubmit={submit} aria-label="Create a token">
        <label>
          Description
          <input name="description" required maxLength={200} />
        </label>
        <button type="submit" class="primary">
          Create token
        </button>
      </form>
      {made && (
        <div class="note" role="status">
          New token (shown once; keep it now): <code class="mono">{made}</code>
        </div>
      )}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Description</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.map((t) => (
              <tr key={t.id}>
                <td>
                  {t.description}
                  {t.id === session?.tokenId && <span class="muted"> (this tab)</span>}
                </td>
                <td>
                  <When at={t.createdAt} />
                </td>
                <td>
                  <When at={t.lastUsedAt} />
                </td>
                <td>{t.expiresAt ? <When at={t.expiresAt} /> : 'never'}</td>
                <td>
                  {t.id !== session?.tokenId && (
                    <button
                      type="button"
                      class="danger"
                      aria-label={`Revoke token ${t.description}`}
                      onClick={() => run(() => request('DELETE', `/tokens/${encodeURIComponent(t.id)}`))}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Users() {
  const list = useLoad(() => get<User[]>('/users'), []);
  const { error, run } = useAction(list.reload);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const body = {
      name: String(data.get('name')).trim(),
      password: String(data.get('password')),
      superuser: data.get('superuser') === 'on',
    };
    if (await run(() => request('POST', '/users', body))) form.reset();
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <ErrorNote error={list.error ?? error} />
      <form class="row" onSubmit={submit} aria-label="Create a user">
        <label>
          User name
          <input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}" autoComplete="off" />
        </label>
        <label>
          Password
          <input name="password" type="password" required autoComplete="new-password" />
        </label>
        <label class="inline">
          <input type="checkbox" name="superuser" /> Superuser
        </label>
        <button type="submit" class="primary">
          Create user
        </button>
      </form>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Tenants</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data?.map((u) => (
              <tr key={u.name} data-user={u.name}>
                <td>
                  {u.name}
                  {u.superuser && <span class="muted"> (superuser)</span>}
                </td>
                <td>{u.tenants.map((t) => `${t.tenant} (${t.role})`).join(', ')}</td>
                <td>
                  <When at={u.createdAt} />
                </td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    aria-label={`Delete user ${u.name}`}
                    onClick={() => run(() => request('DELETE', `/users/${encodeURIComponent(u.name)}`))}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function AdminPage() {
  const session = useContext(SessionContext);
  return (
    <Page title="Administration">
      <Secrets />
      <Plugins />
      <Tokens />
      {session?.superuser && <Users />}
    </Page>
  );
}
