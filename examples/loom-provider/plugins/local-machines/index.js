// A Loom provider and automator, written as a Loom user writes them (Coopr's Ruby classes, in
// JavaScript): each task method gets the task's config (earlier results) and the task, and returns
// Loom's @result: a status (0 is success), and a `result` whose keys reach later tasks.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { Automator, Provider } from '@weft/sdk';

/**
 * A "machine" is a directory under `root`; it answers on 127.0.0.1. Besides Loom's usual results
 * (`providerid`, `ssh-auth`, `ipaddress`, `hostname`), it returns the machine's `directory`: what
 * the later tasks on it, an automator's included, get in their config, where a real provider's
 * automators find the `ipaddress` and `ssh-auth` to reach the machine with.
 */
export class LocalDirProvider extends Provider {
  create(_config, task) {
    const { root, flavor, api_token: token } = task.properties;
    if (!token) return { status: 1, stderr: 'no API token' };
    const providerid = `${task.instanceId}-${flavor}`;
    const directory = join(root, providerid);
    mkdirSync(directory, { recursive: true });
    this.output(`requested machine ${providerid}`);
    return {
      status: 0,
      result: {
        providerid,
        directory,
        'ssh-auth': { user: userInfo().username, identityfile: '~/.ssh/id_rsa' },
      },
    };
  }

  confirm(config) {
    if (!existsSync(config.directory)) return { status: 1, stderr: `machine ${config.providerid} is gone` };
    writeFileSync(join(config.directory, 'hostname'), `${config.providerid}.local\n`);
    return { status: 0, result: { ipaddress: '127.0.0.1', hostname: `${config.providerid}.local` } };
  }

  delete(config) {
    if (config.directory) rmSync(config.directory, { recursive: true, force: true });
    return { status: 0 };
  }
}

/**
 * Runs a service action's script with bash on the machine, in its directory. An automator knows
 * its machine only by what the provider returned (the task's config); its node's properties are
 * the service's own (`script`, `args`).
 */
export class LocalShellAutomator extends Automator {
  run(config, task) {
    const script = task.fields.script ?? task.properties.script;
    if (!script) return { status: 0 };
    if (!config.directory)
      return {
        status: 1,
        stderr: 'no machine directory in the config: is the service on a localdir machine?',
      };
    const args = String(task.fields.args ?? task.properties.args ?? '')
      .split(' ')
      .filter(Boolean);
    try {
      const stdout = execFileSync('bash', ['-c', script, 'script', ...args], {
        cwd: config.directory,
        encoding: 'utf8',
        env: {
          ...process.env,
          // As Coopr's shell automator, the staged `scripts` resources are on PATH.
          PATH: `${join(task.workdir, 'scripts')}:${process.env.PATH}`,
          LOOM_HOST: config.hostname ?? '',
          LOOM_IP: config.ipaddress ?? '',
        },
      });
      return { status: 0, stdout };
    } catch (error) {
      return { status: error.status ?? 1, stdout: error.stdout, stderr: error.stderr };
    }
  }

  bootstrap(config) {
    this.output(`bootstrapping ${config.hostname}`);
    return { status: 0, result: { bootstrapped: true } };
  }

  install(config, task) {
    return this.run(config, task);
  }

  configure(config, task) {
    return this.run(config, task);
  }

  start(config, task) {
    return this.run(config, task);
  }

  remove(config, task) {
    return this.run(config, task);
  }
}
