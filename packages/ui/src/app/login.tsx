/** The login page: a user name and password for a token, kept for this tab only. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Me, request, type Session } from './api.js';

/** How long a token from this page lasts: a working day; logging out revokes it sooner. */
const SESSION_SECONDS = 12 * 3600;

export function Login({ onLogin }: { onLogin(session: Session): void }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const user = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = 'Log in · Weft';
    user.current?.focus();
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(undefined);
    try {
      const issued = await request<{ id: string; token: string }>(
        'POST',
        '/auth/login',
        {
          username: String(form.get('username')),
          password: String(form.get('password')),
          expiresIn: SESSION_SECONDS,
          description: 'web UI',
        },
        null,
      );
      const bare: Session = {
        token: issued.token,
        tokenId: issued.id,
        user: '',
        superuser: false,
        tenants: [],
        tenant: '',
      };
      const me = await request<Me>('GET', '/auth/me', undefined, bare);
      onLogin({
        ...bare,
        user: me.name,
        superuser: me.superuser,
        tenants: me.tenants,
        tenant: me.tenants.find((t) => t.tenant === 'default_tenant')?.tenant ?? me.tenants[0]?.tenant ?? '',
      });
    } catch (caught) {
      setError(
        caught instanceof ApiError && caught.status === 429
          ? 'Too many attempts: wait a minute and try again.'
          : (caught as Error).message,
      );
      setBusy(false);
    }
  };

  return (
    <main class="login">
      <form class="card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Weft</h1>
        <label>
          User name
          <input ref={user} name="username" autoComplete="username" required />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
