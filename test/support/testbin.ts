// Runs scripts/build-testbin.sh (a no-op when its cache already holds the binaries) and returns the
// folder it prints on its last line. Its progress lines go to `log` as they come: a cold build takes
// minutes, and a silent test run looks hung.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

export async function buildTestbin(args: readonly string[], log: (m: string) => void): Promise<string> {
  const script = path.join(repoRoot, 'scripts/build-testbin.sh');
  const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errTail = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    const text = d.toString();
    errTail = (errTail + text).slice(-3000);
    for (const line of text.split('\n')) if (line.trim()) log(line);
  });
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(null));
    child.on('close', resolve);
  });
  const dir = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !dir) throw new Error(`scripts/build-testbin.sh ${args.join(' ')} failed (exit ${code}):\n${errTail.trim()}`);
  return dir;
}
