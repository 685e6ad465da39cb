/** What the API shows of a tenant's state never holds its secrets' values. */
import { Masker } from '@weft/engine';
import type { TenantState } from './tenants.js';

/**
 * A masker for every secret of the tenant (and for sealed runtime property values, which any
 * masker hides): values given as inputs or written as runtime properties are shown as the mask.
 */
export async function tenantMasker(tenant: TenantState): Promise<Masker> {
  const masker = new Masker();
  for (const value of (await tenant.secrets.all()).values()) masker.add(value);
  return masker;
}
