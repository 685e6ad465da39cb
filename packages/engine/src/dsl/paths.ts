import { isAbsolute, relative, sep } from 'node:path';

/** Whether `path` is `root` or under it, by their names (resolve symbolic links first to follow them). */
export function within(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}
