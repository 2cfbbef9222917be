// The test harness's view of the API server: answers as data (status code, the server's Status, raw
// text) so tests can assert on exactly those. Requests go through the product's own HTTP layer
// (src/kube/http.ts) and dry runs through its `validate --server` code.
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { serverDryRun as productDryRun, type DryRunOptions } from '../../src/kube/client.js';
import { sendRequest } from '../../src/kube/http.js';
import type { KubeObject as ProductObject } from '../../src/kube/resources.js';

export type { DryRunOptions };

export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
  /** The raw body, for non-JSON answers. */
  text: string;
}

/** The subset of metav1.Status the harness reads. */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: Array<{ reason?: string; message?: string; field?: string }> };
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; generateName?: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

/** Any answer resolves; the body is the parsed JSON, else the text (plain-text answers such as /readyz). */
export async function kubeRequest<T = unknown>(kc: KubeConfig, method: string, path: string, options: RequestOptions = {}): Promise<KubeResponse<T>> {
  const res = await sendRequest<T>(kc, method, path, options);
  return { status: res.code, body: (res.body ?? (res.text ? res.text : undefined)) as T, text: res.text };
}

/** Like kubeRequest but throws with the server's message on a non-2xx answer. */
export async function kubeCall<T = unknown>(
  kc: KubeConfig,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const res = await kubeRequest<T>(kc, method, path, options);
  if (res.status < 200 || res.status > 299) {
    const msg = (res.body as KubeStatus | undefined)?.message ?? res.text;
    throw new Error(`${method} ${path}: ${res.status} ${msg}`);
  }
  return res.body;
}

/** Runs fn over items with at most `limit` in flight; keeps order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function randomSuffix(length = 6): string {
  // DNS-1123 labels: lower-case alphanumerics only
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (b) => alphabet[b % alphabet.length]).join('');
}

/** Creates a namespace, retrying with a new suffix on the rare name clash. */
export async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
  for (let attempt = 0; attempt < 5; attempt++) {
    const name = `${base || 'test'}-${randomSuffix()}`;
    const res = await kubeRequest(kc, 'POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'llmstack.dev/test': 'true' } } },
    });
    if (res.status === 409) continue;
    if (res.status !== 201) throw new Error(`create namespace ${name}: ${res.status} ${statusMessage(res)}`);
    // kube-controller-manager is not running, so nobody creates the namespace's default ServiceAccount
    // that the ServiceAccount admission plugin requires for Pods.
    const sa = await kubeRequest(kc, 'POST', `/api/v1/namespaces/${name}/serviceaccounts`, {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
    });
    if (sa.status !== 201 && sa.status !== 409) {
      throw new Error(`create default ServiceAccount in ${name}: ${sa.status} ${statusMessage(sa)}`);
    }
    return name;
  }
  throw new Error(`could not find a free namespace name for prefix ${prefix}`);
}

async function ensureObject(kc: KubeConfig, collectionPath: string, body: KubeObject): Promise<void> {
  const res = await kubeRequest(kc, 'POST', collectionPath, { body });
  if (res.status !== 201 && res.status !== 409) {
    throw new Error(`create ${body.kind} ${body.metadata.name}: ${res.status} ${statusMessage(res)}`);
  }
}

export const IDENTITY_NAMESPACE = 'llmstack-test-identities';

export interface RestrictedIdentity {
  kubeConfig: KubeConfig;
  /** The user name the apiserver sees, as in its 403 messages. */
  username: string;
  serviceAccount: { namespace: string; name: string };
  token: string;
}

/**
 * A ServiceAccount bound to `clusterRoleName` and a token for it from the TokenRequest API. Works the same
 * on a harness control plane and on an existing cluster, and goes through the real authenticator and RBAC
 * authorizer.
 */
export async function createRestrictedIdentity(
  admin: KubeConfig,
  clusterRoleName: string,
  options: { name?: string; expirationSeconds?: number } = {},
): Promise<RestrictedIdentity> {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const ns = IDENTITY_NAMESPACE;
  const name =
    options.name ??
    `${clusterRoleName.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40)}-${randomSuffix()}`.replace(/^-+/, '');
  await ensureObject(admin, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await ensureObject(admin, `/api/v1/namespaces/${ns}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name },
  });
  await ensureObject(admin, '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `${ns}-${name}` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRoleName },
    subjects: [{ kind: 'ServiceAccount', name, namespace: ns }],
  });
  const tr = await kubeCall<{ status: { token: string } }>(
    admin,
    'POST',
    `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: options.expirationSeconds ?? 3600 },
      },
    },
  );
  const username = `system:serviceaccount:${ns}:${name}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ ...cluster, name: 'llmstack-test' }],
    users: [{ name: username, token: tr.status.token }],
    contexts: [{ name: username, cluster: 'llmstack-test', user: username }],
    currentContext: username,
  });
  return { kubeConfig: kc, username, serviceAccount: { namespace: ns, name }, token: tr.status.token };
}

export function statusMessage(res: KubeResponse): string {
  const body = res.body as KubeStatus | undefined;
  return typeof body === 'object' && body?.message ? body.message : res.text.slice(0, 500);
}

// ---------- dry run ----------

export interface DryRunResult {
  /** "<kind>/<namespace>/<name>" as sent, for messages. */
  ref: string;
  /** apply, or create for objects with only generateName and for apply's type errors. */
  method: 'apply' | 'create' | 'none';
  ok: boolean;
  /** HTTP status; 0 when the request never reached the resource (unknown kind). */
  status: number;
  /** The server's message on failure (metav1.Status.message), or the discovery failure. */
  message?: string;
  reason?: string;
  causes?: Array<{ reason?: string; message?: string; field?: string }>;
  /** What the server would have stored, on success. */
  object?: KubeObject;
}

/**
 * Sends each object as a server-side dry-run apply (or a dry-run create when it only has generateName), so
 * the real apiserver runs defaulting, OpenAPI schema, CEL rules and admission, and nothing is stored.
 */
export async function serverSideDryRun(kc: KubeConfig, objects: readonly KubeObject[], options: DryRunOptions = {}): Promise<DryRunResult[]> {
  const results = await productDryRun(kc, objects as unknown as ProductObject[], { fieldManager: 'llmstack', ...options });
  return results.map(({ code, object, ...r }) => ({ ...r, status: code, ...(object ? { object: object as KubeObject } : {}) }));
}
