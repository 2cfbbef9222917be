// `llmstack init`: a commented starter spec the user edits.
import { readFile, writeFile } from 'node:fs/promises';
import { EXIT, UserError } from '../errors.js';
import { EMBEDDED_SPEC } from './common.js';

export async function initCommand(o: { out: string; name?: string; force?: boolean }, print: (s: string) => void): Promise<void> {
  // The modeline points into this package's folder; a user's copy lives elsewhere.
  let text = (await readFile(EMBEDDED_SPEC, 'utf8')).replace(/^# yaml-language-server:.*\n/m, '');
  if (o.name) {
    if (!/^[a-z0-9]([-a-z0-9]{0,28}[a-z0-9])?$/.test(o.name)) {
      throw new UserError(`--name ${o.name}: not a valid stack name`, EXIT.invalidInput, 'use up to 30 lower-case letters, digits and "-"');
    }
    text = text.replace(/^(\s*name:\s*)quickstart\s*$/m, `$1${o.name}`);
  }
  try {
    await writeFile(o.out, text, { flag: o.force ? 'w' : 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UserError(`${o.out} already exists`, EXIT.invalidInput, 'pass --force to overwrite it, or --out another file');
    }
    throw e;
  }
  print(`wrote ${o.out}: edit it, then run \`llmstack generate --spec ${o.out}\``);
}
