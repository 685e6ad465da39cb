/**
 * DevStack's local.conf: meta-sections `[[GROUP|FILE]]`, read as DevStack's inc/meta-config
 * reads them. `[[local|localrc]]` is bash, sourced before anything else; the other groups
 * (post-config, extra, post-extra, test-config) hold ini text merged into FILE (a path that may
 * name shell variables, such as `$NOVA_CONF`) at their point of the run.
 */

export interface MetaLine {
  text: string;
  /** 1-based line of local.conf. */
  line: number;
}

export interface MetaSection {
  group: string;
  /** The file as written, evaluated by the shell when merged. */
  file: string;
  /** 1-based line of the `[[...]]` header. */
  line: number;
  body: MetaLine[];
}

export interface LocalConf {
  path: string;
  lineCount: number;
  sections: MetaSection[];
}

/** DevStack's header pattern: `[[` at the start of the line, a `|`, `]]`. */
const HEADER = /^\[\[(.+)\]\]/;

export function parseLocalConf(path: string, text: string): LocalConf {
  const lines = text.split(/\r?\n/);
  const sections: MetaSection[] = [];
  let current: MetaSection | undefined;
  lines.forEach((raw, index) => {
    const line = index + 1;
    const header = HEADER.exec(raw);
    if (header && header[1]!.includes('|')) {
      // As DevStack's awk: the first whitespace-separated field, without brackets, split on `|`.
      const field = raw.trim().split(/\s+/)[0]!.replace(/[[\]]/g, '');
      const bar = field.indexOf('|');
      current = { group: field.slice(0, bar), file: field.slice(bar + 1), line, body: [] };
      sections.push(current);
      return;
    }
    current?.body.push({ text: raw, line });
  });
  return { path, lineCount: lines.length, sections };
}

/**
 * The localrc section as a file to source, padded with empty lines so that bash's line numbers
 * (`$LINENO`, error messages) are local.conf's. Several `[[local|localrc]]` sections are one, in
 * order, as DevStack concatenates them.
 */
export function localrcScript(conf: LocalConf): string {
  const out: string[] = new Array(conf.lineCount).fill('');
  for (const section of conf.sections) {
    if (section.group !== 'local' || section.file !== 'localrc') continue;
    for (const { text, line } of section.body) out[line - 1] = text;
  }
  return out.join('\n') + '\n';
}

/** The groups local.conf merges at a point of the run, in the order stack.sh merges them. */
export const MERGE_GROUPS = ['post-config', 'extra', 'post-extra', 'test-config'] as const;
export type MergeGroup = (typeof MERGE_GROUPS)[number];

export function hasGroup(conf: LocalConf, group: string): boolean {
  return conf.sections.some((s) => s.group === group);
}

interface Setting {
  section: string;
  attr: string;
  values: string[];
}

/** Text for inside bash double quotes: the shell still expands `$VAR`, as DevStack's eval does. */
function dq(text: string): string {
  return `"${text.replace(/(["\\`])/g, '\\$1')}"`;
}

/**
 * Bash that merges one group into its files, as DevStack's merge_config_group: each file's
 * directory is created, each `option = value` set in its section with iniset; an option given
 * several times in one section becomes a multi-line option holding all its values in order.
 * Values keep DevStack's shell expansion (`$HOST_IP` in a value is the variable's value).
 */
export function mergeScript(conf: LocalConf, group: MergeGroup): string {
  const out: string[] = [];
  for (const meta of conf.sections) {
    if (meta.group !== group) continue;
    const settings: Setting[] = [];
    let section = '';
    for (const { text } of meta.body) {
      const header = /^\[(.+)\]/.exec(text);
      if (header) {
        section = header[1]!;
        continue;
      }
      if (/^ *#/.test(text) || !/^[^ \t]/.test(text)) continue;
      const eq = text.indexOf('=');
      const attr = (eq < 0 ? text : text.slice(0, eq)).replace(/[ \t]*$/, '');
      const value = eq < 0 ? '' : text.slice(eq + 1).trim();
      const known = settings.find((s) => s.section === section && s.attr === attr);
      if (known) known.values.push(value);
      else settings.push({ section, attr, values: [value] });
    }
    const where = `${conf.path}:${meta.line}`;
    out.push(
      `_weft_cfg=$(eval "echo ${meta.file.replace(/(["\\`])/g, '\\$1')}")`,
      `if [[ -z $_weft_cfg ]]; then`,
      `    echo ${dq(`[WARNING] ${where} unknown config file specification: ${meta.file} is undefined`)}`,
      `else`,
      `    _weft_dir=$(dirname "$_weft_cfg")`,
      `    if [[ -e $_weft_dir && ! -d $_weft_dir ]]; then die $LINENO ${dq(`bogus config file specification ${meta.file} (${where}): $_weft_dir exists but it is not a directory`)}; fi`,
      `    mkdir -p "$_weft_dir" && touch "$_weft_cfg" || die $LINENO ${dq(`could not create the config file ${meta.file} ($_weft_cfg, ${where})`)}`,
      `    echo ${dq(`Merging ${group} of local.conf into $_weft_cfg`)}`,
    );
    // In reverse, as DevStack: iniset puts a new option right after its section's header.
    for (const { section: s, attr, values } of [...settings].reverse()) {
      const args = `"$_weft_cfg" ${dq(s)} ${dq(attr)}`;
      if (values.length === 1) {
        out.push(`    iniset ${args} ${dq(values[0]!)}`);
        continue;
      }
      out.push(`    inidelete ${args}`, `    iniset ${args} ${dq(values.at(-1)!)}`);
      for (const value of values.slice(0, -1).reverse()) out.push(`    iniadd_literal ${args} ${dq(value)}`);
    }
    out.push('fi');
  }
  return out.join('\n') + '\n';
}
