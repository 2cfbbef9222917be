// The Knative checker (test/tools/knative-check): Knative Serving's own defaulting and validation,
// built from knative.dev/serving by scripts/build-testbin.sh. KNATIVE_CHECK_BIN names a built binary
// (CI sets it); without it the checker is built here, once, into the cache. A missing Go or a failed
// build fails the tests that need it: they never skip.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildTestbin } from './testbin.js';

const run = promisify(execFile);

/** One line of the checker's output. */
export interface KnativeResult {
  kind: string;
  name: string;
  namespace?: string;
  source: string;
  ok: boolean;
  /** ConfigMaps only: whether Serving's webhook validates this ConfigMap. */
  validated?: boolean;
  /** Knative's own message when refused. */
  error?: string;
  webhook?: string;
  warnings?: string[];
  /** The object as Serving's defaulting leaves it. */
  defaulted?: { spec?: { template?: { spec?: Record<string, unknown> } } } & Record<string, unknown>;
}

export interface KnativeCheck {
  /** 0 all accepted, 1 something refused, 2 bad input. */
  exitCode: number;
  results: KnativeResult[];
  stderr: string;
}

let built: Promise<string> | undefined;

/** The checker binary's path; builds it on first use unless KNATIVE_CHECK_BIN is set. */
export function knativeCheckBin(): Promise<string> {
  built ??= locate();
  return built;
}

async function locate(): Promise<string> {
  const given = process.env.KNATIVE_CHECK_BIN;
  if (given) {
    try {
      accessSync(given, constants.X_OK);
    } catch {
      throw new Error(`KNATIVE_CHECK_BIN=${given} is not an executable file; unset it to build the checker with scripts/build-testbin.sh knative`);
    }
    return given;
  }
  try {
    const dir = await buildTestbin(['knative'], (m) => console.error(`[knative-check] ${m}`));
    return path.join(dir, 'knative-check');
  } catch (err) {
    throw new Error(`building the Knative checker failed (it needs Go and the Go module proxy): ${(err as Error).message}\nBuild it by hand with \`bash scripts/build-testbin.sh knative\` and set KNATIVE_CHECK_BIN to the knative-check binary in the folder it prints.`);
  }
}

/** The knative.dev/serving version the checker was built with (from its Go build info). */
export async function knativeCheckVersion(): Promise<string> {
  const { stdout } = await run(await knativeCheckBin(), ['-version']);
  return stdout.trim();
}

/**
 * Runs the checker: `knativeServing` is the text of the file holding the KnativeServing resource,
 * `objects` the files holding the Knative objects (as rendered: path and content), created in
 * `namespace` unless they name one. Sources in the results are those paths.
 */
export async function knativeCheck(opts: {
  knativeServing?: string;
  objects: ReadonlyArray<{ path: string; content: string }>;
  namespace: string;
}): Promise<KnativeCheck> {
  const bin = await knativeCheckBin();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'llmstack-knative-'));
  try {
    const args = ['-namespace', opts.namespace];
    if (opts.knativeServing !== undefined) {
      await writeFile(path.join(dir, 'KnativeServing.yaml'), opts.knativeServing);
      args.push('-knative-serving', 'KnativeServing.yaml');
    }
    for (const [i, f] of opts.objects.entries()) {
      const rel = path.join(String(i), path.normalize(f.path).replace(/^(\.\.(\/|$))+/, ''));
      await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await writeFile(path.join(dir, rel), f.content);
      args.push(rel);
    }
    let stdout: string;
    let stderr: string;
    let exitCode = 0;
    try {
      ({ stdout, stderr } = await run(bin, args, { cwd: dir, maxBuffer: 64 << 20 }));
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      exitCode = e.code;
      stdout = e.stdout ?? '';
      stderr = e.stderr ?? '';
    }
    const results = stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as KnativeResult)
      .map((r) => ({ ...r, source: r.source.replace(/^\d+\//, '') }));
    return { exitCode, results, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
