/** The application: the login page, or the pages of the signed-in user in the chosen tenant. */
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { AdminPage } from './admin.js';
import { loadSession, type Role, request, type Session, saveSession, setUnauthorizedHandler } from './api.js';
import { BlueprintPage, Blueprints } from './blueprints.js';
import { DeploymentPage, Deployments } from './deployments.js';
import { EventsPage } from './events.js';
import { ExecutionPage } from './execution.js';
import { Executions } from './executions.js';
import { Login } from './login.js';
import { navigate, useLocation } from './router.js';
import { chooseTheme, type ThemeChoice, themeChoice } from './theme.js';

export const SessionContext = createContext<Session | null>(null);

const RANKS: Role[] = ['viewer', 'operator', 'admin'];

/** Whether the signed-in user has at least `role` in the tenant shown: controls they lack are not shown. */
export function useCan(role: Role): boolean {
  const session = useContext(SessionContext);
  if (!session) return false;
  if (session.superuser) return true;
  const mine = session.tenants.find((t) => t.tenant === session.tenant)?.role;
  return mine !== undefined && RANKS.indexOf(mine) >= RANKS.indexOf(role);
}

const NAV = [
  { path: '/executions', label: 'Executions' },
  { path: '/deployments', label: 'Deployments' },
  { path: '/blueprints', label: 'Blueprints' },
  { path: '/events', label: 'Events' },
  { path: '/admin', label: 'Admin' },
];

function route(path: string) {
  const [, section, id] = path.split('/').map(decodeURIComponent);
  if (section === 'executions' && id) return <ExecutionPage id={id} />;
  if (section === 'deployments' && id) return <DeploymentPage id={id} />;
  if (section === 'deployments') return <Deployments />;
  if (section === 'blueprints' && id) return <BlueprintPage id={id} />;
  if (section === 'blueprints') return <Blueprints />;
  if (section === 'events') return <EventsPage />;
  if (section === 'admin') return <AdminPage />;
  return <Executions />;
}

function ThemePicker() {
  const [choice, setChoice] = useState<ThemeChoice>(themeChoice);
  return (
    <select
      aria-label="Theme"
      value={choice}
      onChange={(event) => {
        const next = (event.target as HTMLSelectElement).value as ThemeChoice;
        chooseTheme(next);
        setChoice(next);
      }}
    >
      <option value="system">System theme</option>
      <option value="light">Light</option>
      <option value="dark">Dark</option>
    </select>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const { path } = useLocation();

  const change = (next: Session | null) => {
    saveSession(next);
    setSession(next);
  };
  useEffect(() => setUnauthorizedHandler(() => change(null)), []);
  useEffect(() => {
    if (session && (path === '/' || path === '/login')) navigate('/executions', true);
  }, [session, path]);

  if (!session) return <Login onLogin={change} />;

  const logout = async () => {
    // Revoked on the server: a copy of the token left anywhere stops working too.
    await request('DELETE', `/tokens/${encodeURIComponent(session.tokenId)}`).catch(() => undefined);
    change(null);
    navigate('/', true);
  };
  const section = `/${path.split('/')[1] ?? ''}`;

  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/executions">
          Weft
        </a>
        <nav aria-label="Main">
          {NAV.map((item) => (
            <a
              key={item.path}
              href={item.path}
              aria-current={
                section === item.path || (section === '/' && item.path === '/executions') ? 'page' : undefined
              }
            >
              {item.label}
            </a>
          ))}
        </nav>
        <div class="who">
          {session.tenants.length > 1 ? (
            <label>
              <span class="visually-hidden">Tenant</span>
              <select
                aria-label="Tenant"
                value={session.tenant}
                onChange={(event) =>
                  change({ ...session, tenant: (event.target as HTMLSelectElement).value })
                }
              >
                {session.tenants.map((t) => (
                  <option key={t.tenant} value={t.tenant}>
                    {t.tenant} ({t.role})
                  </option>
                ))}
              </select>
            </label>
          ) : (
            <span class="muted">{session.tenant}</span>
          )}
          <ThemePicker />
          <span class="user">{session.user}</span>
          <button type="button" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      {/* Keyed by tenant: every page loads again for the tenant chosen. */}
      <main id="main" tabIndex={-1} key={session.tenant}>
        {route(path)}
      </main>
    </SessionContext.Provider>
  );
}
