// Loom manifests as Coopr ships them: Coopr's own shell_automator.json, unchanged, is a plugin
// whose generated node type has a property per field; a broken manifest is refused with each
// problem at its key.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatedFile } from '../src/io/generated-files.js';
import { type DiscoveredPlugin, discoverPlugins } from '../src/runtime/plugins.js';

/** The generated types a Loom plugin's `plugin:NAME` imports: held in memory, not written. */
function typesText(plugin: DiscoveredPlugin): string {
  assert.equal(existsSync(plugin.typesFile!), false, 'no file is written');
  return new TextDecoder().decode(generatedFile(plugin.typesFile!));
}

// coopr-provisioner lib/provisioner/worker/plugins/automators/shell_automator/shell_automator.json
const SHELL = `{
  "name": "shell",
  "description": "Run shell commands and scripts",
  "automatortypes": [ "shell" ],
  "shell": {
    "name": "shell",
    "classname": "ShellAutomator",
    "resourceTypes": {
        "scripts": {
            "format": "file",
            "permissions": "0755"
        },
        "archives": {
            "format": "archive"
        }
    },
    "parameters": {
      "admin": {
        "fields": {
          "script": {
            "label": "Script",
            "override": false,
            "type": "text",
            "tip": "The script or command to run"
          },
          "args": {
            "label": "Arguments",
            "override": false,
            "type": "text",
            "tip": "The arguments to the script"
          }
        },
        "required": [
          [ "script" ]
        ]
      }
    }
  }
}
`;

function pluginDir(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'weft-loom-manifest-'));
  const dir = join(root, 'plugin');
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return root;
}

test("Coopr's shell_automator.json, as shipped, is a plugin with a generated node type", () => {
  const root = pluginDir({ 'shell_automator.json': SHELL, 'index.js': 'export class ShellAutomator {}\n' });
  const [plugin] = discoverPlugins([root]);
  assert.ok(plugin);
  assert.deepEqual(plugin.problems, []);
  assert.equal(plugin.name, 'shell');
  assert.equal(plugin.format, 'loom');
  // Beside the manifest, by a name no author writes.
  assert.equal(
    plugin.typesFile,
    join(root, 'plugin', '(node types generated from shell_automator.json).yaml'),
  );
  const types = typesText(plugin!);
  assert.match(types, /^ {2}loom\.automator\.shell:\n {4}derived_from: cloudify\.nodes\.SoftwareComponent$/m);
  assert.match(
    types,
    /^ {6}script:\n {8}type: string\n {8}description: "Script: The script or command to run"$/m,
  );
  assert.match(types, /^ {8}create: shell\.ShellAutomator\.create$/m);
  assert.match(types, /^ {8}start: shell\.ShellAutomator\.start$/m);
});

test('a password field is a secret; a broken manifest is refused, each problem at its key', () => {
  const good = pluginDir({
    'plugin.json': JSON.stringify({
      name: 'cloud',
      providertypes: ['acme'],
      acme: {
        classname: 'Acme',
        parameters: {
          admin: {
            fields: { api_key: { label: 'Key', type: 'password' }, big: { type: 'checkbox', default: true } },
          },
        },
      },
    }),
    'index.js': '',
  });
  const [cloud] = discoverPlugins([good]);
  assert.deepEqual(cloud!.problems, []);
  const types = typesText(cloud!);
  assert.match(
    types,
    /api_key:\n {8}type: string\n.*\n {8}hidden: true\n {8}default: \{get_secret: "acme_api_key"\}/,
  );
  assert.match(types, /big:\n {8}type: boolean\n {8}default: true/);
  assert.match(types, /derived_from: cloudify\.nodes\.Compute/);

  const bad = pluginDir({
    'manifest.json':
      '{\n  "name": "bad",\n  "providertypes": ["gone", "nameless"],\n  "nameless": {"name": "nameless"}\n}\n',
    'index.js': '',
  });
  const [plugin] = discoverPlugins([bad]);
  assert.deepEqual(
    plugin!.problems.map((p) => `${p.line}:${p.col} ${p.message}`),
    [
      '3:3 declared providertype "gone" is not defined (no "gone" object in the manifest)',
      '4:3 providertype "nameless" does not define an implementor classname',
      '1:1 lists no providertypes or automatortypes',
    ],
  );
  assert.equal(plugin!.typesFile, undefined);
});

test("Loom's required fields are required properties; required names and resource types are checked", () => {
  const fields = {
    region: { type: 'text' },
    zone: { type: 'text' },
    key: { type: 'text' },
    size: { type: 'text', default: 'm1' },
  };
  const root = pluginDir({
    'cloud.json': JSON.stringify({
      name: 'cloud',
      providertypes: ['acme'],
      // Every alternative names region; only some name zone or key.
      acme: {
        classname: 'Acme',
        parameters: {
          admin: {
            fields,
            required: [
              ['region', 'zone', 'size'],
              ['region', 'key'],
            ],
          },
        },
      },
    }),
    'index.js': '',
  });
  const [cloud] = discoverPlugins([root]);
  assert.deepEqual(cloud!.problems, []);
  const types = typesText(cloud!);
  assert.match(types, /^ {6}region:\n {8}type: string\n {8}required: true$/m);
  assert.match(types, /^ {6}zone:\n {8}type: string\n {8}required: false$/m);
  assert.match(types, /^ {6}key:\n {8}type: string\n {8}required: false$/m);
  assert.match(types, /^ {6}size:\n {8}type: string\n {8}default: "m1"$/m);

  const bad = pluginDir({
    'cloud.json': `{
  "name": "cloud",
  "automatortypes": ["shell"],
  "shell": {
    "classname": "Shell",
    "resourceTypes": { "scripts": { "format": "file", "permissions": "rwx" }, "blobs": { "format": "tarball" } },
    "parameters": { "admin": { "fields": { "script": { "type": "text" } }, "required": [["script", "argz"]] } }
  }
}
`,
    'index.js': '',
  });
  const [broken] = discoverPlugins([bad]);
  assert.deepEqual(
    broken!.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`),
    [
      '7:76 shell.parameters.admin.required: names "argz", not among the admin fields of automatortype "shell"',
      '6:24 shell.resourceTypes.scripts.permissions: expected octal permissions such as "0755", not "rwx"',
      '6:79 shell.resourceTypes.blobs: expected {"format": "file" or "archive", "permissions"?}',
    ],
  );
});

test("a provider's user fields (Coopr's parameters.user) are properties too, required as their section says", () => {
  const root = pluginDir({
    'fog.json': JSON.stringify({
      name: 'fog',
      providertypes: ['joyent'],
      joyent: {
        classname: 'FogProviderJoyent',
        parameters: {
          admin: { fields: { api_url: { type: 'text', default: 'https://api.example' } } },
          user: {
            fields: {
              joyent_username: { label: 'Username', type: 'text' },
              joyent_password: { label: 'Password', type: 'password' },
              joyent_region: { type: 'text' },
            },
            required: [['joyent_username', 'joyent_password']],
          },
        },
      },
    }),
    'index.js': '',
  });
  const [fog] = discoverPlugins([root]);
  assert.deepEqual(fog!.problems, []);
  const types = typesText(fog!);
  assert.match(
    types,
    /^ {6}joyent_username:\n {8}type: string\n {8}description: "Username; a user field \(Loom: parameters.user\)"\n {8}required: true$/m,
  );
  assert.match(
    types,
    /^ {6}joyent_password:\n(?: {8}.*\n)* {8}hidden: true\n {8}default: \{get_secret: "joyent_joyent_password"\}$/m,
  );
  assert.match(types, /^ {6}joyent_region:\n {8}type: string\n.*\n {8}required: false$/m);
  // An admin field without override is the blueprint's alone; user fields are not marked.
  assert.match(
    types,
    /^ {6}api_url:\n {8}type: string\n {8}default: "https:\/\/api.example"\n {8}override: false$/m,
  );
  assert.doesNotMatch(types, /^ {6}joyent_\w+:\n(?: {8}.*\n)*? {8}override: false$/m);
});
