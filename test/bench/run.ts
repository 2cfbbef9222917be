// `npm run bench`: generator speed on a 1,000-cluster spec, each phase in a fresh process, with the
// ratio to a floor that writes the same objects to the same files with JSON.stringify. Figures are
// medians of several runs: the machine is small and noisy, so single runs mislead. Then the controller
// on a private kube-apiserver (controller.ts; BENCH_SKIP_CONTROLLER=1 skips it), and the Ollama model
// cache with real Ollama (model-cache.ts; BENCH_SKIP_MODEL_CACHE=1 skips it).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runControllerBench } from './controller.js';
import { runModelCacheBench } from './model-cache.js';

const N = Number(process.env.BENCH_CLUSTERS ?? 1000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const phaseScript = fileURLToPath(new URL('./phase.ts', import.meta.url));
const tsx = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

interface Result {
  phase: string;
  ms: number;
  maxRssMb: number;
  files?: number;
  bytes?: number;
  commit?: boolean;
}

function run(phase: string, dir: string): Result {
  const out = execFileSync(process.execPath, [tsx, phaseScript, phase, dir, String(N)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function measure(phase: string, fresh: boolean, shared?: string): Result & { runs: number[] } {
  const results: Result[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dir = shared ?? mkdtempSync(join(tmpdir(), `llmstack-bench-${phase}-`));
    try {
      results.push(run(phase, dir));
    } finally {
      if (fresh && !shared) rmSync(dir, { recursive: true, force: true });
    }
  }
  const ms = results.map((r) => r.ms);
  return { ...results[0]!, ms: median(ms), maxRssMb: Math.max(...results.map((r) => r.maxRssMb)), runs: ms };
}

console.log(`llmstack generator benchmark: ${N} clusters (all apps), median of ${RUNS} runs, one process per run\n`);
const floor = measure('floor-json', true);
const jsYamlRender = measure('render-js-yaml', true);
const yamlRender = measure('render-yaml', true);

// Cold: a new repo each run. No-op: the same repo again, after one cold run filled it.
const cold = measure('generate', true);
const repo = mkdtempSync(join(tmpdir(), 'llmstack-bench-repo-'));
run('generate', repo);
const noop = measure('generate', false, repo);
rmSync(repo, { recursive: true, force: true });

const row = (name: string, r: { ms: number; maxRssMb: number; runs?: number[] }, extra = '') =>
  console.log(`${name.padEnd(44)} ${String(r.ms).padStart(7)} ms  ${String(r.maxRssMb).padStart(5)} MB peak${r.runs ? `  runs ${r.runs.join('/')}` : ''}${extra}`);

row('floor: JSON.stringify + write', floor, `  (${floor.files} files)`);
row('render + js-yaml (shipped) + write', jsYamlRender, `  ratio ${(jsYamlRender.ms / floor.ms).toFixed(2)}x floor`);
row('render + yaml package + write', yamlRender, `  ratio ${(yamlRender.ms / floor.ms).toFixed(2)}x floor`);
row('generate cold (render, write, git commit)', cold, `  (${cold.files} files, commit ${cold.commit ? 'yes' : 'no'})`);
row('generate no-op re-run', noop, `  (commit ${noop.commit ? 'yes' : 'no'})`);
console.log(`\naims: cold < 3000 ms, no-op < 1000 ms, render/floor < 2.0`);
console.log(
  `      cold ${cold.ms < 3000 ? 'ok' : 'MISSED'}, no-op ${noop.ms < 1000 ? 'ok' : 'MISSED'}, ratio ${jsYamlRender.ms / floor.ms < 2 ? 'ok' : 'MISSED'}`,
);

if (process.env.BENCH_SKIP_CONTROLLER !== '1') await runControllerBench();

if (process.env.BENCH_SKIP_MODEL_CACHE !== '1') await runModelCacheBench(RUNS);
