// Real Ollama (scripts/build-testbin.sh ollama: the released Go module at OLLAMA_VERSION, the version
// of the pinned image) running the shell of a rendered container: the Knative Service's Ollama or the
// model cache's fill Job, with its rendered env and command, on loopback. Only what a node provides
// is mapped: the port (127.0.0.1:<free port> for 0.0.0.0:11434), the volumes (folders for /models and
// /tmp), and, when the tests run as root, the container's non-root user (setpriv to nobody), so a
// read-only models folder is read-only to Ollama as the kernel enforces it.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from './controlplane.js';
import { watchProcessGroup } from './litellm.js';
import { buildTestbin } from './testbin.js';

const execFileP = promisify(execFile);

export interface Container {
  args: string[];
  env: { name: string; value?: string }[];
  readinessProbe?: { exec: { command: string[] } };
}

let built: Promise<string> | undefined;

/** The ollama binary; OLLAMA_BIN names one, else it is built once into the cache. */
export function ollamaBin(): Promise<string> {
  built ??= (async () => {
    const given = process.env.OLLAMA_BIN;
    if (given) {
      accessSync(given, constants.X_OK);
      return given;
    }
    const dir = await buildTestbin(['ollama'], (m) => console.error(`[ollama] ${m}`));
    return path.join(dir, 'ollama');
  })();
  return built;
}

/** As root, processes run as nobody (the pods' non-root uid stands in); otherwise as the current user. */
export const runsAsOtherUser = process.getuid?.() === 0;
const asUser = (cmd: string[]) => (runsAsOtherUser ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd);

/**
 * Makes a claim's folder read-only to the serving containers, as a read-only mount is (or writable
 * again). As root they run as nobody, to whom the Job's files (0644, folders 0755) are read-only
 * already; otherwise they run as the owner, so the write bits go.
 */
export function claimReadOnly(dir: string, readOnly: boolean): void {
  if (runsAsOtherUser) chmodSync(dir, 0o755);
  else execFileSync('chmod', ['-R', readOnly ? 'a-w' : 'u+w', dir]);
}

/** A folder holding a copy of the binary as `ollama`, readable by the other user, to put first on PATH. */
export function binDir(work: string, bin: string): string {
  const dir = path.join(work, 'bin');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  copyFileSync(bin, path.join(dir, 'ollama'));
  return dir;
}

export interface Volumes {
  models: string;
  tmp: string;
}

export interface RunningContainer {
  port: number;
  child: ChildProcess;
  /** Exit code once it ended. */
  exited: Promise<number | null>;
  output(): string;
  /** Runs the rendered readiness command as the kubelet would (exec in the container): true on exit 0. */
  ready(): Promise<boolean>;
  stop(): Promise<void>;
}

/** The container's env with the node's mapping: loopback port, the volumes' folders. */
function envOf(c: Container, port: number, vol: Volumes, bin: string, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: `${bin}:/usr/bin:/bin` };
  for (const e of c.env) if (e.value !== undefined) env[e.name] = e.value;
  env.OLLAMA_HOST = `127.0.0.1:${port}`;
  if (env.OLLAMA_MODELS === '/models') env.OLLAMA_MODELS = vol.models;
  if (env.HOME === '/tmp') env.HOME = vol.tmp;
  return { ...env, ...overrides };
}

/** Starts the container's shell (`/bin/sh -c <args[0]>`) in its own process group. */
export async function runContainer(opts: { container: Container; bin: string; volumes: Volumes; env?: Record<string, string>; asOtherUser?: boolean; watchDir: string }): Promise<RunningContainer> {
  const [port] = await freePorts(1);
  const env = envOf(opts.container, port!, opts.volumes, opts.bin, opts.env ?? {});
  const wrap = opts.asOtherUser === false ? (c: string[]) => c : asUser;
  const child = spawn(wrap(['/bin/sh', '-c', opts.container.args[0]!])[0]!, wrap(['/bin/sh', '-c', opts.container.args[0]!]).slice(1), { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  watchProcessGroup(opts.watchDir, child.pid!);
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const probe = opts.container.readinessProbe?.exec.command;
  return {
    port: port!,
    child,
    exited,
    output: () => out,
    ready: async () => {
      if (!probe) throw new Error('the container has no exec readiness probe');
      const cmd = wrap(probe);
      try {
        await execFileP(cmd[0]!, cmd.slice(1), { env, timeout: 30_000 });
        return true;
      } catch {
        return false;
      }
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls `ready()` every `everyMs` until true (bounded); the time it took, in ms. */
export async function waitReady(c: RunningContainer, timeoutMs: number, everyMs = 100): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await c.ready()) return performance.now() - start;
    if (c.child.exitCode !== null) throw new Error(`the container exited (${c.child.exitCode}) before it was ready:\n${c.output()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`not ready within ${timeoutMs} ms:\n${c.output()}`);
}
