// DevStack plugins as they are written, through the real `weft devstack` command: plugin
// repositories made here with git (bare repositories, a branch, a tag), their scripts run by real
// bash, a process started in `extra` that unstack stops, and a stack killed with SIGKILL in the
// middle of a plugin call that the next `weft devstack stack` continues at that call.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { tempDir, weft, weftInBackground } from '@weft/testing/cli';
import { git, pluginRepo } from './helpers.js';

/** A plugin.sh that records each call in $DEST/calls.log. */
const recorder = (name: string, more = '') => `
echo "$1 \${2:-} ${name}" >> "$DEST/calls.log"
${more}
`;

function calls(dest: string): string[] {
  return readFileSync(join(dest, 'calls.log'), 'utf8').trim().split('\n');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (ended, not reaped yet) has ended.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

interface Setup {
  root: string;
  dest: string;
  state: string;
  localConf: string;
  run(...args: string[]): ReturnType<typeof weft>;
}

/** A directory with a local.conf (`localrc` lines, given the directory, and more sections) and a state directory. */
function setup(localrc: string[] | ((root: string) => string[]), more = ''): Setup {
  const root = tempDir('weft-devstack-');
  if (typeof localrc === 'function') localrc = localrc(root);
  const dest = join(root, 'stack');
  const state = join(root, 'state');
  const localConf = join(root, 'local.conf');
  writeFileSync(localConf, ['[[local|localrc]]', `DEST=${dest}`, ...localrc, '', more].join('\n'));
  return {
    root,
    dest,
    state,
    localConf,
    run: (...args) => weft(['devstack', ...args, '--state-dir', state], { cwd: root, timeoutMs: 120_000 }),
  };
}

describe('weft devstack', () => {
  test('stack runs every plugin in declaration order at each phase; unstack stops its process; clean', () => {
    const root = tempDir('weft-devstack-repos-');
    const base = pluginRepo(root, 'base', {
      'devstack/override-defaults': `OVERRIDDEN=\${OVERRIDDEN:-yes}\nSEEN_SETTINGS_FIRST=\${FROM_SETTINGS:-no}\n`,
      'devstack/settings': `define_plugin base\nenable_service base-svc\nBASE_PORT=\${BASE_PORT:-1}\nFROM_SETTINGS=yes\n`,
      'devstack/plugin.sh': recorder(
        'base',
        `if is_service_enabled base-svc && [[ $1 == stack && $2 == extra ]]; then
  run_process base-svc "$(command -v sleep) 300"
fi
if [[ $1 == stack && $2 == post-config ]]; then
  mkdir -p "$DEST/etc" && iniset "$DEST/etc/app.conf" DEFAULT from_plugin "$BASE_PORT"
fi`,
      ),
    });
    base.branch('stable');
    const stable = base.commit({ 'devstack/VERSION': 'stable\n' });
    base.branch('master');
    base.commit({ 'devstack/plugin.sh': 'exit 3\n' }, 'broken on main');
    const app = pluginRepo(root, 'app', {
      'devstack/settings': 'define_plugin app\nplugin_requires app base\nenable_service app\n',
      'devstack/plugin.sh': recorder(
        'app',
        `[[ $1 == stack && $2 == install ]] && echo "port=$BASE_PORT overridden=$OVERRIDDEN first=$SEEN_SETTINGS_FIRST enabled=$ENABLED_SERVICES"
[[ $1 == stack && $2 == install && $(trueorfalse False FLAG) == True ]] && echo "flag is true"
true`,
      ),
    });
    app.tag('v1');
    const v1 = git(app.work, 'rev-parse', 'HEAD');
    app.commit({ 'devstack/plugin.sh': 'exit 4\n' }, 'broken after v1');

    const env = setup(
      (dir) => [
        'BASE_PORT=7',
        'FLAG=yes',
        `enable_plugin base file://${base.bare} stable`,
        // A path relative to local.conf's directory.
        `enable_plugin app ${relative(dir, app.bare)} v1`,
      ],
      [
        '[[post-config|$DEST/etc/app.conf]]',
        '[DEFAULT]',
        'port = $BASE_PORT',
        '# a comment',
        'multi = a',
        'multi = b',
        '[other]',
        'x = y',
        '[[test-config|$DEST/etc/tempest.conf]]',
        '[service_available]',
        'app = True',
      ].join('\n'),
    );
    const stacked = env.run('stack', env.localConf);
    assert.equal(stacked.code, 0, stacked.stderr + stacked.stdout);
    assert.deepEqual(calls(env.dest), [
      'stack pre-install base',
      'stack pre-install app',
      'stack install base',
      'stack install app',
      'stack post-config base',
      'stack post-config app',
      'stack extra base',
      'stack extra app',
      'stack test-config base',
      'stack test-config app',
    ]);
    // localrc's value wins over the settings' default; override-defaults ran before settings.
    assert.match(stacked.stdout, /app: port=7 overridden=yes first=no enabled=base-svc,app/);
    assert.match(stacked.stdout, /app: flag is true/);
    // Each plugin at its ref, whatever came after it.
    assert.equal(git(join(env.dest, 'base'), 'rev-parse', 'HEAD'), stable);
    assert.equal(git(join(env.dest, 'app'), 'rev-parse', 'HEAD'), v1);
    // post-config merged after the plugins' post-config, shell variables expanded, values in order.
    assert.equal(
      readFileSync(join(env.dest, 'etc', 'app.conf'), 'utf8'),
      '\n[DEFAULT]\nport = 7\nmulti = a\nmulti = b\nfrom_plugin = 7\n\n[other]\nx = y\n',
    );
    assert.equal(
      readFileSync(join(env.dest, 'etc', 'tempest.conf'), 'utf8'),
      '\n[service_available]\napp = True\n',
    );
    const pid = Number(readFileSync(join(env.dest, 'status', 'base-svc.pid'), 'utf8'));
    assert.ok(alive(pid), 'the process run_process started runs');

    const unstacked = env.run('unstack');
    assert.equal(unstacked.code, 0, unstacked.stderr + unstacked.stdout);
    assert.deepEqual(calls(env.dest).slice(-2), ['unstack  base', 'unstack  app']);
    assert.ok(!alive(pid), 'unstack stopped it');
    assert.ok(!existsSync(join(env.dest, 'status', 'base-svc.pid')));

    // Stacked again after unstack, as stack.sh is: every phase runs again.
    assert.equal(env.run('stack', env.localConf).code, 0);
    assert.equal(calls(env.dest).filter((c) => c === 'stack pre-install base').length, 2);
    const again = Number(readFileSync(join(env.dest, 'status', 'base-svc.pid'), 'utf8'));
    assert.ok(alive(again));

    const cleaned = env.run('clean');
    assert.equal(cleaned.code, 0, cleaned.stderr + cleaned.stdout);
    assert.deepEqual(calls(env.dest).slice(-4), [
      'unstack  base',
      'unstack  app',
      'clean  base',
      'clean  app',
    ]);
    assert.ok(!alive(again));
    assert.match(weft(['deployments', '--state-dir', env.state]).stdout, /No deployments/);
  });

  test('a function Weft does not provide fails with its name and the plugin file:line', () => {
    const root = tempDir('weft-devstack-repos-');
    const cloudy = pluginRepo(root, 'cloudy', {
      'devstack/plugin.sh': `echo "$1 \${2:-}" >> "$DEST/calls.log"
if [[ $1 == stack && $2 == install ]]; then
  echo "creating accounts"
  get_or_create_service cloudy identity "Cloudy service"
  echo "not reached" >> "$DEST/calls.log"
fi
`,
    });
    const env = setup([`enable_plugin cloudy ${cloudy.bare}`]);
    const result = env.run('stack', env.localConf);
    assert.equal(result.code, 1);
    const plugin = join(env.dest, 'cloudy', 'devstack', 'plugin.sh');
    // The failure names the plugin, the phase and what went wrong where.
    assert.match(
      result.stderr,
      new RegExp(
        `error: DevStack plugin cloudy at stack install failed \\(exit 127\\): ${plugin}:4: get_or_create_service: command not found`,
      ),
    );
    // Its last output is in the report.
    assert.match(result.stderr, /creating accounts/);
    assert.deepEqual(calls(env.dest), ['stack pre-install', 'stack install']);
  });

  test('local.conf errors: a plugin enabled twice (exit 2, its line), a plugin that cannot be fetched', () => {
    const twice = setup(['enable_plugin a /nowhere/a', '', 'enable_plugin a /nowhere/b stable']);
    const result = twice.run('stack', twice.localConf);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `error: ${twice.localConf}:5: Plugin attempted to be enabled twice: a /nowhere/b stable\n`,
    );
    assert.match(weft(['deployments', '--state-dir', twice.state]).stdout, /No deployments/);

    const root = tempDir('weft-devstack-repos-');
    const repo = pluginRepo(root, 'real', { 'devstack/plugin.sh': 'true\n' });
    const missing = setup([`enable_plugin real ${repo.bare} no-such-branch`]);
    const failed = missing.run('stack', missing.localConf);
    assert.equal(failed.code, 1);
    assert.match(
      failed.stderr,
      new RegExp(`DevStack plugin real: cannot fetch ${repo.bare} at no-such-branch: `),
    );
    const gone = setup(['enable_plugin gone file:///nonexistent/gone.git']);
    assert.match(
      gone.run('packages', gone.localConf).stderr,
      /^error: DevStack plugin gone: cannot fetch file:\/\/\/nonexistent\/gone.git at master: fatal: /,
    );
  });

  test('plugin_requires: a missing requirement and a cycle name the chain; --order-by-requires', () => {
    const root = tempDir('weft-devstack-repos-');
    const repo = (name: string, requires: string[]) =>
      pluginRepo(root, name, {
        'devstack/settings': [
          `define_plugin ${name}`,
          ...requires.map((r) => `plugin_requires ${name} ${r}`),
        ].join('\n'),
        'devstack/plugin.sh': recorder(name),
      }).bare;
    const top = repo('top', ['middle']);
    const middle = repo('middle', ['bottom']);
    const bottom = repo('bottom', []);

    const missing = setup([`enable_plugin top ${top}`, `enable_plugin middle ${middle}`]);
    const failed = missing.run('stack', missing.localConf);
    assert.equal(failed.code, 1);
    assert.match(
      failed.stderr,
      /DevStack plugin top requires middle requires bottom, which is not enabled \(add enable_plugin bottom URL to local\.conf\)/,
    );

    const a = repo('a', ['b']);
    const b = repo('b', ['a']);
    const cycle = setup([`enable_plugin a ${a}`, `enable_plugin b ${b}`]);
    assert.match(
      cycle.run('stack', cycle.localConf).stderr,
      /require each other in a cycle: a requires b requires a/,
    );

    // Declared top first: without the option, declaration order (and a warning); with it, requirements first.
    const lines = [
      `enable_plugin top ${top}`,
      `enable_plugin middle ${middle}`,
      `enable_plugin bottom ${bottom}`,
    ];
    const declared = setup(lines);
    const plain = declared.run('stack', declared.localConf);
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(calls(declared.dest).slice(0, 3), [
      'stack pre-install top',
      'stack pre-install middle',
      'stack pre-install bottom',
    ]);
    assert.match(plain.stdout, /top requires middle, which local\.conf enables after it/);
    const ordered = setup(lines);
    const result = ordered.run('stack', ordered.localConf, '--order-by-requires');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(calls(ordered.dest).slice(0, 3), [
      'stack pre-install bottom',
      'stack pre-install middle',
      'stack pre-install top',
    ]);
  });

  test('packages: listed, needed without --allow-packages, installed with it', () => {
    const root = tempDir('weft-devstack-repos-');
    const repo = pluginRepo(root, 'pkgs', {
      'devstack/files/debs/pkgs': 'cowsay # the cow\n\nfortune-mod\n',
      'devstack/files/rpms/pkgs': 'cowsay\nfortune-mod\n',
      'devstack/files/rpms-suse/pkgs': 'cowsay\nfortune-mod\n',
      'devstack/plugin.sh':
        '[[ $1 == stack && $2 == pre-install ]] && install_package weft-test-no-such-package\ntrue\n',
    });
    // Package managers of the test's own, recording what they are asked.
    const bin = join(root, 'bin');
    const record = join(root, 'installed');
    mkdirSync(bin);
    for (const manager of ['apt-get', 'dnf', 'zypper'])
      writeFileSync(join(bin, manager), `#!/bin/bash\necho "${manager} $*" >> ${record}\n`, { mode: 0o755 });
    writeFileSync(join(bin, 'sudo'), '#!/bin/bash\nexec "$@"\n', { mode: 0o755 });

    const env = setup([`enable_plugin pkgs ${repo.bare}`]);
    const listed = env.run('packages', env.localConf);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^pkgs \((debs|rpms|rpms-suse)\): cowsay fortune-mod$/m);

    const stacked = env.run('stack', env.localConf);
    assert.equal(stacked.code, 0, stacked.stderr);
    assert.match(
      stacked.stdout,
      /pkgs lists packages \((debs|rpms|rpms-suse)\), not installed without --allow-packages: cowsay fortune-mod/,
    );
    assert.match(
      stacked.stdout,
      /package needed, not installed \(run with --allow-packages to install it\): weft-test-no-such-package/,
    );
    const { instances } = JSON.parse(
      weft(['instances', '--json', '--state-dir', env.state, '-d', 'devstack']).stdout,
    );
    assert.deepEqual(instances[0].runtimeProperties.devstack.packages_needed, [
      'cowsay',
      'fortune-mod',
      'weft-test-no-such-package',
    ]);
    assert.ok(!existsSync(record));

    const allowed = setup([`enable_plugin pkgs ${repo.bare}`]);
    const result = weft(
      ['devstack', 'stack', allowed.localConf, '--allow-packages', '--state-dir', allowed.state],
      {
        env: { PATH: `${bin}:${process.env.PATH}` },
        timeoutMs: 120_000,
      },
    );
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const asked = readFileSync(record, 'utf8');
    assert.match(
      asked,
      /(apt-get install -y cowsay fortune-mod|dnf install -y cowsay fortune-mod|zypper --non-interactive install cowsay fortune-mod)/,
    );
    assert.match(asked, /weft-test-no-such-package/);
  });

  test('killed with SIGKILL mid-stack, the next stack goes on at the call it interrupted', async () => {
    const root = tempDir('weft-devstack-repos-');
    const first = pluginRepo(root, 'first', { 'devstack/plugin.sh': recorder('first') });
    // Its install waits until the test lets it go: the crash comes while it runs.
    const slow = pluginRepo(root, 'slow', {
      'devstack/plugin.sh': recorder(
        'slow',
        `if [[ $1 == stack && $2 == install && ! -e "$DEST/go" ]]; then
  echo $$ > "$DEST/slow.pid"
  echo "slow is waiting"
  while [[ ! -e "$DEST/go" ]]; do sleep 0.05; done
fi`,
      ),
    });
    const env = setup([`enable_plugin first ${first.bare}`, `enable_plugin slow ${slow.bare}`]);
    const running = weftInBackground(['devstack', 'stack', env.localConf, '--state-dir', env.state]);
    await running.line(/slow: slow is waiting/);
    running.child.kill('SIGKILL');
    await running.exit;
    // The machine went down: the plugin's bash goes too.
    process.kill(-Number(readFileSync(join(env.dest, 'slow.pid'), 'utf8')), 'SIGKILL');
    assert.deepEqual(calls(env.dest), [
      'stack pre-install first',
      'stack pre-install slow',
      'stack install first',
      'stack install slow',
    ]);
    writeFileSync(join(env.dest, 'go'), '');

    const resumed = env.run('stack', env.localConf);
    assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
    assert.match(resumed.stdout, /Continuing install execution/);
    assert.match(resumed.stdout, /stack install first: done before, not run again/);
    // Only the interrupted call runs again; the rest of the stack follows.
    assert.deepEqual(calls(env.dest), [
      'stack pre-install first',
      'stack pre-install slow',
      'stack install first',
      'stack install slow',
      'stack install slow',
      'stack post-config first',
      'stack post-config slow',
      'stack extra first',
      'stack extra slow',
      'stack test-config first',
      'stack test-config slow',
    ]);
  });
});
