// A list+watch cache of one resource that keeps itself correct when watches break: restart with backoff
// and jitter, re-list on 410, periodic full re-list, and patience with a CRD that is not installed yet.
// Handlers receive diffs against the cache, so a re-list replays what changed (and a resync replays
// everything as updates); they must be idempotent, e.g. only enqueue a key.
import type { KubeClientConfig } from './config.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { discoverResource } from './discovery.js';
import { isGone, isNotFound, listObjects, watchStream, type WatchEvent } from './http.js';
import { apiPath, apiVersionOf, keyOf, objectKey, type KubeObject, type ResourceType } from './resources.js';

export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

export interface InformerOptions {
  /** Only this namespace (ignored for a cluster-scoped resource). Default: all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Full re-list that replays every object as an update; 0 turns it off. Default 10 min. */
  resyncMs?: number;
  /** How often to look again for a resource the server does not serve. Default 30 s. */
  availabilityCheckMs?: number;
  /** Watch and list retries: default 200 ms doubling to 30 s; reset once a watch stayed up resetAfterMs (default 60 s). */
  backoff?: BackoffOptions & { resetAfterMs?: number };
  /** Server-side watch timeout; default random 5 to 10 min (as client-go), so watches do not renew together. */
  watchTimeoutSeconds?: number;
  /** List page size; default 500. */
  pageSize?: number;
  log?: Logger;
  /** For log lines; default the resource (and namespace). */
  name?: string;
}

export interface InformerStats {
  /** Successful lists (the first one, re-lists after 410 or errors, resyncs). */
  lists: number;
  /** Watches answered with 410 Expired / Gone. */
  expired: number;
  /** Watches opened. */
  watches: number;
  /** Watches and lists that failed (connection, 5xx, 429, 403...). */
  errors: number;
  resyncs: number;
}

type Handlers<T> = {
  add: (obj: T) => void;
  update: (obj: T, old: T) => void;
  delete: (obj: T) => void;
};

type RelistReason = 'initial' | 'expired' | 'error' | 'resync';

// Ends of a watch that need a fresh list rather than a re-watch.
type WatchOutcome = 'expired' | 'missing' | 'resync' | 'stopped';

const defaultLogger: Logger = (level, message) => console.error(`${level}: ${message}`);

export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: { [E in keyof Handlers<T>]: Set<Handlers<T>[E]> } = { add: new Set(), update: new Set(), delete: new Set() };
  private readonly stopper = new AbortController();
  private readonly opts: InformerOptions;
  private readonly log: Logger;
  private readonly label: string;
  private resolved: ResourceType | undefined;
  private rv = '';
  private failures = 0;
  private lastListAt = 0;
  private running: Promise<void> | undefined;
  private watchAbort: AbortController | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncDue = false;
  private startedResolve!: () => void;
  private readonly startedPromise: Promise<void>;
  private lastError = '';
  private announcedMissing = false;
  private _synced = false;
  private _available = false;
  readonly stats: InformerStats = { lists: 0, expired: 0, watches: 0, errors: 0, resyncs: 0 };

  constructor(
    private readonly kc: KubeClientConfig,
    readonly rt: ResourceType,
    options: InformerOptions = {},
  ) {
    this.opts = options;
    this.log = options.log ?? defaultLogger;
    this.label = options.name ?? `informer ${rt.plural}.${rt.group || 'core'}${options.namespace ? ` in ${options.namespace}` : ''}`;
    this.startedPromise = new Promise((resolve) => (this.startedResolve = resolve));
  }

  /** True once the first list completed: the cache then holds every object. */
  get synced(): boolean {
    return this._synced;
  }

  /** Whether the server serves the resource (false before the first check and while a CRD is missing). */
  get available(): boolean {
    return this._available;
  }

  /** The resource as the server serves it (scope from discovery), or the descriptor before the first check. */
  get resource(): ResourceType {
    return this.resolved ?? this.rt;
  }

  /** The resourceVersion the watch continues from. */
  get resourceVersion(): string {
    return this.rv;
  }

  /**
   * Registers a handler. The cache already holds the new state when it runs. An 'add' handler registered
   * after the first list is called at once for every cached object, so late handlers miss nothing.
   */
  on<E extends keyof Handlers<T>>(event: E, handler: Handlers<T>[E]): this {
    this.handlers[event].add(handler);
    if (event === 'add') for (const obj of this.cache.values()) this.call('add', handler as Handlers<T>['add'], obj);
    return this;
  }

  off<E extends keyof Handlers<T>>(event: E, handler: Handlers<T>[E]): this {
    this.handlers[event].delete(handler);
    return this;
  }

  /**
   * Starts list+watch in the background. Resolves after the first successful list, or as soon as the
   * resource is known not to be served (available=false; the informer keeps checking and syncs later), or on
   * stop(). Never rejects: errors are logged and retried.
   */
  start(): Promise<void> {
    if (!this.running && !this.stopper.signal.aborted) {
      this.running = this.loop().catch((err: unknown) => this.log('error', `${this.label}: stopped by a bug: ${String(err)}`));
    }
    return this.startedPromise;
  }

  /** Stops watching for good; resolves when the background loop has ended. The cache stays readable. */
  async stop(): Promise<void> {
    this.stopper.abort();
    this.watchAbort?.abort();
    clearTimeout(this.resyncTimer);
    this.startedResolve();
    await this.running;
  }

  private readonly indexes = new Map<string, { fn: (o: T) => string[]; map: Map<string, Set<string>> }>();

  /** Adds an index (client-go's Indexer): objects by the values fn gives them. Before start(). */
  addIndex(name: string, fn: (o: T) => string[]): this {
    this.indexes.set(name, { fn, map: new Map() });
    return this;
  }

  /** Cached objects whose index `name` includes value. */
  byIndex(name: string, value: string): T[] {
    const keys = this.indexes.get(name)?.map.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const o = this.cache.get(k);
      if (o) out.push(o);
    }
    return out;
  }

  private store(key: string, obj: T): void {
    if (this.indexes.size) this.unindex(key);
    this.cache.set(key, obj);
    for (const { fn, map } of this.indexes.values()) {
      for (const v of fn(obj)) {
        let set = map.get(v);
        if (!set) map.set(v, (set = new Set()));
        set.add(key);
      }
    }
  }

  private unstore(key: string): void {
    if (this.indexes.size) this.unindex(key);
    this.cache.delete(key);
  }

  private unindex(key: string): void {
    const old = this.cache.get(key);
    if (!old) return;
    for (const { fn, map } of this.indexes.values()) {
      for (const v of fn(old)) {
        const set = map.get(v);
        set?.delete(key);
        if (set?.size === 0) map.delete(v);
      }
    }
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.cache.values()];
  }

  /** The cached object; the namespace is ignored for cluster-scoped resources. */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(keyOf(this.resource.namespaced ? namespace : undefined, name));
  }

  /** The cached object under a "namespace/name" (or "name") key. */
  getByKey(key: string): T | undefined {
    return this.cache.get(key);
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  // ---------- the loop ----------

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private async loop(): Promise<void> {
    let reason: RelistReason = 'initial';
    while (!this.stopped) {
      try {
        if (!this.resolved) {
          const found = await discoverResource(this.kc, this.rt, this.stopper.signal);
          if (!found) {
            this.markMissing('its group version or resource is not in discovery');
            await sleep(this.opts.availabilityCheckMs ?? 30_000, this.stopper.signal);
            continue;
          }
          this.resolved = found;
        }
        await this.relist(reason);
        this.scheduleResync();
        const outcome = await this.watchUntilRelist();
        if (outcome === 'stopped') break;
        if (outcome === 'missing') {
          this.markMissing('the watch answered 404');
          continue;
        }
        reason = outcome;
        // Right after a list a 410 means something is off: do not spin.
        if (outcome === 'expired' && performance.now() - this.lastListAt < 1000) await this.backoff();
      } catch (err) {
        if (this.stopped) break;
        if (isNotFound(err)) {
          this.markMissing('the list answered 404');
          await sleep(this.opts.availabilityCheckMs ?? 30_000, this.stopper.signal);
          continue;
        }
        this.stats.errors++;
        this.noteError(err);
        reason = 'error';
        await this.backoff();
      }
    }
    clearTimeout(this.resyncTimer);
  }

  private async backoff(): Promise<void> {
    await sleep(backoffDelay(this.failures++, this.opts.backoff), this.stopper.signal);
  }

  private async relist(reason: RelistReason): Promise<void> {
    const rt = this.resolved ?? this.rt;
    const { items, resourceVersion } = await listObjects<T>(this.kc, rt, {
      ...(rt.namespaced && this.opts.namespace ? { namespace: this.opts.namespace } : {}),
      ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
      ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
      limit: this.opts.pageSize ?? 500,
      signal: this.stopper.signal,
    });
    if (this.stopped) return;
    this.stats.lists++;
    if (reason === 'resync') this.stats.resyncs++;
    this.lastListAt = performance.now();
    this.resyncDue = false;
    this.rv = resourceVersion;
    this.markAvailable();
    for (const o of items) delete o.metadata.managedFields;
    const fresh = new Map(items.map((o) => [objectKey(o), o]));
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.unstore(key);
        this.emit('delete', old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.cache.get(key);
      this.store(key, obj);
      if (!old) this.emit('add', obj);
      else if (reason === 'resync' || old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit('update', obj, old);
    }
    if (!this._synced) {
      this._synced = true;
      this.startedResolve();
    }
  }

  /** Watches (and re-watches after errors, from the last resourceVersion) until a fresh list is needed. */
  private async watchUntilRelist(): Promise<WatchOutcome> {
    const rt = this.resolved ?? this.rt;
    const path = apiPath(rt, rt.namespaced ? this.opts.namespace : undefined);
    const resetAfterMs = this.opts.backoff?.resetAfterMs ?? 60_000;
    while (!this.stopped) {
      if (this.resyncDue) {
        this.resyncDue = false;
        return 'resync';
      }
      const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
      const abort = new AbortController();
      this.watchAbort = abort;
      let openedAt: number | undefined;
      try {
        await watchStream<T>(this.kc, path, (ev) => this.apply(ev), {
          query: {
            resourceVersion: this.rv,
            allowWatchBookmarks: true,
            timeoutSeconds,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
          },
          signal: abort.signal,
          onOpen: () => {
            openedAt = performance.now();
            this.stats.watches++;
            if (this.lastError) {
              this.log('info', `${this.label}: watching again from resourceVersion ${this.rv}`);
              this.lastError = '';
            }
          },
          // The server ends the watch at timeoutSeconds; a connection that outlives that by a minute is dead.
          timeoutMs: (timeoutSeconds + 60) * 1000,
        });
        if (this.stopped) return 'stopped';
        const lived = openedAt === undefined ? 0 : performance.now() - openedAt;
        if (lived >= resetAfterMs) this.failures = 0;
        // A normal end (server timeout, resync abort) re-watches at once; one that keeps ending early backs off.
        if (lived < 1000 && !this.resyncDue) await this.backoff();
      } catch (err) {
        if (this.stopped) return 'stopped';
        if (openedAt !== undefined && performance.now() - openedAt >= resetAfterMs) this.failures = 0;
        if (isGone(err)) {
          this.stats.expired++;
          this.log('info', `${this.label}: resourceVersion ${this.rv} expired (${(err as Error).message}); listing again`);
          return 'expired';
        }
        if (isNotFound(err)) return 'missing';
        this.stats.errors++;
        this.noteError(err);
        await this.backoff();
      } finally {
        this.watchAbort = undefined;
      }
    }
    return 'stopped';
  }

  private apply(ev: WatchEvent<T>): void {
    const obj = ev.object;
    const rv = obj?.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') {
      if (rv) this.rv = rv;
      return;
    }
    if (!obj?.metadata?.name) return;
    delete obj.metadata.managedFields;
    const rt = this.resolved ?? this.rt;
    // Watch events of built-in kinds may lack these, as list items do.
    if (!obj.apiVersion) obj.apiVersion = apiVersionOf(rt);
    if (!obj.kind) obj.kind = rt.kind;
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (ev.type === 'DELETED') {
      this.unstore(key);
      if (old) this.emit('delete', obj);
    } else {
      this.store(key, obj);
      if (old) this.emit('update', obj, old);
      else this.emit('add', obj);
    }
    if (rv) this.rv = rv;
  }

  private scheduleResync(): void {
    clearTimeout(this.resyncTimer);
    const every = this.opts.resyncMs ?? 600_000;
    if (every <= 0 || this.stopped) return;
    this.resyncTimer = setTimeout(() => {
      this.resyncDue = true;
      this.watchAbort?.abort();
    }, every);
    this.resyncTimer.unref();
  }

  private markAvailable(): void {
    if (!this._available && this.announcedMissing) this.log('info', `${this.label}: the resource is served now; syncing`);
    this._available = true;
    this.announcedMissing = false;
  }

  /** The resource is gone or not there yet: say so once, drop what it held, and resolve start(). */
  private markMissing(why: string): void {
    this.resolved = undefined;
    this._available = false;
    if (!this.announcedMissing) {
      this.announcedMissing = true;
      const ms = this.opts.availabilityCheckMs ?? 30_000;
      const every = ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
      this.log('warn', `${this.label}: not served (${why}; is its CRD installed?); checking again every ${every}`);
    }
    for (const [key, obj] of this.cache) {
      this.unstore(key);
      this.emit('delete', obj);
    }
    this.rv = '';
    this.startedResolve();
  }

  private noteError(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    // The same failure every retry would flood the log; say it when it changes.
    if (message !== this.lastError) this.log('warn', `${this.label}: ${message}; retrying with backoff`);
    this.lastError = message;
  }

  private emit(event: 'add' | 'delete', obj: T): void;
  private emit(event: 'update', obj: T, old: T): void;
  private emit(event: keyof Handlers<T>, obj: T, old?: T): void {
    for (const h of this.handlers[event]) this.call(event, h as (o: T, old?: T) => void, obj, old);
  }

  private call(event: string, handler: (obj: T, old?: T) => void, obj: T, old?: T): void {
    try {
      handler(obj, old);
    } catch (err) {
      this.log('error', `${this.label}: ${event} handler failed for ${objectKey(obj)}: ${String(err)}`);
    }
  }
}
