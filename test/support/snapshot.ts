// A byte-and-mode picture of a folder, to show that a refused run changed nothing anywhere in it.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Every entry under `dir`, sorted: type, mode and content hash (symbolic links: their target). */
export async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    const abs = join(dir, rel);
    const s = await lstat(abs);
    const mode = (s.mode & 0o7777).toString(8);
    if (s.isSymbolicLink()) out.push(`${rel} link ${await readlink(abs)}`);
    else if (s.isDirectory()) {
      out.push(`${rel}/ dir ${mode}`);
      for (const e of (await readdir(abs)).sort()) await walk(rel ? `${rel}/${e}` : e);
    } else out.push(`${rel} file ${mode} ${createHash('sha256').update(await readFile(abs)).digest('hex').slice(0, 16)}`);
  };
  await walk('');
  return out;
}
