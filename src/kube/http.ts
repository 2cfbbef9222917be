// A small HTTP layer over a KubeClientConfig: JSON in and out, the server's Status as a typed error, and a
// streaming watch. client-node's typed APIs hide status codes and reasons behind exceptions and give no
// hook to count requests; the controller needs both (409/410 handling, "zero writes" metrics).
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { KubeClientConfig } from './config.js';
import { apiPath, type KubeObject, type ResourceType } from './resources.js';

/** Kubernetes' own request verbs (as in audit logs and RBAC). */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export const WRITE_VERBS: ReadonlySet<Verb> = new Set<Verb>(['create', 'update', 'patch', 'delete', 'deletecollection']);

export interface RequestRecord {
  verb: Verb;
  method: string;
  path: string;
  /** REST resource (plural), with "/subresource" when one was addressed; '' for discovery. */
  resource: string;
  /** HTTP status; 0 when no answer came (connection refused, reset, timeout). */
  code: number;
  durationMs: number;
}

export type RequestHook = (record: RequestRecord) => void;

const hooks = new WeakMap<KubeClientConfig, Set<RequestHook>>();

/** Calls hook after every request made with kc (a watch counts when it ends). Returns an unsubscribe. */
export function onRequest(kc: KubeClientConfig, hook: RequestHook): () => void {
  let set = hooks.get(kc);
  if (!set) hooks.set(kc, (set = new Set()));
  set.add(hook);
  return () => set.delete(hook);
}

function report(kc: KubeClientConfig, record: RequestRecord): void {
  for (const hook of hooks.get(kc) ?? []) {
    try {
      hook(record);
    } catch {
      // a metrics hook must never break a request
    }
  }
}

/** The server's metav1.Status as an error; code 0 when the server never answered. */
export class KubeError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KubeError';
  }
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: Array<{ reason?: string; message?: string; field?: string }>;
  retryAfterSeconds?: number;
}

interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
  details?: StatusDetails;
}

export function isKubeError(err: unknown, code?: number): err is KubeError {
  return err instanceof KubeError && (code === undefined || err.code === code);
}

export const isNotFound = (err: unknown): boolean => isKubeError(err, 404);
export const isConflict = (err: unknown): boolean => isKubeError(err, 409);
/** 410: a resourceVersion or continue token the server no longer has. */
export const isGone = (err: unknown): boolean => isKubeError(err, 410);

// Reasons the apiserver uses, for answers that carry no Status (proxies, plain-text errors).
const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function statusError(code: number, body: unknown, text: string, retryAfter?: string): KubeError {
  const st = (body && typeof body === 'object' ? body : {}) as Status;
  const c = st.code || code;
  const details = st.details ?? (retryAfter && /^\d+$/.test(retryAfter) ? { retryAfterSeconds: Number(retryAfter) } : undefined);
  return new KubeError(c, st.reason || REASONS[c] || 'Unknown', st.message || text.trim().slice(0, 500) || `HTTP ${c}`, details);
}

// ---------- connection ----------

// client-node builds a fresh Agent per call, i.e. a TLS handshake per request. Keep one keep-alive agent
// per KubeClientConfig and TLS material instead; a changed certificate (rotation) gets a new one.
const agents = new WeakMap<KubeClientConfig, { fingerprint: string; agent: http.Agent }>();

async function connectOptions(kc: KubeClientConfig, method: string, url: URL, headers: Record<string, string>): Promise<https.RequestOptions> {
  const opts: https.RequestOptions = {
    method,
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port,
    path: url.pathname + url.search,
    headers: { 'User-Agent': 'llmstack', Accept: 'application/json', ...headers },
  };
  await kc.applyToHTTPSOptions(opts);
  if (kc.getCurrentCluster()?.proxyUrl) return opts; // client-node's proxy agent
  const h = createHash('sha256');
  for (const v of [opts.ca, opts.cert, opts.key, opts.pfx, opts.passphrase, opts.rejectUnauthorized, opts.servername, url.protocol]) {
    h.update(v === undefined ? '\0' : Buffer.isBuffer(v) ? v : String(v));
    h.update('\x01');
  }
  const fingerprint = h.digest('hex');
  let cached = agents.get(kc);
  if (cached?.fingerprint !== fingerprint) {
    cached?.agent.destroy();
    const agent =
      url.protocol === 'http:'
        ? new http.Agent({ keepAlive: true })
        : new https.Agent({
            keepAlive: true,
            ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
            ...(opts.cert !== undefined ? { cert: opts.cert } : {}),
            ...(opts.key !== undefined ? { key: opts.key } : {}),
            ...(opts.pfx !== undefined ? { pfx: opts.pfx } : {}),
            ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
            ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
            ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
          });
    agents.set(kc, (cached = { fingerprint, agent }));
  }
  opts.agent = cached.agent;
  return opts;
}

/** Closes kc's idle keep-alive connections (tests, shutdown). */
export function closeConnections(kc: KubeClientConfig): void {
  agents.get(kc)?.agent.destroy();
  agents.delete(kc);
}

function buildUrl(kc: KubeClientConfig, path: string, query: Query | undefined): URL {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new KubeError(0, 'NoCluster', 'the kubeconfig has no current cluster');
  const url = new URL(server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
  return url;
}

/** What a path addresses, the way the apiserver's RequestInfo sees it. */
export function describePath(method: string, path: string, query?: Query): { verb: Verb; resource: string } {
  const segs = path.split('?')[0]!.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...
  let rest = segs[0] === 'api' ? segs.slice(2) : segs[0] === 'apis' ? segs.slice(3) : [];
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') rest = rest.slice(2);
  const resource = rest.length === 0 ? '' : rest.length >= 3 ? `${rest[0]}/${rest[2]}` : rest[0]!;
  const collection = rest.length === 1;
  const watch = query?.watch === true || query?.watch === 'true' || query?.watch === 1 || query?.watch === '1';
  switch (method.toUpperCase()) {
    case 'GET':
      return { verb: watch ? 'watch' : collection ? 'list' : 'get', resource };
    case 'POST':
      return { verb: 'create', resource };
    case 'PUT':
      return { verb: 'update', resource };
    case 'PATCH':
      return { verb: 'patch', resource };
    case 'DELETE':
      return { verb: collection ? 'deletecollection' : 'delete', resource };
    default:
      return { verb: 'get', resource };
  }
}

// ---------- requests ----------

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Sent as JSON unless it is a string already. */
  body?: unknown;
  /** Default application/json. */
  contentType?: string;
  /** Default application/json. */
  accept?: string;
  /** Whole-request limit; default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const RETRYABLE_SOCKET_ERRORS = new Set(['ECONNRESET', 'EPIPE']);

/**
 * One request; resolves with the parsed JSON body of a 2xx answer, rejects with KubeError otherwise.
 * A GET on a reused keep-alive connection that the server had closed (apiserver restart) is sent once more.
 */
export async function kubeRequest<T = unknown>(kc: KubeClientConfig, method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const res = await sendRequest<T>(kc, method, path, options);
  if (res.code >= 200 && res.code < 300) return res.body as T;
  throw statusError(res.code, res.body, res.text, res.headers['retry-after'] as string | undefined);
}

export interface RawResponse<T = unknown> {
  code: number;
  /** The parsed JSON body; undefined when empty or not JSON. */
  body: T | undefined;
  text: string;
  headers: http.IncomingHttpHeaders;
}

/**
 * One request, answered whatever the status: for callers that read the code and the server's Status
 * as data. Rejects (KubeError code 0) only when no answer came. Retries a GET as kubeRequest does.
 */
export async function sendRequest<T = unknown>(kc: KubeClientConfig, method: string, path: string, options: RequestOptions = {}): Promise<RawResponse<T>> {
  try {
    return await requestOnce<T>(kc, method, path, options);
  } catch (err) {
    const errno = ((err as KubeError).cause as NodeJS.ErrnoException | undefined)?.code;
    if (method === 'GET' && isKubeError(err, 0) && errno && RETRYABLE_SOCKET_ERRORS.has(errno) && !options.signal?.aborted) {
      return requestOnce<T>(kc, method, path, options);
    }
    throw err;
  }
}

async function requestOnce<T>(kc: KubeClientConfig, method: string, path: string, options: RequestOptions): Promise<RawResponse<T>> {
  const url = buildUrl(kc, path, options.query);
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const headers: Record<string, string> = options.accept ? { Accept: options.accept } : {};
  if (payload !== undefined) {
    headers['Content-Type'] = options.contentType ?? 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  const opts = await connectOptions(kc, method, url, headers);
  const { verb, resource } = describePath(method, path, options.query);
  const t0 = performance.now();
  let code = 0;
  try {
    return await new Promise<RawResponse<T>>((resolve, reject) => {
      const req = (url.protocol === 'http:' ? http : https).request(opts, (res) => {
        code = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new KubeError(0, 'ConnectionError', `${method} ${path}: ${e.message}`, undefined, { cause: e })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            body = undefined;
          }
          resolve({ code, body: body as T | undefined, text, headers: res.headers });
        });
      });
      const timeoutMs = options.timeoutMs ?? 30_000;
      const timer = setTimeout(() => req.destroy(new KubeError(0, 'Timeout', `${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = () => req.destroy(options.signal?.reason instanceof Error ? options.signal.reason : new Error('aborted'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      });
      req.on('error', (e) =>
        reject(e instanceof KubeError || options.signal?.aborted ? e : new KubeError(0, 'ConnectionError', `${method} ${path}: ${e.message}`, undefined, { cause: e })),
      );
      if (options.signal?.aborted) onAbort();
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  } finally {
    report(kc, { verb, method, path, resource, code, durationMs: performance.now() - t0 });
  }
}

// ---------- watch ----------

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T = KubeObject> {
  type: WatchEventType;
  object: T;
}

export interface WatchOptions {
  query?: Query;
  /** Aborting ends the watch; the promise then resolves. */
  signal?: AbortSignal;
  /** Called once the server accepted the watch (HTTP 200). */
  onOpen?: () => void;
  /** Hard limit for the whole stream, a guard against a silently dead connection. Default: none. */
  timeoutMs?: number;
}

/**
 * Streams a watch (newline-delimited JSON). Resolves when the server ends the stream or the signal aborts;
 * rejects with KubeError on an error answer, an ERROR event (e.g. 410 Expired) or a broken connection.
 * An exception thrown by onEvent ends the watch and rejects with it.
 */
export async function watchStream<T = KubeObject>(
  kc: KubeClientConfig,
  path: string,
  onEvent: (event: WatchEvent<T>) => void,
  options: WatchOptions = {},
): Promise<void> {
  const query: Query = { ...options.query, watch: 'true' };
  const url = buildUrl(kc, path, query);
  const opts = await connectOptions(kc, 'GET', url, {});
  const { resource } = describePath('GET', path, query);
  const t0 = performance.now();
  let code = 0;
  const signal = options.signal;
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        req.destroy();
        if (err === undefined || signal?.aborted) resolve();
        else reject(err);
      };
      const broken = (e: Error) => done(new KubeError(0, 'ConnectionError', `watch ${path}: ${e.message}`, undefined, { cause: e }));
      const req = (url.protocol === 'http:' ? http : https).request(opts, (res) => {
        code = res.statusCode ?? 0;
        if (code !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              body = undefined;
            }
            done(statusError(code, body, text, res.headers['retry-after'] as string | undefined));
          });
          res.on('error', broken);
          return;
        }
        options.onOpen?.();
        res.setEncoding('utf8');
        let buffered = '';
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while (!settled && (nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            try {
              const ev = JSON.parse(line) as { type: string; object: unknown };
              if (ev.type === 'ERROR') {
                done(statusError(500, ev.object, line));
                return;
              }
              onEvent(ev as WatchEvent<T>);
            } catch (err) {
              done(err);
              return;
            }
          }
        });
        res.on('error', broken);
        // 'close' without a complete message: the connection broke mid-stream (apiserver killed)
        res.on('close', () => (res.complete ? done() : broken(new Error('stream closed before its end'))));
      });
      const onAbort = () => done();
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer = options.timeoutMs ? setTimeout(() => done(new KubeError(0, 'Timeout', `watch ${path}: still open after ${options.timeoutMs} ms`)), options.timeoutMs) : undefined;
      req.on('error', broken);
      if (signal?.aborted) onAbort();
      req.end();
    });
  } finally {
    report(kc, { verb: 'watch', method: 'GET', path, resource, code, durationMs: performance.now() - t0 });
  }
}

// ---------- typed reads ----------

export interface ListResult<T> {
  items: T[];
  /** The collection's resourceVersion, where a watch continues. */
  resourceVersion: string;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size; default 500. */
  limit?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Lists every object, page by page. Items get apiVersion and kind filled in (the server leaves them out
 * of list items for built-in kinds). A continue token that expired mid-way restarts with one unpaged list.
 */
export async function listObjects<T extends KubeObject = KubeObject>(kc: KubeClientConfig, rt: ResourceType, options: ListOptions = {}): Promise<ListResult<T>> {
  const path = apiPath(rt, options.namespace);
  const base: Query = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
  const apiVersion = rt.group ? `${rt.group}/${rt.version}` : rt.version;
  const fill = (o: T): T => ({ ...o, apiVersion, kind: rt.kind });
  type Page = { items?: T[]; metadata?: { resourceVersion?: string; continue?: string } };
  const req = (query: Query) =>
    kubeRequest<Page>(kc, 'GET', path, {
      query,
      ...(options.signal ? { signal: options.signal } : {}),
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  const items: T[] = [];
  let cont: string | undefined;
  let rv = '';
  try {
    do {
      const page = await req({ ...base, limit: options.limit ?? 500, continue: cont });
      for (const o of page.items ?? []) items.push(fill(o));
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue || undefined;
    } while (cont);
  } catch (err) {
    if (!isGone(err) || cont === undefined) throw err;
    const page = await req(base);
    return { items: (page.items ?? []).map(fill), resourceVersion: page.metadata?.resourceVersion ?? '' };
  }
  return { items, resourceVersion: rv };
}

/** The PartialObjectMetadata media type: the server answers with metadata only. */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/**
 * The object's metadata only (a PartialObjectMetadata), or undefined when it does not exist: for
 * Secrets whose existence matters but whose data must never reach the caller.
 */
export async function getMetadata(kc: KubeClientConfig, rt: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
  try {
    return await kubeRequest<KubeObject>(kc, 'GET', apiPath(rt, namespace, name), { accept: METADATA_ONLY });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The object, or undefined when it does not exist. */
export async function getObject<T extends KubeObject = KubeObject>(
  kc: KubeClientConfig,
  rt: ResourceType,
  namespace: string | undefined,
  name: string,
): Promise<T | undefined> {
  try {
    return await kubeRequest<T>(kc, 'GET', apiPath(rt, namespace, name));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
