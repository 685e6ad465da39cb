// Real git repositories for DevStack plugins: a work tree committed, then a bare clone the
// local.conf enables (by path or file:// URL), with branches and tags.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.com',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.com',
    },
  }).trim();
}

export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    const file = join(root, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    if (path.endsWith('.sh')) chmodSync(file, 0o755);
  }
}

export interface Repo {
  /** The bare repository (what local.conf names). */
  bare: string;
  /** The work tree commits are made in. */
  work: string;
  /** Commits files on the current branch and pushes it; returns the commit. */
  commit(files: Record<string, string>, message?: string): string;
  /** Switches the work tree to a branch (created from the current commit when new). */
  branch(name: string): void;
  tag(name: string): void;
}

/** A plugin repository with `files` committed on `master` (DevStack's default ref). */
export function pluginRepo(root: string, name: string, files: Record<string, string>): Repo {
  const work = join(root, 'src', name);
  const bare = join(root, 'repos', `${name}.git`);
  mkdirSync(work, { recursive: true });
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '--quiet', '--bare', '-b', 'master');
  git(work, 'init', '--quiet', '-b', 'master');
  git(work, 'remote', 'add', 'origin', bare);
  const repo: Repo = {
    bare,
    work,
    commit(more, message = 'change') {
      writeFiles(work, more);
      git(work, 'add', '-A');
      git(work, 'commit', '--quiet', '-m', message);
      git(work, 'push', '--quiet', 'origin', 'HEAD');
      return git(work, 'rev-parse', 'HEAD');
    },
    branch(branch) {
      try {
        git(work, 'checkout', '--quiet', branch);
      } catch {
        git(work, 'checkout', '--quiet', '-b', branch);
      }
    },
    tag(tag) {
      git(work, 'tag', tag);
      git(work, 'push', '--quiet', 'origin', tag);
    },
  };
  repo.commit(files, 'first');
  return repo;
}
