/** What the API shows of a tenant's state never holds its secrets' values. */
import { Masker } from '@weft/engine';
import type { TenantState } from './tenants.js';

/** The masker made last per tenant, with the version of the secrets it was made from. */
// Keyed by the tenant's store: a request's TenantState is a copy made for it (with the caller's role).
const made = new WeakMap<TenantState['store'], { version: string; masker: Promise<Masker> }>();

/**
 * A masker for every secret of the tenant (and for sealed runtime property values, which any
 * masker hides): values given as inputs or written as runtime properties are shown as the mask.
 * The secrets are decrypted again only when one was added, changed or deleted since the last one
 * (their version, one small query, says so), whichever process changed it; requests that come
 * together share one making. `version` is the one a read already brought
 * (DeploymentDetail.secretsVersion).
 */
export async function tenantMasker(tenant: TenantState, version?: string): Promise<Masker> {
  version ??= await tenant.store.secretsVersion();
  const last = made.get(tenant.store);
  if (last?.version === version) return last.masker;
  const masker = (async () => {
    const fresh = new Masker();
    for (const value of (await tenant.secrets.all()).values()) fresh.add(value);
    return fresh;
  })();
  const entry = { version, masker };
  made.set(tenant.store, entry);
  // A failed making is not kept: the next request tries again.
  masker.catch(() => {
    if (made.get(tenant.store) === entry) made.delete(tenant.store);
  });
  return masker;
}
