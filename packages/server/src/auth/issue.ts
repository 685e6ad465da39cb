/** Issuing tokens: at login, on request, and for the first admin. */
import type { AccessStore, AgentScope, TokenRecord } from '../store/access.js';
import { newToken } from './tokens.js';

/** A login's token lasts a day unless asked otherwise. */
export const LOGIN_TOKEN_SECONDS = 24 * 3600;

export async function issueToken(
  access: AccessStore,
  user: string,
  description: string,
  expiresInSeconds: number,
  agent: AgentScope | null = null,
): Promise<TokenRecord & { token: string }> {
  const made = newToken();
  const now = new Date();
  const record: TokenRecord = {
    id: made.id,
    user,
    secretHash: made.secretHash,
    description,
    expiresAt: expiresInSeconds > 0 ? new Date(now.getTime() + expiresInSeconds * 1000).toISOString() : null,
    createdAt: now.toISOString(),
    lastUsedAt: null,
    agent,
  };
  await access.createToken(record);
  return { ...record, token: made.token };
}
