/**
 * Each tenant's deployments live in an engine store of their own: a PostgreSQL schema per tenant
 * in the server's database, or an SQLite file per tenant under the state directory. A tenant can
 * then reach nothing of another one, not even by id: there is no query that spans two.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadSecretKey, openPostgresStore, openSqliteStore, Secrets, type Store } from '@weft/engine';
import { dropPostgresSchema } from './store/sql.js';

/** Tenant names: also schema and directory names, so a safe alphabet. */
export const TENANT_NAME = /^[a-z][a-z0-9_]{0,39}$/;

const schemaOf = (tenant: string) => `weft_tenant_${tenant}`;

export interface TenantState {
  name: string;
  store: Store;
  secrets: Secrets;
  /** Where plugins keep their per-deployment work directories for this tenant. */
  workDir: string;
  /**
   * Where stored blueprints are written out as files, one directory per content hash: the
   * deployments made from them run from there (scripts, resources).
   */
  blueprintsDir: string;
  /**
   * Its store's commits of events notify the other server processes themselves (see
   * {@link TenantStores}): no notification of their own is sent for them.
   */
  toldAtCommit: boolean;
}

/** What a tenant's PostgreSQL store sends with each commit of events (PostgresStoreOptions). */
export type EventsNotice = (tenant: string) => { channel: string; payload: string };

export class TenantStores {
  private readonly open = new Map<string, Promise<TenantState>>();

  /**
   * `database`: a postgres:// URL, or undefined for SQLite files under `stateDir`. The secret key
   * is the server's (in `stateDir`), shared by its tenants. `eventsNotice`: what each PostgreSQL
   * store notifies in the commit of events, for the other processes' event streams.
   */
  constructor(
    private readonly stateDir: string,
    private readonly database: string | undefined,
    private readonly eventsNotice?: EventsNotice,
  ) {}

  /** The tenant's store, opened (and its schema created or upgraded) on first use. */
  get(name: string): Promise<TenantState> {
    let state = this.open.get(name);
    if (!state) {
      state = this.openTenant(name);
      this.open.set(name, state);
      state.catch(() => this.open.delete(name));
    }
    return state;
  }

  private async openTenant(name: string): Promise<TenantState> {
    if (!TENANT_NAME.test(name)) throw new Error(`bad tenant name '${name}'`);
    const dir = join(this.stateDir, 'tenants', name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const toldAtCommit = this.database !== undefined && this.eventsNotice !== undefined;
    const store = this.database
      ? await openPostgresStore(this.database, {
          schema: schemaOf(name),
          ...(this.eventsNotice ? { eventsNotice: this.eventsNotice(name) } : {}),
        })
      : await openSqliteStore(join(dir, 'weft.db'));
    await store.migrate();
    const secrets = new Secrets(store, () => loadSecretKey(this.stateDir));
    return {
      name,
      store,
      secrets,
      workDir: join(dir, 'work'),
      blueprintsDir: join(dir, 'blueprints'),
      toldAtCommit,
    };
  }

  /**
   * Deletes everything a tenant's store holds (its schema, or its directory with the SQLite file
   * and work directories), so that a tenant made later under the same name starts empty.
   */
  async destroy(name: string): Promise<void> {
    const open = this.open.get(name);
    this.open.delete(name);
    if (open) await (await open.catch(() => undefined))?.store.close();
    if (this.database) await dropPostgresSchema(this.database, schemaOf(name));
    rmSync(join(this.stateDir, 'tenants', name), { recursive: true, force: true });
  }

  /** The tenants opened so far. */
  async opened(): Promise<TenantState[]> {
    const all = await Promise.allSettled(this.open.values());
    return all.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  }

  async close(): Promise<void> {
    const states = await this.opened();
    this.open.clear();
    await Promise.all(states.map((s) => s.store.close()));
  }
}
