/** Passwords are kept as argon2id hashes (the library's defaults: 19 MiB, 2 passes). */
import { hash, verify } from '@node-rs/argon2';

export function hashPassword(password: string): Promise<string> {
  return hash(password);
}

export async function passwordMatches(stored: string, given: string): Promise<boolean> {
  try {
    return await verify(stored, given);
  } catch {
    return false;
  }
}

/** A password long enough to stand a guess: at least 8 characters. */
export const MIN_PASSWORD_LENGTH = 8;
