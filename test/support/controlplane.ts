// A real Kubernetes control plane for tests (the envtest pattern): etcd + kube-apiserver as processes on
// loopback, RBAC on, a static admin token, audit log on. Falls back to an existing cluster or k3s.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { createRestrictedIdentity, kubeRequest, type RestrictedIdentity } from './kube.js';
import { testbinVersions } from './paths.js';
import { buildTestbin } from './testbin.js';
import { makeServingCertificate } from './tls.js';

export type ControlPlaneSource = 'existing-cluster' | 'binaries' | 'go-build' | 'k3s';

export interface StartControlPlaneOptions {
  /** Shows up in log lines and the kubeconfig's context name. */
  name?: string;
  log?: (message: string) => void;
  /** Env variable naming an existing cluster's kubeconfig; default LLMSTACK_TEST_KUBECONFIG. */
  existingKubeconfigEnv?: string;
  /** Use this folder of binaries directly (skips source discovery except an existing cluster). */
  binDir?: string;
  /** How long to wait for /readyz. */
  readyTimeoutMs?: number;
  /** Appended to kube-apiserver's flags, e.g. --profiling=true for a benchmark's CPU profile. */
  apiServerArgs?: string[];
}

export interface ControlPlane {
  readonly name: string;
  readonly source: ControlPlaneSource;
  readonly server: string;
  /** Admin identity: the static token user in system:masters (or the existing cluster's user). */
  readonly kubeConfig: KubeConfig;
  readonly kubeconfigPath: string;
  /** JSON lines of audit.k8s.io/v1 Events, Metadata level for write verbs; only for a local control plane. */
  readonly auditLogPath: string | undefined;
  /** Folder with kube-apiserver, etcd and (when built here) kubectl. */
  readonly binDir: string | undefined;
  /** The temp dir holding etcd data, certs, logs; removed by stop(). */
  readonly dataDir: string | undefined;
  /** Only a local control plane can restart its apiserver. */
  readonly canRestart: boolean;
  /** Wall time from startControlPlane() to ready, in ms. */
  readonly startMs: number;
  restrictedKubeConfig(clusterRoleName: string): Promise<KubeConfig>;
  restrictedIdentity(clusterRoleName: string): Promise<RestrictedIdentity>;
  /** Kills kube-apiserver (SIGKILL by default, a crash) and starts it on the same etcd and port. */
  restartApiServer(options?: { signal?: NodeJS.Signals }): Promise<ApiServerRestart>;
  /** Kills kube-apiserver only; etcd and its data stay. */
  killApiServer(options?: { signal?: NodeJS.Signals }): Promise<void>;
  /** Starts kube-apiserver again after killApiServer(), same flags and port; waits for /readyz. */
  startApiServer(): Promise<{ pid: number }>;
  /** The running kube-apiserver's pid, if local. */
  apiServerPid(): number | undefined;
  /**
   * Starts a process that belongs to this control plane (e.g. a Cluster API manager): logged to
   * `<dataDir>/<name>.log`, stopped before kube-apiserver by stop(), and killed with etcd when the
   * test process dies. Only a local control plane runs processes.
   */
  startProcess(name: string, bin: string, args: string[], options?: { env?: NodeJS.ProcessEnv }): ManagedProcess;
  stop(): Promise<void>;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  alive(): boolean;
  /** SIGTERM, SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

export interface ApiServerRestart {
  previousPid: number | undefined;
  pid: number;
  ms: number;
}

const HOW_TO_GET_BINARIES = [
  'No test control plane source worked. Use one of:',
  '  - LLMSTACK_TEST_KUBECONFIG=/path/to/kubeconfig (an existing cluster you may write CRDs to)',
  '  - KUBE_TEST_BINARIES=/dir/with/kube-apiserver+etcd',
  '  - bash scripts/build-testbin.sh (needs Go; builds them into ~/.cache/llmstack/testbin, about 5 minutes once)',
  '  - a running Docker engine plus `npm i -D @testcontainers/k3s` (k3s in a container)',
  'or set LLMSTACK_SKIP_CLUSTER_TESTS=1 to skip the cluster tests on purpose.',
].join('\n');

export async function startControlPlane(options: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const name = options.name ?? 'test';
  const log = options.log ?? ((m: string) => console.error(`[controlplane ${name}] ${m}`));
  const t0 = performance.now();
  const tried: string[] = [];

  const kubeconfigEnv = options.existingKubeconfigEnv ?? 'LLMSTACK_TEST_KUBECONFIG';
  const existing = process.env[kubeconfigEnv];
  if (existing) {
    if (!existsSync(existing)) throw new Error(`${kubeconfigEnv}=${existing}: no such file`);
    const cp = await useExistingCluster(name, existing, t0);
    log(`source: existing cluster from ${kubeconfigEnv} (${cp.server})`);
    return cp;
  }
  tried.push(`${kubeconfigEnv}: not set`);

  const candidates: Array<{ source: ControlPlaneSource; find: () => Promise<string> }> = [];
  if (options.binDir) {
    candidates.push({ source: 'binaries', find: async () => checkBinDir(options.binDir as string) });
  } else {
    candidates.push({
      source: 'binaries',
      find: async () => {
        const dir = process.env.KUBE_TEST_BINARIES;
        if (!dir) throw new Error('KUBE_TEST_BINARIES: not set');
        return checkBinDir(dir);
      },
    });
    candidates.push({ source: 'go-build', find: async () => checkBinDir(await buildTestbin([], log)) });
  }
  for (const c of candidates) {
    let binDir: string;
    try {
      binDir = await c.find();
    } catch (err) {
      const why = (err as Error).message;
      tried.push(`${c.source}: ${why}`);
      if (!why.endsWith('not set')) log(`skipping source ${c.source}: ${why}`);
      continue;
    }
    const start = () => LocalControlPlane.start(name, binDir, c.source, log, options.readyTimeoutMs ?? 90_000, t0, options.apiServerArgs ?? []);
    // The free ports are only free when picked; another process may take one before etcd binds it.
    const cp = await start().catch((err: Error) => {
      if (!/address already in use/.test(err.message)) throw err;
      log('a port was taken meanwhile; starting again on new ports');
      return start();
    });
    log(`source: ${c.source} (${binDir}); ready at ${cp.server} in ${(cp.startMs / 1000).toFixed(1)}s`);
    return cp;
  }

  if (!options.binDir) {
    try {
      const cp = await startK3s(name, log, t0);
      log(`source: k3s in Docker; ready at ${cp.server} in ${(cp.startMs / 1000).toFixed(1)}s`);
      return cp;
    } catch (err) {
      tried.push(`k3s: ${(err as Error).message}`);
    }
  }
  throw new Error(`${HOW_TO_GET_BINARIES}\nTried:\n${tried.map((t) => `  - ${t}`).join('\n')}`);
}

function checkBinDir(dir: string): string {
  for (const bin of ['kube-apiserver', 'etcd']) {
    try {
      accessSync(path.join(dir, bin), constants.X_OK);
    } catch {
      throw new Error(`${dir}/${bin} is missing or not executable`);
    }
  }
  return path.resolve(dir);
}

// ---------- local processes ----------

const live = new Set<LocalControlPlane>();
let handlersInstalled = false;

// Synchronous on purpose: 'exit' handlers cannot await, and a crashed run must not leave etcd behind.
function killAllSync(): void {
  for (const cp of live) cp.killSync();
  live.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAllSync();
      // Keep the default behaviour (die by the signal) unless someone else handles it.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, onSignal);
  }
}

export async function freePorts(n: number): Promise<number[]> {
  // Hold all listeners open until every port is known, so the n ports differ.
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const AUDIT_POLICY = {
  apiVersion: 'audit.k8s.io/v1',
  kind: 'Policy',
  omitStages: ['RequestReceived'],
  rules: [
    { level: 'Metadata', verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
    { level: 'None' },
  ],
};

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
}

function spawnLogged(dir: string, name: string, bin: string, args: string[], env?: NodeJS.ProcessEnv): Proc {
  const fd = openSync(path.join(dir, `${name}.log`), 'a');
  // detached: its own process group, so stop() takes down anything it forks too.
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], ...(env ? { env } : {}) });
  closeSync(fd);
  child.unref();
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  if (child.pid === undefined) throw new Error(`could not start ${bin}`);
  mkdirSync(path.join(dir, 'pids'), { recursive: true });
  writeFileSync(path.join(dir, 'pids', name), `${child.pid}\n`);
  return { child, exited };
}

function alive(p: Proc | undefined): boolean {
  return !!p && p.child.exitCode === null && p.child.signalCode === null;
}

function killGroup(p: Proc | undefined, signal: NodeJS.Signals): void {
  if (!p?.child.pid || !alive(p)) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    // already gone
  }
}

async function terminate(p: Proc | undefined, graceMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || !alive(p)) return;
  killGroup(p, signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    p.exited.then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    killGroup(p, 'SIGKILL');
    await p.exited;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// If the owning Node process dies without running its exit handlers (SIGKILL, OOM), this shell notices
// within a second and takes the process groups and the temp dir with it. It exits on its own once the
// temp dir is gone, which is how stop() ends it.
const WATCHDOG = `
owner=$1; dir=$2
while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
pids=$(cat "$dir"/pids/* 2>/dev/null || true)
for p in $pids; do kill -TERM -- "-$p" 2>/dev/null || true; done
sleep 2
for p in $pids; do kill -KILL -- "-$p" 2>/dev/null || true; done
rm -rf "$dir"
`;

/** A throwaway CA and the API server's serving cert (apiserver.crt/.key) for 127.0.0.1/localhost. */
async function makeServingCerts(dir: string): Promise<void> {
  await makeServingCertificate(dir, {
    name: 'apiserver',
    caSubject: 'llmstack-test-ca',
    commonName: 'kube-apiserver',
    sans: ['IP:127.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc'],
  });
}

class LocalControlPlane implements ControlPlane {
  readonly canRestart = true;
  private etcd: Proc | undefined;
  private apiserver: Proc | undefined;
  private readonly processes = new Map<string, Proc>();
  private watchdog: ChildProcess | undefined;
  private stopped = false;
  startMs = 0;
  kubeConfig!: KubeConfig;

  private constructor(
    readonly name: string,
    readonly source: ControlPlaneSource,
    readonly binDir: string,
    readonly dataDir: string,
    private readonly apiPort: number,
    private readonly log: (m: string) => void,
    private readonly readyTimeoutMs: number,
    private readonly extraApiServerArgs: string[],
  ) {}

  get server(): string {
    return `https://127.0.0.1:${this.apiPort}`;
  }
  get kubeconfigPath(): string {
    return path.join(this.dataDir, 'kubeconfig');
  }
  get auditLogPath(): string {
    return path.join(this.dataDir, 'audit.log');
  }

  static async start(
    name: string,
    binDir: string,
    source: ControlPlaneSource,
    log: (m: string) => void,
    readyTimeoutMs: number,
    t0: number,
    apiServerArgs: string[],
  ): Promise<LocalControlPlane> {
    installExitHandlers();
    // The owner pid in the name lets scripts/check-no-leftovers.sh tell a live run from a leftover.
    const dir = mkdtempSync(path.join(os.tmpdir(), `llmstack-cp-${process.pid}-`));
    const [etcdClient, etcdPeer, apiPort] = (await freePorts(3)) as [number, number, number];
    const cp = new LocalControlPlane(name, source, binDir, dir, apiPort, log, readyTimeoutMs, apiServerArgs);
    live.add(cp);
    try {
      cp.startWatchdog();
      await cp.boot(etcdClient, etcdPeer);
    } catch (err) {
      const logs = `--- etcd.log ---\n${tail(path.join(dir, 'etcd.log'))}\n--- kube-apiserver.log ---\n${tail(path.join(dir, 'kube-apiserver.log'))}`;
      await cp.stop();
      throw new Error(`control plane ${name} did not start: ${(err as Error).message}\n${logs}`);
    }
    cp.startMs = Math.round(performance.now() - t0);
    return cp;
  }

  private startWatchdog(): void {
    this.watchdog = spawn('bash', ['-c', WATCHDOG, 'llmstack-cp-watchdog', String(process.pid), this.dataDir], {
      detached: true,
      stdio: 'ignore',
    });
    this.watchdog.unref();
  }

  private apiArgs: string[] = [];

  private async boot(etcdClient: number, etcdPeer: number): Promise<void> {
    const dir = this.dataDir;
    // etcd first: it is up long before the certs and keys below are ready.
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    this.etcd = spawnLogged(dir, 'etcd', path.join(this.binDir, 'etcd'), [
      `--name=default`,
      `--data-dir=${path.join(dir, 'etcd-data')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // test data only: durability is not worth the fsync latency
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);

    await makeServingCerts(dir);
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(path.join(dir, 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(path.join(dir, 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(path.join(dir, 'tokens.csv'), `${adminToken},llmstack-admin,llmstack-admin,"system:masters"\n`, { mode: 0o600 });
    writeFileSync(path.join(dir, 'audit-policy.yaml'), toYaml(AUDIT_POLICY));

    this.apiArgs = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${this.apiPort}`,
      `--cert-dir=${path.join(dir, 'certs')}`,
      `--tls-cert-file=${path.join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${path.join(dir, 'apiserver.key')}`,
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--anonymous-auth=false',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      `--audit-policy-file=${path.join(dir, 'audit-policy.yaml')}`,
      `--audit-log-path=${this.auditLogPath}`,
      // Synchronous writes, so a test reads every request it made right after the response.
      '--audit-log-mode=blocking',
      '--audit-log-format=json',
      '--profiling=false',
      // Later flags win: a caller may turn profiling on.
      ...this.extraApiServerArgs,
    ];
    this.kubeConfig = new KubeConfig();
    this.kubeConfig.loadFromOptions({
      clusters: [{ name: `llmstack-${this.name}`, server: this.server, caFile: path.join(dir, 'ca.crt') }],
      users: [{ name: 'llmstack-admin', token: adminToken }],
      contexts: [{ name: `llmstack-${this.name}`, cluster: `llmstack-${this.name}`, user: 'llmstack-admin' }],
      currentContext: `llmstack-${this.name}`,
    });
    // Inline CA data so the file still works for tools run with another cwd.
    const ca = readFileSync(path.join(dir, 'ca.crt')).toString('base64');
    writeFileSync(
      this.kubeconfigPath,
      toYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: `llmstack-${this.name}`, cluster: { server: this.server, 'certificate-authority-data': ca } }],
        users: [{ name: 'llmstack-admin', user: { token: adminToken } }],
        contexts: [{ name: `llmstack-${this.name}`, context: { cluster: `llmstack-${this.name}`, user: 'llmstack-admin' } }],
        'current-context': `llmstack-${this.name}`,
      }),
      { mode: 0o600 },
    );
    await this.startApiServer();
  }

  async startApiServer(): Promise<{ pid: number }> {
    if (this.stopped) throw new Error('control plane is stopped');
    if (alive(this.apiserver)) throw new Error('kube-apiserver is already running');
    if (!alive(this.etcd)) throw new Error('etcd is not running');
    this.apiserver = spawnLogged(this.dataDir, 'kube-apiserver', path.join(this.binDir, 'kube-apiserver'), this.apiArgs);
    await this.waitReady();
    return { pid: this.apiserver.child.pid as number };
  }

  async killApiServer(options: { signal?: NodeJS.Signals } = {}): Promise<void> {
    await terminate(this.apiserver, 10_000, options.signal ?? 'SIGKILL');
  }

  private async waitReady(): Promise<void> {
    const deadline = performance.now() + this.readyTimeoutMs;
    let last = 'no answer yet';
    while (performance.now() < deadline) {
      if (!alive(this.apiserver)) throw new Error(`kube-apiserver exited (${this.apiserver?.child.exitCode ?? this.apiserver?.child.signalCode})`);
      if (!alive(this.etcd)) throw new Error(`etcd exited (${this.etcd?.child.exitCode ?? this.etcd?.child.signalCode})`);
      try {
        const res = await kubeRequest(this.kubeConfig, 'GET', '/readyz', { timeoutMs: 2000 });
        if (res.status === 200) return;
        last = `${res.status} ${res.text.split('\n').filter((l) => l.includes('[-]')).join(', ')}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await delay(100);
    }
    throw new Error(`kube-apiserver not ready after ${this.readyTimeoutMs} ms: ${last}`);
  }

  apiServerPid(): number | undefined {
    return alive(this.apiserver) ? this.apiserver?.child.pid : undefined;
  }

  async restartApiServer(options: { signal?: NodeJS.Signals } = {}): Promise<ApiServerRestart> {
    if (this.stopped) throw new Error('control plane is stopped');
    const t0 = performance.now();
    const previousPid = this.apiServerPid();
    await this.killApiServer(options);
    const { pid } = await this.startApiServer();
    const ms = Math.round(performance.now() - t0);
    this.log(`kube-apiserver restarted in ${(ms / 1000).toFixed(1)}s`);
    return { previousPid, pid, ms };
  }

  restrictedIdentity(clusterRoleName: string): Promise<RestrictedIdentity> {
    return createRestrictedIdentity(this.kubeConfig, clusterRoleName);
  }

  startProcess(name: string, bin: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): ManagedProcess {
    if (this.stopped) throw new Error('control plane is stopped');
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) || name === 'etcd' || name === 'kube-apiserver') throw new Error(`startProcess: bad name ${name}`);
    if (alive(this.processes.get(name))) throw new Error(`startProcess: ${name} is already running`);
    const proc = spawnLogged(this.dataDir, name, bin, args, options.env);
    this.processes.set(name, proc);
    const logPath = path.join(this.dataDir, `${name}.log`);
    return {
      name,
      pid: proc.child.pid as number,
      logPath,
      alive: () => alive(proc),
      stop: (graceMs = 5000) => terminate(proc, graceMs),
    };
  }

  async restrictedKubeConfig(clusterRoleName: string): Promise<KubeConfig> {
    return (await this.restrictedIdentity(clusterRoleName)).kubeConfig;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Clients first, then apiserver, so neither logs a storm of connection errors.
    await Promise.all([...this.processes.values()].map((p) => terminate(p, 3000)));
    await terminate(this.apiserver, 3000);
    await terminate(this.etcd, 3000);
    rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 3 });
    this.killWatchdog();
    live.delete(this);
  }

  killSync(): void {
    for (const p of this.processes.values()) killGroup(p, 'SIGKILL');
    killGroup(this.apiserver, 'SIGKILL');
    killGroup(this.etcd, 'SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
    this.killWatchdog();
  }

  private killWatchdog(): void {
    if (!this.watchdog?.pid || this.watchdog.exitCode !== null) return;
    try {
      process.kill(-this.watchdog.pid, 'SIGKILL');
    } catch {
      // it may have noticed the missing dir and exited already
    }
  }
}

// ---------- existing cluster ----------

async function useExistingCluster(name: string, kubeconfigPath: string, t0: number): Promise<ControlPlane> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error(`${kubeconfigPath}: no current cluster`);
  const res = await kubeRequest(kc, 'GET', '/readyz');
  if (res.status !== 200) throw new Error(`${server}/readyz: ${res.status} ${res.text.slice(0, 300)}`);
  return remoteControlPlane(name, 'existing-cluster', kc, kubeconfigPath, Math.round(performance.now() - t0), async () => {});
}

function remoteControlPlane(
  name: string,
  source: ControlPlaneSource,
  kc: KubeConfig,
  kubeconfigPath: string,
  startMs: number,
  stop: () => Promise<void>,
): ControlPlane {
  const restrictedIdentity = (role: string) => createRestrictedIdentity(kc, role);
  const notLocal = (what: string) => Promise.reject(new Error(`${what} needs a local control plane, not source ${source}`));
  return {
    name,
    source,
    server: kc.getCurrentCluster()?.server ?? '',
    kubeConfig: kc,
    kubeconfigPath,
    auditLogPath: undefined,
    binDir: undefined,
    dataDir: undefined,
    canRestart: false,
    startMs,
    restrictedIdentity,
    restrictedKubeConfig: async (role) => (await restrictedIdentity(role)).kubeConfig,
    restartApiServer: () => notLocal('restartApiServer'),
    killApiServer: () => notLocal('killApiServer'),
    startApiServer: () => notLocal('startApiServer'),
    apiServerPid: () => undefined,
    startProcess: () => {
      throw new Error(`startProcess needs a local control plane, not source ${source}`);
    },
    stop,
  };
}

// ---------- k3s in Docker ----------

function dockerAnswers(): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const socketPath = !host ? '/var/run/docker.sock' : host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
  const url = host?.startsWith('tcp://') ? new URL(host.replace('tcp://', 'http://')) : undefined;
  if (!socketPath && !url) return Promise.resolve(false);
  return new Promise((resolve) => {
    const req = http.get(
      socketPath ? { socketPath, path: '/_ping', timeout: 2000 } : { host: url?.hostname, port: url?.port, path: '/_ping', timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

interface K3sModule {
  K3sContainer: new (image: string) => { start(): Promise<{ getKubeConfig(): string; stop(): Promise<unknown> }> };
}

async function startK3s(name: string, log: (m: string) => void, t0: number): Promise<ControlPlane> {
  if (!(await dockerAnswers())) throw new Error('no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)');
  let mod: K3sModule;
  try {
    // A variable specifier keeps the optional package out of type checking and bundling.
    const specifier = '@testcontainers/k3s';
    mod = (await import(specifier)) as K3sModule;
  } catch {
    throw new Error('package @testcontainers/k3s is not installed (npm i -D @testcontainers/k3s)');
  }
  const image = process.env.LLMSTACK_K3S_IMAGE ?? `rancher/k3s:${testbinVersions().kubernetes}-k3s1`;
  log(`starting ${image}`);
  const container = await new mod.K3sContainer(image).start();
  const dir = mkdtempSync(path.join(os.tmpdir(), `llmstack-k3s-${process.pid}-`));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, container.getKubeConfig(), { mode: 0o600 });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const stopK3s = async () => {
    await container.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return remoteControlPlane(name, 'k3s', kc, kubeconfigPath, Math.round(performance.now() - t0), stopK3s);
}
