// Small REST layer over a KubeConfig for the test harness. The typed client-node APIs hide status codes
// and the server's own messages behind exceptions; tests here assert on exactly those, so this talks
// HTTP directly and returns them as data.
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';

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

export async function kubeRequest<T = unknown>(
  kc: KubeConfig,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<KubeResponse<T>> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(options.query ?? {})) {
    if (v !== undefined) url.searchParams.set(k, String(v));
  }
  const payload =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const opts: https.RequestOptions = {
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    headers: {
      Accept: options.accept ?? 'application/json',
      ...(payload !== undefined
        ? { 'Content-Type': options.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) }
        : {}),
    },
    timeout: options.timeoutMs ?? 30_000,
  };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = https.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          // plain-text answers (/readyz, some proxies) stay as text
        }
        resolve({ status: res.statusCode ?? 0, body: body as T, text });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
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

// ---------- discovery ----------

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources: Array<{ name: string; kind: string; namespaced: boolean }>;
}

// Keyed by server URL: a CRD installed after a miss is picked up because misses are not cached.
const discoveryCache = new Map<string, Map<string, Promise<Map<string, ResourceInfo> | undefined>>>();

export function forgetDiscovery(kc?: KubeConfig): void {
  if (!kc) discoveryCache.clear();
  else discoveryCache.delete(kc.getCurrentCluster()?.server ?? '');
}

/** Resolves apiVersion + kind to the REST resource, via the server's discovery document for that group version. */
export async function resolveResource(kc: KubeConfig, apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
  const server = kc.getCurrentCluster()?.server ?? '';
  let perServer = discoveryCache.get(server);
  if (!perServer) discoveryCache.set(server, (perServer = new Map()));
  let pending = perServer.get(apiVersion);
  if (!pending) {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
    const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
    pending = kubeRequest<ApiResourceList>(kc, 'GET', path).then((res) => {
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`discovery ${path}: ${res.status} ${statusMessage(res)}`);
      const byKind = new Map<string, ResourceInfo>();
      for (const r of res.body.resources) {
        if (r.name.includes('/')) continue; // subresources
        byKind.set(r.kind, { group: group ?? '', version: version ?? '', kind: r.kind, plural: r.name, namespaced: r.namespaced });
      }
      return byKind;
    });
    perServer.set(apiVersion, pending);
    pending.then(
      (v) => v === undefined && perServer.delete(apiVersion),
      () => perServer.delete(apiVersion),
    );
  }
  return (await pending)?.get(kind);
}

export function collectionPath(info: ResourceInfo, namespace: string | undefined): string {
  const base = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  return info.namespaced ? `${base}/namespaces/${namespace ?? 'default'}/${info.plural}` : `${base}/${info.plural}`;
}

// ---------- dry run ----------

export interface DryRunResult {
  /** "<kind>/<namespace>/<name>" as sent, for messages. */
  ref: string;
  /** apply, or create for objects with only generateName and for apply's type errors (see below). */
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

export interface DryRunOptions {
  /** Namespace for namespaced objects that do not name one. Default "default". */
  namespace?: string;
  fieldManager?: string;
  concurrency?: number;
}

/**
 * Sends each object as a server-side dry-run apply (or a dry-run create when it only has generateName), so
 * the real apiserver runs defaulting, OpenAPI schema, CEL rules and admission, and nothing is stored.
 */
export async function serverSideDryRun(
  kc: KubeConfig,
  objects: readonly KubeObject[],
  options: DryRunOptions = {},
): Promise<DryRunResult[]> {
  return mapLimit(objects, options.concurrency ?? 8, async (obj) => {
    const ns = obj.metadata?.namespace ?? options.namespace;
    const ref = `${obj.kind}/${ns ? `${ns}/` : ''}${obj.metadata?.name ?? obj.metadata?.generateName ?? '?'}`;
    const info = await resolveResource(kc, obj.apiVersion, obj.kind);
    if (!info) {
      return { ref, method: 'none', ok: false, status: 0, message: `no matches for kind "${obj.kind}" in version "${obj.apiVersion}"` };
    }
    const body = info.namespaced ? { ...obj, metadata: { ...obj.metadata, namespace: ns ?? 'default' } } : obj;
    const coll = collectionPath(info, ns);
    const name = obj.metadata?.name;
    const fieldManager = options.fieldManager ?? 'llmstack';
    const create = () =>
      kubeRequest<KubeObject | KubeStatus>(kc, 'POST', coll, { body, query: { dryRun: 'All', fieldManager } });
    let method: DryRunResult['method'] = name ? 'apply' : 'create';
    let res = name
      ? await kubeRequest<KubeObject | KubeStatus>(kc, 'PATCH', `${coll}/${encodeURIComponent(name)}`, {
          body,
          contentType: 'application/apply-patch+yaml',
          query: { dryRun: 'All', fieldManager, force: true },
        })
      : await create();
    // Apply turns a wrong field type into a 500 "failed to create typed patch object" before validation
    // runs; a create of the same object gets the usual 422 with the schema's message.
    if (method === 'apply' && res.status === 500 && statusMessage(res).startsWith('failed to create typed patch object')) {
      const created = await create();
      if (created.status !== 409) {
        res = created;
        method = 'create';
      }
    }
    if (res.status >= 200 && res.status < 300) {
      return { ref, method, ok: true, status: res.status, object: res.body as KubeObject };
    }
    const st = (typeof res.body === 'object' ? res.body : {}) as KubeStatus;
    return {
      ref,
      method,
      ok: false,
      status: res.status,
      message: st.message ?? res.text,
      ...(st.reason ? { reason: st.reason } : {}),
      ...(st.details?.causes ? { causes: st.details.causes } : {}),
    };
  });
}
