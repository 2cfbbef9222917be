// Every write llmstack makes to Kubernetes, with one field manager: server-side apply, status through the
// status subresource (skipped when nothing changed), label merge patches with an optional optimistic
// lock, deletes, and Events that aggregate repeats instead of piling up.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeClientConfig } from './config.js';
import { resourceForKind } from './discovery.js';
import { isConflict, isNotFound, kubeRequest, KubeError } from './http.js';
import type { Logger } from './informer.js';
import { apiPath, apiVersionOf, RESOURCES, type KubeObject, type ResourceType } from './resources.js';

const APPLY = 'application/apply-patch+yaml';
const MERGE = 'application/merge-patch+json';

/** Deep equality of JSON values, ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => jsonEqual(ao[k], bo[k]));
}

export interface ApplyStatusOptions {
  /**
   * The object as last seen (e.g. from an informer). When its status already equals `status`, no request
   * is sent: applying it could not change anything, and every write costs the apiserver and etcd.
   */
  current?: KubeObject;
  signal?: AbortSignal;
}

/**
 * Server-side apply of `status` to the status subresource, forcing ownership for fieldManager. The server
 * stores nothing (same resourceVersion) when the applied fields already have these values. Returns the
 * object as stored, or `options.current` when the write was skipped.
 */
export async function applyStatus<T extends KubeObject = KubeObject>(
  kc: KubeClientConfig,
  rt: ResourceType,
  namespace: string | undefined,
  name: string,
  status: unknown,
  fieldManager: string,
  options: ApplyStatusOptions = {},
): Promise<T> {
  if (options.current && jsonEqual(options.current['status'], status)) return options.current as T;
  const body = {
    apiVersion: apiVersionOf(rt),
    kind: rt.kind,
    metadata: { name, ...(rt.namespaced && namespace ? { namespace } : {}) },
    status,
  };
  return kubeRequest<T>(kc, 'PATCH', apiPath(rt, namespace, name, 'status'), {
    body,
    contentType: APPLY,
    query: { fieldManager, force: true },
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/**
 * The JSON merge patch (RFC 7386) that turns `from` into `to`: changed members only, removed ones as
 * null, arrays whole. Undefined when nothing changed. Values must not be null themselves (a merge patch
 * cannot set null); reports never hold null.
 */
export function mergePatchOf(from: unknown, to: unknown): unknown {
  if (jsonEqual(from, to)) return undefined;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(from) || !isObj(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(to)) {
    if (v === undefined) continue;
    const sub = mergePatchOf(from[k], v);
    if (sub !== undefined) patch[k] = sub;
  }
  for (const [k, v] of Object.entries(from)) if (v !== undefined && to[k] === undefined) patch[k] = null;
  return patch;
}

/**
 * Writes `status` as a merge patch of what changed since `current` (the object as last seen), with
 * current's resourceVersion as a precondition: a stale cache gets a 409 instead of a wrong diff. Cheaper
 * for the API server than applying the whole status (a small body, no apply merge); nothing is sent when
 * nothing changed. Returns the stored object, or current when the write was skipped.
 */
export async function patchStatus<T extends KubeObject = KubeObject>(
  kc: KubeClientConfig,
  rt: ResourceType,
  current: KubeObject,
  status: unknown,
  fieldManager: string,
): Promise<T> {
  const patch = mergePatchOf(current['status'] ?? {}, status);
  if (patch === undefined) return current as T;
  return kubeRequest<T>(kc, 'PATCH', apiPath(rt, current.metadata.namespace, current.metadata.name, 'status'), {
    body: { metadata: { resourceVersion: current.metadata.resourceVersion }, status: patch },
    contentType: MERGE,
    query: { fieldManager },
  });
}

export interface ApplyOptions {
  /** Take over fields another manager owns; default true (llmstack's fields are llmstack's). */
  force?: boolean;
  dryRun?: boolean;
  /** The resource, when the caller knows it; otherwise discovery finds it from apiVersion and kind. */
  resource?: ResourceType;
}

/** Server-side apply of a whole object (the fields it sets become fieldManager's). Returns the stored object. */
export async function applyObject<T extends KubeObject = KubeObject>(kc: KubeClientConfig, obj: KubeObject, fieldManager: string, options: ApplyOptions = {}): Promise<T> {
  const rt = options.resource ?? (await resourceForKind(kc, obj.apiVersion, obj.kind));
  if (!rt) throw new KubeError(404, 'NotFound', `the server does not serve kind ${obj.kind} in ${obj.apiVersion}`);
  return kubeRequest<T>(kc, 'PATCH', apiPath(rt, obj.metadata.namespace, obj.metadata.name), {
    body: obj,
    contentType: APPLY,
    query: { fieldManager, force: options.force ?? true, dryRun: options.dryRun ? 'All' : undefined },
  });
}

/**
 * Sets (string) or removes (null) labels with a JSON merge patch, leaving all other labels alone. With
 * resourceVersion, the server refuses (409) when the object changed since it was read.
 */
export async function mergePatchLabels<T extends KubeObject = KubeObject>(
  kc: KubeClientConfig,
  rt: ResourceType,
  namespace: string | undefined,
  name: string,
  labels: Record<string, string | null>,
  options: { resourceVersion?: string; fieldManager?: string } = {},
): Promise<T> {
  const metadata: Record<string, unknown> = { labels };
  if (options.resourceVersion) metadata['resourceVersion'] = options.resourceVersion;
  return kubeRequest<T>(kc, 'PATCH', apiPath(rt, namespace, name), {
    body: { metadata },
    contentType: MERGE,
    query: { fieldManager: options.fieldManager },
  });
}

/** Creates obj; a KubeError 409 (AlreadyExists) when it exists. */
export function createObject<T extends KubeObject = KubeObject>(
  kc: KubeClientConfig,
  rt: ResourceType,
  obj: KubeObject,
  options: { fieldManager?: string; dryRun?: boolean } = {},
): Promise<T> {
  return kubeRequest<T>(kc, 'POST', apiPath(rt, obj.metadata.namespace), { body: obj, query: { fieldManager: options.fieldManager, dryRun: options.dryRun ? 'All' : undefined } });
}

/** Replaces obj (PUT); its metadata.resourceVersion makes a stale write a KubeError 409 (Conflict). */
export function replaceObject<T extends KubeObject = KubeObject>(kc: KubeClientConfig, rt: ResourceType, obj: KubeObject, options: { fieldManager?: string } = {}): Promise<T> {
  return kubeRequest<T>(kc, 'PUT', apiPath(rt, obj.metadata.namespace, obj.metadata.name), { body: obj, query: { fieldManager: options.fieldManager } });
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  /** Preconditions: delete only this exact object (uid) or version (resourceVersion); else 409. */
  uid?: string;
  resourceVersion?: string;
}

/** Deletes the object; false when it was already gone. */
export async function deleteObject(kc: KubeClientConfig, rt: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): Promise<boolean> {
  const preconditions = {
    ...(options.uid ? { uid: options.uid } : {}),
    ...(options.resourceVersion ? { resourceVersion: options.resourceVersion } : {}),
  };
  const body = {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    ...(options.propagationPolicy ? { propagationPolicy: options.propagationPolicy } : {}),
    ...(Object.keys(preconditions).length ? { preconditions } : {}),
  };
  try {
    await kubeRequest(kc, 'DELETE', apiPath(rt, namespace, name), { body });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

// ---------- events ----------

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** source.component and reportingComponent; default "llmstack-controller". */
  component?: string;
  /** reportingInstance and source.host; default the host name (the Pod name in a cluster). */
  instance?: string;
  /** Events remembered for aggregation; default 4096. */
  cacheSize?: number;
  log?: Logger;
}

interface CoreEvent extends KubeObject {
  count?: number;
}

/** Metav1.Time: RFC 3339 in whole seconds. */
function eventTime(d = new Date()): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Records core/v1 Events about objects. A repeat of the same type, reason and message on the same object
 * bumps count and lastTimestamp of the existing Event. Its name is derived from those fields, so the
 * aggregation holds across restarts and replicas too (a create answered 409 bumps the existing one).
 * Recording is best-effort: failures are logged, never thrown into a reconcile.
 */
export class EventRecorder {
  private readonly component: string;
  private readonly instance: string;
  private readonly seen = new Map<string, { namespace: string; count: number }>();
  private readonly log: Logger;

  constructor(
    private readonly kc: KubeClientConfig,
    private readonly options: EventRecorderOptions = {},
  ) {
    this.component = options.component ?? 'llmstack-controller';
    this.instance = options.instance ?? hostname();
    this.log = options.log ?? ((level, m) => console.error(`${level}: ${m}`));
  }

  /** Records the event; resolves with the stored Event, or undefined when recording failed. */
  async event(obj: KubeObject, type: EventType, reason: string, message: string): Promise<KubeObject | undefined> {
    const ns = obj.metadata.namespace || 'default';
    const msg = message.length > 1024 ? `${message.slice(0, 1021)}...` : message;
    const digest = createHash('sha256')
      .update(JSON.stringify([obj.apiVersion, obj.kind, obj.metadata.namespace ?? '', obj.metadata.name, obj.metadata.uid ?? '', type, reason, msg]))
      .digest('hex')
      .slice(0, 16);
    const name = `${obj.metadata.name.slice(0, 200)}.${digest}`;
    const now = eventTime();
    const rt = RESOURCES.event;
    try {
      const known = this.seen.get(name);
      if (known) {
        try {
          return this.remember(name, await this.bump(ns, name, known.count + 1, now));
        } catch (err) {
          if (!isNotFound(err)) throw err; // expired (events live an hour): record anew
        }
      }
      const body: CoreEvent = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: obj.apiVersion,
          kind: obj.kind,
          name: obj.metadata.name,
          ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
          ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
        },
        type,
        reason,
        message: msg,
        source: { component: this.component, host: this.instance },
        reportingComponent: this.component,
        reportingInstance: this.instance,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      try {
        return this.remember(name, await kubeRequest<CoreEvent>(this.kc, 'POST', apiPath(rt, ns), { body }));
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      // Recorded before (another replica, or before a restart): bump what is there.
      for (let attempt = 0; ; attempt++) {
        const existing = await kubeRequest<CoreEvent>(this.kc, 'GET', apiPath(rt, ns, name));
        try {
          return this.remember(name, await this.bump(ns, name, (existing.count ?? 1) + 1, now, existing.metadata.resourceVersion));
        } catch (err) {
          if (!isConflict(err) || attempt >= 2) throw err;
        }
      }
    } catch (err) {
      this.log('warn', `event ${reason} on ${obj.kind} ${obj.metadata.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata.name}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }

  private bump(namespace: string, name: string, count: number, now: string, resourceVersion?: string): Promise<CoreEvent> {
    const metadata = resourceVersion ? { resourceVersion } : undefined;
    return kubeRequest<CoreEvent>(this.kc, 'PATCH', apiPath(RESOURCES.event, namespace, name), {
      body: { ...(metadata ? { metadata } : {}), count, lastTimestamp: now },
      contentType: MERGE,
    });
  }

  private remember(name: string, ev: CoreEvent): CoreEvent {
    this.seen.delete(name);
    this.seen.set(name, { namespace: ev.metadata.namespace ?? '', count: ev.count ?? 1 });
    const max = this.options.cacheSize ?? 4096;
    while (this.seen.size > max) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
    return ev;
  }
}
