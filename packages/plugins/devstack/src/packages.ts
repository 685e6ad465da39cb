/**
 * A plugin's system packages: `devstack/files/debs/NAME` (Debian, Ubuntu), `rpms/NAME` (Red Hat,
 * Fedora, CentOS) and `rpms-suse/NAME` (SUSE), one package a line, `#` starting a comment, as
 * DevStack's package files. DevStack's per-distribution metadata in comments (`dist:`,
 * `not-for:`) is not read: every package listed counts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type PackageFormat = 'debs' | 'rpms' | 'rpms-suse';

export interface PackageList {
  plugin: string;
  format: PackageFormat;
  file: string;
  packages: string[];
}

/** This machine's kind of package list. */
export function localPackageFormat(): PackageFormat {
  if (existsSync('/etc/debian_version')) return 'debs';
  if (existsSync('/etc/SuSE-release') || /suse/i.test(safeRead('/etc/os-release'))) return 'rpms-suse';
  if (existsSync('/etc/redhat-release')) return 'rpms';
  return 'debs';
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function parsePackageFile(text: string): string[] {
  const packages: string[] = [];
  for (const line of text.split('\n')) {
    const name = line.replace(/#.*/, '').trim().split(/\s+/)[0];
    if (name && !packages.includes(name)) packages.push(name);
  }
  return packages;
}

/** The package lists of the plugins (name and checkout) that have one in the given format. */
export function pluginPackages(
  plugins: { name: string; dir: string }[],
  format: PackageFormat,
): PackageList[] {
  const lists: PackageList[] = [];
  for (const plugin of plugins) {
    const file = join(plugin.dir, 'devstack', 'files', format, plugin.name);
    if (!existsSync(file)) continue;
    lists.push({ plugin: plugin.name, format, file, packages: parsePackageFile(readFileSync(file, 'utf8')) });
  }
  return lists;
}

/** The command line that installs packages with this machine's package manager. */
export function installCommand(format: PackageFormat, packages: string[]): string[] {
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  if (format === 'debs')
    return [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', ...packages];
  if (format === 'rpms-suse') return [...sudo, 'zypper', '--non-interactive', 'install', ...packages];
  return [...sudo, 'dnf', 'install', '-y', ...packages];
}
