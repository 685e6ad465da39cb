import { createHash } from 'node:crypto';

const SUFFIXES = 36 ** 6;

/** A small seeded generator (mulberry32): fast, and the same seed gives the same ids. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Makes node instance ids `NODE_xxxxxx` (6 characters a-z0-9, as Cloudify's). Ids are derived
 * from the deployment id and node name, so planning the same deployment again gives the same
 * ids; `taken` holds ids already in use, which are never handed out twice.
 */
export class InstanceIdFactory {
  private readonly generators = new Map<string, () => number>();

  constructor(
    private readonly deploymentId: string,
    readonly taken: Set<string> = new Set(),
  ) {}

  next(node: string): string {
    let random = this.generators.get(node);
    if (!random) {
      const digest = createHash('sha256').update(`${this.deploymentId}\u0000${node}`).digest();
      random = seededRandom(digest.readUInt32LE(0));
      this.generators.set(node, random);
    }
    for (;;) {
      // Six base-36 digits (a-z0-9), from one draw.
      const suffix = Math.floor(random() * SUFFIXES)
        .toString(36)
        .padStart(6, '0');
      const id = `${node}_${suffix}`;
      if (!this.taken.has(id)) {
        this.taken.add(id);
        return id;
      }
    }
  }
}
