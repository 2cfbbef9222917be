// Runs the real LiteLLM proxy (PyPI `litellm[proxy]`, at the version the shipped image carries) as a
// process on a loopback port with a given config.yaml, for tests that send it real requests.
// scripts/install-litellm.sh puts it in a virtualenv cached outside the repository.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Stack } from '../../src/spec/schema.js';
import { repoRoot } from './paths.js';
import { freePorts } from './controlplane.js';

const execFileP = promisify(execFile);

/** The image the spec defaults to, e.g. ghcr.io/berriai/litellm:main-v1.77.7-stable. */
export function defaultLitellmImage(): string {
  return Stack.parse({ apiVersion: 'llmstack.dev/v1alpha1', kind: 'Stack', metadata: { name: 'x' } }).spec.apps.litellm.image;
}

/**
 * The PyPI version inside a LiteLLM image: `main-vX.Y.Z-stable` (or `main-vX.Y.Z`) is release X.Y.Z,
 * as BerriAI's release notes pair them (docs/my-website/release_notes/v1.77.5-stable: image
 * v1.77.5-stable, `pip install litellm==1.77.5`; the v1.77.7-stable notes were written at its
 * release candidate, 1.77.7.rc.1, and 1.77.7 is the final release on PyPI). The image itself cannot
 * be pulled here to compare its site-packages.
 */
export function litellmPypiVersion(image: string): string {
  const m = /:main-v(\d+\.\d+\.\d+)(?:-stable)?$/.exec(image);
  if (!m) throw new Error(`cannot tell the PyPI version of LiteLLM image "${image}": expected a tag main-vX.Y.Z[-stable]`);
  return m[1]!;
}

let installed: Promise<string> | undefined;

/** The virtualenv holding litellm[proxy] at `version`, installed once per machine. */
export function ensureLitellm(version = litellmPypiVersion(defaultLitellmImage())): Promise<string> {
  installed ??= execFileP('bash', [path.join(repoRoot, 'scripts/install-litellm.sh'), version], { maxBuffer: 1 << 24 }).then(
    ({ stdout }) => stdout.trim().split('\n').at(-1)!,
    (err: Error & { stderr?: string }) => {
      installed = undefined;
      throw new Error(`scripts/install-litellm.sh ${version} failed: ${err.message}\n${err.stderr ?? ''}`);
    },
  );
  return installed;
}

export interface LitellmProxy {
  url: string;
  port: number;
  /** The proxy's combined stdout/stderr so far. */
  log(): string;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

// A test process that exits or is signalled takes its proxies with it ('exit' handlers cannot await).
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const c of live) killGroup(c, 'SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const c of live) killGroup(c, 'SIGKILL');
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

// If the test process dies without its exit handlers (SIGKILL, OOM), this shell ends the proxy's
// process group and removes the temp dir within a second or two; it exits once the dir is gone.
const WATCHDOG = `
owner=$1; dir=$2; pgid=$3
while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
kill -TERM -- "-$pgid" 2>/dev/null || true
sleep 2
kill -KILL -- "-$pgid" 2>/dev/null || true
rm -rf "$dir"
`;

/** Ends process group `pgid` and removes `dir` if this test process dies first; quits once `dir` is gone. */
export function watchProcessGroup(dir: string, pgid: number): void {
  const watchdog = spawn('bash', ['-c', WATCHDOG, 'llmstack-litellm-watchdog', String(process.pid), dir, String(pgid)], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

/**
 * Starts `litellm --config <config> --host 127.0.0.1 --port <free port>` and waits until
 * /health/liveliness answers (bounded). `env` is the whole environment LiteLLM sees besides PATH and
 * HOME, so nothing from the developer's shell (an OPENAI_API_KEY, a proxy) leaks in.
 */
export async function startLitellm(opts: { config: string; env?: Record<string, string>; timeoutMs?: number }): Promise<LitellmProxy> {
  const venv = await ensureLitellm();
  installExitHandlers();
  const dir = mkdtempSync(path.join(os.tmpdir(), `llmstack-litellm-${process.pid}-`));
  const configPath = path.join(dir, 'config.yaml');
  writeFileSync(configPath, opts.config);
  const logPath = path.join(dir, 'litellm.log');
  const port = await freePort();
  const fd = openSync(logPath, 'a');
  const child = spawn(path.join(venv, 'bin/litellm'), ['--config', configPath, '--host', '127.0.0.1', '--port', String(port), '--num_workers', '1', '--telemetry', 'False'], {
    detached: true,
    stdio: ['ignore', fd, fd],
    cwd: dir,
    env: {
      PATH: `${path.join(venv, 'bin')}:/usr/bin:/bin`,
      HOME: dir,
      // The model price map ships in the package; without this LiteLLM fetches it from the internet at import.
      LITELLM_LOCAL_MODEL_COST_MAP: 'True',
      PYTHONUNBUFFERED: '1',
      NO_PROXY: '127.0.0.1,localhost',
      ...opts.env,
    },
  });
  closeSync(fd);
  child.unref();
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  watchProcessGroup(dir, child.pid!);
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      killGroup(child, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 10_000)))]);
      clearTimeout(timer);
      if (timedOut) {
        killGroup(child, 'SIGKILL');
        await exited;
      }
    }
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`litellm exited (${child.exitCode ?? child.signalCode}) before it answered`);
      try {
        const res = await fetch(`${url}/health/liveliness`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`litellm did not answer on ${url} within ${opts.timeoutMs ?? 90_000} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (err) {
    const text = log().trimEnd().split('\n').slice(-40).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n--- litellm log ---\n${text}`);
  }
  return { url, port, log, stop };
}
