#!/usr/bin/env node
// The llmstack command. It runs the compiled CLI in dist/ (`npm run build`; `npm ci` and `npm pack` build
// it through the prepare script). A source checkout whose src/ is newer than that build (an edit, a pull)
// or that has none runs src/ through tsx, a development dependency, so it never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const built = `${root}dist/cli/main.js`;
const source = `${root}src/cli/main.ts`;

/** Whether any file under dir changed after the build. */
function newerThan(builtAt, dir) {
  return readdirSync(dir, { withFileTypes: true }).some((e) =>
    e.isDirectory() ? newerThan(builtAt, `${dir}/${e.name}`) : statSync(`${dir}/${e.name}`).mtimeMs > builtAt,
  );
}
const sourceIsNewer = () => newerThan(statSync(built).mtimeMs, `${root}src`);

let entry = built;
if (existsSync(source) && (!existsSync(built) || sourceIsNewer())) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    entry = source;
  } catch {
    // tsx is not installed (npm ci --omit=dev): the build, when there is one, is all there is.
  }
}
if (!existsSync(entry)) {
  process.stderr.write(`llmstack: ${built} is missing: run \`npm run build\` in ${root}\n`);
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
