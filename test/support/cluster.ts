// What test files in test/cluster use: the shared control plane from global-setup.ts, and helpers that
// work on it or on any other admin KubeConfig (e.g. a second control plane).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, inject } from 'vitest';
import type { ClusterInfo } from './context.js';
import { startControlPlane, type ApiServerRestart, type ControlPlane } from './controlplane.js';
import { installCrds } from './crds.js';
import {
  createNamespace,
  createRestrictedIdentity,
  serverSideDryRun as dryRun,
  type DryRunOptions,
  type DryRunResult,
  type KubeObject,
  type RestrictedIdentity,
} from './kube.js';

export { kubeRequest, kubeCall, type KubeObject, type KubeResponse, type KubeStatus, type DryRunResult } from './kube.js';
export type { ClusterInfo, ControlPlane, RestrictedIdentity };

const info: ClusterInfo | null = inject('llmstackCluster');

/** What global-setup provided; null when cluster tests are switched off. Safe at collection time. */
export const clusterInfo: Readonly<ClusterInfo> | null = info;

/** True when the run was started with LLMSTACK_SKIP_CLUSTER_TESTS=1. */
export const clusterTestsSkipped = info === null;

/** `describe` that skips only when cluster tests are switched off on purpose. */
export const describeCluster = describe.skipIf(clusterTestsSkipped);

export interface TestCluster {
  /** Admin identity (system:masters). */
  kubeConfig: KubeConfig;
  server: string;
  kubeconfigPath: string;
  source: ClusterInfo['source'];
  /** Audit log (JSON lines, Metadata level for write verbs); null unless a local control plane. */
  auditLogPath: string | null;
  /** Names of every CRD installed by the harness. */
  crds: string[];
  canRestart: boolean;
  freshNamespace(prefix?: string): Promise<string>;
  restrictedKubeConfig(clusterRoleName: string): Promise<KubeConfig>;
  restrictedIdentity(clusterRoleName: string): Promise<RestrictedIdentity>;
  serverSideDryRun(objects: readonly KubeObject[], options?: DryRunOptions): Promise<DryRunResult[]>;
  /** Kill (SIGKILL) and start the shared kube-apiserver; etcd and data stay. */
  restartApiServer(): Promise<ApiServerRestart>;
  killApiServer(): Promise<void>;
  startApiServer(): Promise<{ pid: number }>;
  readAuditEvents(): AuditEvent[];
}

let shared: TestCluster | undefined;

export function testCluster(): TestCluster {
  if (!info) throw new Error('cluster tests are switched off (LLMSTACK_SKIP_CLUSTER_TESTS=1); wrap the suite in describeCluster');
  if (shared) return shared;
  const kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfigPath);
  const control = (action: string) => callControl(info, action);
  shared = {
    kubeConfig: kc,
    server: info.server,
    kubeconfigPath: info.kubeconfigPath,
    source: info.source,
    auditLogPath: info.auditLogPath,
    crds: info.crds,
    canRestart: info.canRestart,
    freshNamespace: (prefix) => freshNamespace(prefix, kc),
    restrictedKubeConfig: (role) => restrictedKubeConfig(role, kc),
    restrictedIdentity: (role) => createRestrictedIdentity(kc, role),
    serverSideDryRun: (objects, options) => dryRun(kc, objects, options),
    restartApiServer: () => control('restart') as Promise<ApiServerRestart>,
    killApiServer: async () => {
      await control('kill');
    },
    startApiServer: () => control('start') as Promise<{ pid: number }>,
    readAuditEvents: () => readAuditEvents(info.auditLogPath),
  };
  return shared;
}

function callControl(cluster: ClusterInfo, action: string): Promise<unknown> {
  const control = cluster.control;
  if (!control) return Promise.reject(new Error(`the apiserver cannot be restarted with source ${cluster.source}`));
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${control.url}/apiserver/${action}`,
      { method: 'POST', headers: { Authorization: `Bearer ${control.token}` } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`apiserver ${action}: ${body}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A new namespace with a random suffix (and its default ServiceAccount). Never waits for deletion:
 * without kube-controller-manager a deleted namespace stays Terminating forever. */
export function freshNamespace(prefix = 'test', kc: KubeConfig = testCluster().kubeConfig): Promise<string> {
  return createNamespace(kc, prefix);
}

/**
 * Fresh namespaces that one test file creates, and whether a request concerns them: the shared API
 * server also holds other files' objects, which a controller under test sees too.
 */
export function namespaceTracker(): { fresh(prefix: string): Promise<string>; owns(request: { path: string }): boolean } {
  const mine = new Set<string>();
  return {
    fresh: async (prefix) => {
      const ns = await freshNamespace(prefix);
      mine.add(ns);
      return ns;
    },
    owns: (r) => {
      const m = /\/namespaces\/([^/]+)\//.exec(r.path);
      return !m || mine.has(m[1]!);
    },
  };
}

/** A kubeconfig for a new ServiceAccount bound (ClusterRoleBinding) to `clusterRoleName`. */
export async function restrictedKubeConfig(clusterRoleName: string, kc: KubeConfig = testCluster().kubeConfig): Promise<KubeConfig> {
  return (await createRestrictedIdentity(kc, clusterRoleName)).kubeConfig;
}

/** Server-side dry-run apply of each object; per-object results carry the server's own message. */
export function serverSideDryRun(
  objects: readonly KubeObject[],
  options: DryRunOptions & { kubeConfig?: KubeConfig } = {},
): Promise<DryRunResult[]> {
  const { kubeConfig, ...rest } = options;
  return dryRun(kubeConfig ?? testCluster().kubeConfig, objects, rest);
}

/**
 * An independent control plane (own etcd, apiserver, CRDs), e.g. as the workload cluster next to the
 * shared management one. Stop it in afterAll; a worker that dies takes it along anyway.
 */
export async function startSecondControlPlane(options: { name?: string; crds?: boolean } = {}): Promise<ControlPlane> {
  const cp = await startControlPlane({
    name: options.name ?? 'second',
    // An existing-cluster run may name a second cluster; otherwise use the binaries the shared one runs on.
    existingKubeconfigEnv: 'LLMSTACK_TEST_KUBECONFIG_2',
    ...(info?.binDir ? { binDir: info.binDir } : {}),
  });
  if (options.crds ?? true) {
    try {
      await installCrds(cp.kubeConfig, { log: (m) => console.error(`[controlplane ${cp.name}] ${m}`) });
    } catch (err) {
      await cp.stop();
      throw err;
    }
  }
  return cp;
}

export interface AuditEvent {
  verb: string;
  user: { username: string; groups?: string[] };
  requestURI: string;
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string; subresource?: string };
  responseStatus?: { code?: number };
  stage: string;
  userAgent?: string;
}

/** Every event in an audit log so far (write verbs only, by the harness' policy). */
export function readAuditEvents(auditLogPath: string | null | undefined = testCluster().auditLogPath): AuditEvent[] {
  if (!auditLogPath) throw new Error('no audit log: the control plane source is not local');
  return readFileSync(auditLogPath, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as AuditEvent);
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Shown when the wait times out. */
  message?: string;
}

/**
 * Polls fn until it returns a value other than undefined, null or false without throwing, and returns
 * that value. On timeout, fails with the last error fn threw.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : lastError !== undefined ? `: ${String(lastError)}` : '';
      throw new Error(`${options.message ?? 'condition not met'} within ${timeoutMs} ms${why}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
