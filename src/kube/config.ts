// Reading a kubeconfig. The common cases are read here: in-cluster service-account credentials and
// kubeconfig files with certificates, tokens, token files or basic auth. Credential plugins (exec,
// auth-provider) and proxies go to @kubernetes/client-node, imported only then: its generated API clients
// cost a long-running controller about 80 MB of memory for the two methods the HTTP layer needs.
import { existsSync, readFileSync } from 'node:fs';
import type * as https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { load } from 'js-yaml';

/** What the HTTP layer needs from a kubeconfig; @kubernetes/client-node's KubeConfig has this shape too. */
export interface KubeClientConfig {
  getCurrentCluster(): { server: string; proxyUrl?: string } | null;
  /** Adds TLS material and credentials to a request's options. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** A kubeconfig that cannot be used; the message names the file and the field. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

/** Where the defaults are looked for; tests point these elsewhere. */
export interface KubeConfigEnvironment {
  env: NodeJS.ProcessEnv;
  home: string;
  /** The mounted service-account token and CA of a pod. */
  serviceAccountDir: string;
}

const DEFAULT_ENVIRONMENT = (): KubeConfigEnvironment => ({
  env: process.env,
  home: homedir(),
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
});

// Projected service-account tokens rotate; client-go reads the file again every minute.
const TOKEN_FILE_TTL_MS = 60_000;

interface ClusterAccess {
  server: string;
  ca?: Buffer;
  insecure?: boolean;
  tlsServerName?: string;
}

interface Credentials {
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
}

/** A kubeconfig with static credentials, ready for requests. */
export class StaticKubeConfig implements KubeClientConfig {
  private tokenCache?: { token: string; readAt: number };

  constructor(
    private readonly cluster: ClusterAccess,
    private readonly credentials: Credentials,
    /** Where it came from, for messages. */
    readonly origin: string,
    /** The context's default namespace, if it names one. */
    readonly namespace?: string,
  ) {}

  getCurrentCluster(): { server: string } {
    return { server: this.cluster.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const c = this.cluster;
    if (c.ca) opts.ca = c.ca;
    if (c.insecure) opts.rejectUnauthorized = false;
    if (c.tlsServerName) opts.servername = c.tlsServerName;
    const u = this.credentials;
    if (u.cert) opts.cert = u.cert;
    if (u.key) opts.key = u.key;
    const token = u.tokenFile ? this.fileToken(u.tokenFile) : u.token;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    if (token) headers['Authorization'] = `Bearer ${token}`;
    else if (u.username !== undefined) headers['Authorization'] = `Basic ${Buffer.from(`${u.username}:${u.password ?? ''}`).toString('base64')}`;
  }

  private fileToken(file: string): string {
    const now = performance.now();
    if (!this.tokenCache || now - this.tokenCache.readAt > TOKEN_FILE_TTL_MS) {
      try {
        this.tokenCache = { token: readFileSync(file, 'utf8').trim(), readAt: now };
      } catch (e) {
        // A token that could not be read again is still better than none until it expires.
        if (!this.tokenCache) throw new KubeConfigError(`${this.origin}: cannot read the token file ${file}: ${(e as Error).message}`);
      }
    }
    return this.tokenCache!.token;
  }
}

export type KubeConfigSource = (
  /** A kubeconfig file; default: $KUBECONFIG (several files, first wins), ~/.kube/config, else in-cluster. */
  | { file?: string }
  /** A kubeconfig's text, e.g. from a CAPI `<cluster>-kubeconfig` Secret. */
  | { text: string; origin: string }
) & {
  /** This context instead of current-context (kubectl's --context). */
  context?: string;
};

/**
 * Loads a kubeconfig's current context (or source.context). Static credentials are read here; a user with `exec` or
 * `auth-provider`, or a cluster with `proxy-url`, is loaded with @kubernetes/client-node instead.
 */
export async function loadKubeClientConfig(source: KubeConfigSource = {}, environment: Partial<KubeConfigEnvironment> = {}): Promise<KubeClientConfig> {
  const where = { ...DEFAULT_ENVIRONMENT(), ...environment };
  let docs: { origin: string; dir: string; doc: RawConfig }[];
  if ('text' in source) {
    docs = [{ origin: source.origin, dir: process.cwd(), doc: parse(source.text, source.origin) }];
  } else {
    const files = source.file ? [source.file] : defaultFiles(where);
    if (!files.length) {
      if (source.context) throw new KubeConfigError(`context "${source.context}": no kubeconfig found (neither $KUBECONFIG nor ~/.kube/config exists)`);
      if (where.env['KUBERNETES_SERVICE_HOST'] && existsSync(join(where.serviceAccountDir, 'token'))) return inCluster(where);
      throw new KubeConfigError('no kubeconfig found: neither $KUBECONFIG nor ~/.kube/config exists, and this is not a pod with a service account');
    }
    docs = files.map((f) => {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        throw new KubeConfigError(`cannot read ${f}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      }
      return { origin: f, dir: dirname(resolve(f)), doc: parse(text, f) };
    });
  }
  const merged = merge(docs);
  const origin = docs.map((d) => d.origin).join(delimiter);
  const contextName = source.context ?? merged.currentContext;
  if (!contextName) throw new KubeConfigError(`${origin}: current-context is not set`);
  const context = merged.contexts.get(contextName);
  if (!context) throw new KubeConfigError(`${origin}: ${source.context ? 'context' : 'current-context'} "${contextName}" is not in contexts`);
  const cluster = context.value.cluster ? merged.clusters.get(context.value.cluster) : undefined;
  if (!cluster) throw new KubeConfigError(`${origin}: contexts["${contextName}"].context.cluster "${context.value.cluster ?? ''}" is not in clusters`);
  const user = context.value.user ? merged.users.get(context.value.user) : undefined;
  if (context.value.user && !user) throw new KubeConfigError(`${origin}: contexts["${contextName}"].context.user "${context.value.user}" is not in users`);

  if (cluster.value['proxy-url'] || user?.value.exec || user?.value['auth-provider']) return withClientNode(source);

  const c = cluster.value;
  const at = `${cluster.origin}: clusters["${context.value.cluster}"].cluster`;
  if (typeof c.server !== 'string' || !c.server) throw new KubeConfigError(`${at}.server is not set`);
  const access: ClusterAccess = {
    server: c.server,
    ca: bytes(c['certificate-authority-data'], c['certificate-authority'], cluster.dir, `${at}.certificate-authority`),
    insecure: c['insecure-skip-tls-verify'] === true,
    tlsServerName: c['tls-server-name'],
  };
  const u = user?.value ?? {};
  const uwhere = `${user?.origin}: users["${context.value.user}"].user`;
  const credentials: Credentials = {
    cert: bytes(u['client-certificate-data'], u['client-certificate'], user?.dir ?? '', `${uwhere}.client-certificate`),
    key: bytes(u['client-key-data'], u['client-key'], user?.dir ?? '', `${uwhere}.client-key`),
    token: u.token,
    tokenFile: u.tokenFile ? resolvePath(u.tokenFile, user?.dir ?? '') : undefined,
    username: u.username,
    password: u.password,
  };
  if (Boolean(credentials.cert) !== Boolean(credentials.key)) throw new KubeConfigError(`${uwhere}: a client certificate needs its key and a key its certificate`);
  return new StaticKubeConfig(access, credentials, origin, context.value.namespace);
}

/** The pod's own service account, as client-go's rest.InClusterConfig reads it. */
function inCluster(where: KubeConfigEnvironment): StaticKubeConfig {
  const host = where.env['KUBERNETES_SERVICE_HOST']!;
  const port = where.env['KUBERNETES_SERVICE_PORT'] || '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const caFile = join(where.serviceAccountDir, 'ca.crt');
  const ca = existsSync(caFile) ? readFileSync(caFile) : undefined;
  const namespaceFile = join(where.serviceAccountDir, 'namespace');
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : undefined;
  return new StaticKubeConfig({ server, ca }, { tokenFile: join(where.serviceAccountDir, 'token') }, 'in-cluster service account', namespace);
}

async function withClientNode(source: KubeConfigSource): Promise<KubeClientConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  if ('text' in source) kc.loadFromString(source.text);
  else if (source.file) kc.loadFromFile(source.file);
  else kc.loadFromDefault();
  if (source.context) kc.setCurrentContext(source.context);
  return kc;
}

function defaultFiles(where: KubeConfigEnvironment): string[] {
  const env = where.env['KUBECONFIG'];
  if (env) return env.split(delimiter).filter((f) => f && existsSync(f));
  const home = join(where.home, '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

// ---------- the file format ----------

interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
  'proxy-url'?: string;
}

interface RawUser {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}

interface RawContext {
  cluster?: string;
  user?: string;
  namespace?: string;
}

interface RawConfig {
  'current-context'?: string;
  clusters?: { name?: string; cluster?: RawCluster }[];
  users?: { name?: string; user?: RawUser }[];
  contexts?: { name?: string; context?: RawContext }[];
}

interface Found<T> {
  value: T;
  origin: string;
  dir: string;
}

function parse(text: string, origin: string): RawConfig {
  let doc: unknown;
  try {
    doc = load(text);
  } catch (e) {
    throw new KubeConfigError(`${origin}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new KubeConfigError(`${origin}: not a kubeconfig (expected a mapping with clusters, users and contexts)`);
  const config = doc as RawConfig;
  for (const list of ['clusters', 'users', 'contexts'] as const) {
    if (config[list] !== undefined && config[list] !== null && !Array.isArray(config[list])) throw new KubeConfigError(`${origin}: ${list} must be a list`);
  }
  return config;
}

/** Several files merge as kubectl merges them: the first file to name a cluster, user or context wins. */
function merge(docs: { origin: string; dir: string; doc: RawConfig }[]) {
  const clusters = new Map<string, Found<RawCluster>>();
  const users = new Map<string, Found<RawUser>>();
  const contexts = new Map<string, Found<RawContext>>();
  let currentContext: string | undefined;
  for (const { origin, dir, doc } of docs) {
    currentContext ??= doc['current-context'] || undefined;
    for (const e of doc.clusters ?? []) if (e?.name && !clusters.has(e.name)) clusters.set(e.name, { value: e.cluster ?? {}, origin, dir });
    for (const e of doc.users ?? []) if (e?.name && !users.has(e.name)) users.set(e.name, { value: e.user ?? {}, origin, dir });
    for (const e of doc.contexts ?? []) if (e?.name && !contexts.has(e.name)) contexts.set(e.name, { value: e.context ?? {}, origin, dir });
  }
  return { clusters, users, contexts, currentContext };
}

function resolvePath(p: string, dir: string): string {
  return isAbsolute(p) ? p : resolve(dir, p);
}

/** Inline base64 data wins over a file, as in kubectl. */
function bytes(data: string | undefined, file: string | undefined, dir: string, field: string): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (!file) return undefined;
  const path = resolvePath(file, dir);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new KubeConfigError(`${field}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}
