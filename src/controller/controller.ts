// `llmstack controller`: level-triggered. Informers keep caches of everything the report reads; every
// event only enqueues the key of the CAPI cluster it concerns; a worker reads the latest objects from
// the caches, labels the cluster for Rancher's auto-import when it should, computes the report in one
// place (report.ts) and writes it only when it changed.
import { hostname } from 'node:os';
import type { KubeClientConfig } from '../kube/config.js';
import { isConflict, isNotFound, onRequest } from '../kube/http.js';
import { FIELD_MANAGER } from '../kube/resources.js';
import { Informer, type Logger } from '../kube/informer.js';
import { LeaderElector } from '../kube/lease.js';
import { WorkQueue } from '../kube/queue.js';
import { apiVersionOf, keyOf, RESOURCES, splitKey, type KubeObject } from '../kube/resources.js';
import { applyObject, createObject, deleteObject, EventRecorder, jsonEqual, mergePatchLabels, patchStatus } from '../kube/write.js';
import { LABEL, UPSTREAM } from '../render/labels.js';
import { autoImportDecision, managedBy, parseLabelSelector, TURTLES, type LabelSelector } from './autoimport.js';
import { parseAutoscalerStatus } from './autoscaler-status.js';
import { transitions } from './events.js';
import type { ControllerMetrics } from './metrics.js';
import { computeReport, observedAutoscaler, secretsNeeded, type AutoscalerObservation, type ObjectLike } from './report.js';
import { SecretChecker } from './secrets.js';
import { targetingChange } from './targeting.js';
import { LLMCLUSTER, usableStatus } from './types.js';
import { WorkloadReader } from './workload.js';

const FLEET = {
  bundleName: 'fleet.cattle.io/bundle-name',
  bundleNamespace: 'fleet.cattle.io/bundle-namespace',
  clusterName: 'fleet.cattle.io/cluster',
  clusterNamespace: 'fleet.cattle.io/cluster-namespace',
  repoName: 'fleet.cattle.io/repo-name',
  /** On Fleet Clusters Rancher creates: the management.cattle.io Cluster they belong to. */
  rancherClusterName: 'management.cattle.io/cluster-name',
} as const;

export interface ControllerOptions {
  kubeConfig: KubeClientConfig;
  /** Watch one namespace only (CAPI objects); default all. */
  namespace?: string;
  /** Extra label selectors (string form) for clusters to auto-import besides those llmstack generated. */
  selectors?: string[];
  /** Add Rancher's auto-import label to managed clusters; default true. */
  autoImport?: boolean;
  workers?: number;
  /** Extra workers kept for clusters waiting for their auto-import label; default 16. */
  labelWorkers?: number;
  /** How often the autoscaler status is read from each workload cluster; default 30 s. */
  autoscalerPollMs?: number;
  resyncMs?: number;
  /** How often informers look again for a CRD that is not installed; default 30 s. */
  availabilityCheckMs?: number;
  leaderElection?: { namespace: string; name?: string; identity?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  metrics?: ControllerMetrics;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Called when leadership is lost; the CLI exits so Kubernetes restarts the pod with clean state. */
  onLostLeadership?: () => void;
  now?: () => Date;
}

type Obj = KubeObject & ObjectLike;

export class Controller {
  private readonly kc: KubeClientConfig;
  private readonly log: NonNullable<ControllerOptions['log']>;
  private readonly informerLog: Logger;
  private readonly selectors: LabelSelector[];
  private readonly managed: (c: ObjectLike) => boolean;
  private readonly queue: WorkQueue;
  private readonly recorder: EventRecorder;
  private readonly workload: WorkloadReader;
  private readonly autoscaler = new Map<string, { text?: string; observation: AutoscalerObservation }>();
  private readonly secrets: SecretChecker;
  /** The Secrets (namespace/name) each cluster's bundles need, as its last reconcile found them. */
  private readonly secretNeeds = new Map<string, Set<string>>();
  /** When a watch event first showed each cluster needing the auto-import label (for the latency metric). */
  private readonly needsLabelSince = new Map<string, number>();
  /** The report each of our writes returned, and the resourceVersion it replaced (see newestReport). */
  private readonly ownWrites = new Map<string, { basedOn: string; result: Obj }>();
  private readonly elector?: LeaderElector;
  private readonly now: () => Date;
  private pollTimer?: NodeJS.Timeout;
  private availabilityTimer?: NodeJS.Timeout;
  private availability = '';
  private leading = false;
  private stopped = false;
  private running: Promise<void>[] = [];
  private unsubscribe?: () => void;

  readonly informers: {
    clusters: Informer<Obj>;
    namespaces: Informer<Obj>;
    machineDeployments: Informer<Obj>;
    bundles: Informer<Obj>;
    bundleDeployments: Informer<Obj>;
    gitRepos: Informer<Obj>;
    fleetClusters: Informer<Obj>;
    rancherClusters: Informer<Obj>;
    reports: Informer<Obj>;
  };

  constructor(private readonly opts: ControllerOptions) {
    this.kc = opts.kubeConfig;
    this.now = opts.now ?? (() => new Date());
    this.log = opts.log ?? ((level, msg, fields) => process.stderr.write(`${JSON.stringify({ level, msg, ...fields })}\n`));
    this.informerLog = (level, message) => this.log(level, message);
    this.selectors = (opts.selectors ?? []).map((s) => {
      const parsed = parseLabelSelector(s);
      if ('error' in parsed) throw new Error(`selector "${s}": ${parsed.error}`);
      return parsed;
    });
    const bySelector = managedBy(this.selectors);
    this.managed = (c) => Boolean(c.metadata?.labels?.[LABEL.stack]) || (this.selectors.length > 0 && bySelector(c));
    const m = opts.metrics;
    this.queue = new WorkQueue({
      hooks: { depth: (d) => m?.queueDepth.set(d) },
      onError: (key, e) => this.log('error', 'reconcile failed', { key, error: String(e) }),
    });
    this.recorder = new EventRecorder(this.kc, { log: this.informerLog });
    this.workload = new WorkloadReader(this.kc);
    this.secrets = new SecretChecker(this.kc, (level, msg, fields) => this.log(level, msg, fields));
    if (m) this.unsubscribe = onRequest(this.kc, (r) => m.kubeRequests.inc({ verb: r.verb }));

    const common = { resyncMs: opts.resyncMs ?? 10 * 60_000, log: this.informerLog, ...(opts.availabilityCheckMs ? { availabilityCheckMs: opts.availabilityCheckMs } : {}) };
    const ns = { ...common, ...(opts.namespace ? { namespace: opts.namespace } : {}) };
    this.informers = {
      clusters: new Informer<Obj>(this.kc, RESOURCES.capiCluster, ns),
      namespaces: new Informer<Obj>(this.kc, RESOURCES.namespace, common),
      machineDeployments: new Informer<Obj>(this.kc, RESOURCES.machineDeployment, ns),
      bundles: new Informer<Obj>(this.kc, RESOURCES.fleetBundle, common),
      bundleDeployments: new Informer<Obj>(this.kc, RESOURCES.fleetBundleDeployment, common),
      gitRepos: new Informer<Obj>(this.kc, RESOURCES.fleetGitRepo, common),
      fleetClusters: new Informer<Obj>(this.kc, RESOURCES.fleetCluster, common),
      rancherClusters: new Informer<Obj>(this.kc, RESOURCES.rancherCluster, common),
      reports: new Informer<Obj>(this.kc, RESOURCES.llmCluster, ns),
    };
    this.addIndexes();
    this.wire();
    if (opts.leaderElection) {
      this.elector = new LeaderElector(this.kc, {
        namespace: opts.leaderElection.namespace,
        name: opts.leaderElection.name ?? 'llmstack-controller',
        identity: opts.leaderElection.identity ?? `${hostname()}-${process.pid}`,
        leaseDurationMs: opts.leaderElection.leaseDurationMs,
        renewDeadlineMs: opts.leaderElection.renewDeadlineMs,
        retryPeriodMs: opts.leaderElection.retryPeriodMs,
        log: this.informerLog,
      });
    }
  }

  /** Alive unless stopped. */
  healthy(): boolean {
    return !this.stopped;
  }

  /** Ready once the caches of the resources the server serves are synced. */
  ready(): boolean {
    return Object.values(this.informers).every((i) => i.synced || !i.available);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts the informers, then works as leader (or at once without leader election). */
  async start(): Promise<void> {
    await Promise.all(Object.values(this.informers).map((i) => i.start()));
    for (const [name, inf] of Object.entries(this.informers)) this.opts.metrics?.informersAvailable.set({ resource: name }, inf.available ? 1 : 0);
    if (!this.elector) {
      this.lead();
      return;
    }
    this.running.push(
      this.elector.run(
        (signal) => {
          this.lead();
          return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        },
        () => {
          const wasLeading = this.leading;
          this.leading = false;
          this.opts.metrics?.leader.set(0);
          if (wasLeading && !this.stopped) {
            this.log('warn', 'lost leadership');
            this.opts.onLostLeadership?.();
          }
        },
      ),
    );
  }

  /** Stops everything; with release, a standby can take over at once (graceful shutdown). */
  async stop(options: { release?: boolean } = { release: true }): Promise<void> {
    this.stopped = true;
    this.leading = false;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.availabilityTimer) clearInterval(this.availabilityTimer);
    await this.elector?.stop({ release: options.release ?? true });
    await this.queue.shutdown();
    for (const i of Object.values(this.informers)) i.stop();
    this.unsubscribe?.();
    await Promise.allSettled(this.running);
  }

  private lead(): void {
    if (this.stopped || this.leading) return;
    this.leading = true;
    this.opts.metrics?.leader.set(1);
    this.log('info', 'leading: reconciling every cluster');
    // Reconciles mostly wait on the API server, so many run at once; labels have workers of their own so
    // a burst of new clusters is labelled while the reports of earlier ones are still being written.
    this.running.push(this.queue.run((key) => this.reconcile(key), this.opts.workers ?? 16));
    const labelWorkers = this.opts.autoImport === false ? 0 : (this.opts.labelWorkers ?? 16);
    if (labelWorkers > 0) this.running.push(this.queue.run((key) => this.reconcile(key), labelWorkers, { urgentOnly: true }));
    for (const c of this.informers.clusters.list()) this.onClusterEvent(c);
    for (const r of this.informers.reports.list()) this.queue.add(keyOf(r.metadata.namespace, r.metadata.name));
    // Timer callbacks must never throw: an uncaught error would end the process, not one reconcile.
    const poll = () => {
      void this.pollAutoscalers().catch((e: unknown) => this.log('error', 'autoscaler poll failed', { error: String(e) }));
      void this.pollSecrets().catch((e: unknown) => this.log('error', 'Secret poll failed', { error: String(e) }));
    };
    poll();
    this.pollTimer = setInterval(poll, this.opts.autoscalerPollMs ?? 30_000);
    this.availability = this.availabilityKey();
    this.availabilityTimer = setInterval(() => this.checkAvailability(), Math.min(this.opts.availabilityCheckMs ?? 30_000, 5_000));
  }

  private availabilityKey(): string {
    return Object.entries(this.informers)
      .map(([name, i]) => `${name}=${i.available}`)
      .join(',');
  }

  /** A CRD installed or removed later (Fleet, Rancher) changes every report: reconcile them all. */
  private checkAvailability(): void {
    const now = this.availabilityKey();
    if (now === this.availability) return;
    this.availability = now;
    for (const [name, inf] of Object.entries(this.informers)) this.opts.metrics?.informersAvailable.set({ resource: name }, inf.available ? 1 : 0);
    this.log('info', 'served resources changed: reconciling every cluster', { available: now });
    for (const c of this.informers.clusters.list()) this.queue.add(keyOf(c.metadata.namespace, c.metadata.name));
  }

  private enqueue(key: string | undefined, options?: { urgent?: boolean }): void {
    if (key && this.leading) this.queue.add(key, options);
  }

  private needsLabel(c: Obj): boolean {
    if (this.opts.autoImport === false) return false;
    return autoImportDecision(c, this.informers.namespaces.get(undefined, c.metadata.namespace ?? ''), { managed: this.managed }).label;
  }

  /** A cluster that needs its label jumps the queue: a label is one cheap patch, a report several writes. */
  private onClusterEvent(c: Obj): void {
    if (!this.leading) return;
    const key = keyOf(c.metadata.namespace, c.metadata.name);
    if (this.needsLabel(c)) {
      if (!this.needsLabelSince.has(key)) this.needsLabelSince.set(key, performance.now());
      this.enqueue(key, { urgent: true });
    } else {
      // The watch event of our own label can arrive before the patch's response: it counts as written.
      if (c.metadata.labels?.[UPSTREAM.rancherAutoImport] === 'true') this.observeLabelled(key);
      else this.needsLabelSince.delete(key);
      this.enqueue(key);
    }
  }

  private addIndexes(): void {
    const label = (o: Obj, k: string) => o.metadata.labels?.[k];
    this.informers.bundleDeployments.addIndex('fleetCluster', (bd) => {
      const name = label(bd, FLEET.clusterName);
      const ns = label(bd, FLEET.clusterNamespace);
      return name && ns ? [keyOf(ns, name)] : [`ns:${bd.metadata.namespace}`];
    });
    this.informers.bundleDeployments.addIndex('bundle', (bd) => [`${label(bd, FLEET.bundleNamespace)}/${label(bd, FLEET.bundleName)}`]);
    this.informers.fleetClusters.addIndex('rancherName', (fc) => (label(fc, FLEET.rancherClusterName) ? [label(fc, FLEET.rancherClusterName)!] : []));
    this.informers.fleetClusters.addIndex('agentNs', (fc) => {
      const ns = (fc.status as { namespace?: string } | undefined)?.namespace;
      return ns ? [ns] : [];
    });
    this.informers.rancherClusters.addIndex('name', (rc) => [rc.metadata.name]);
    this.informers.rancherClusters.addIndex('owner', (rc) => {
      const k = this.capiKeyOfRancher(rc);
      return k ? [k] : [];
    });
    this.informers.bundles.addIndex('stack', (b) => (label(b, LABEL.stack) ? [label(b, LABEL.stack)!] : []));
    this.informers.bundles.addIndex('repo', (b) => [`${b.metadata.namespace}/${label(b, FLEET.repoName)}`]);
    this.informers.machineDeployments.addIndex('cluster', (md) => [keyOf(md.metadata.namespace, label(md, 'cluster.x-k8s.io/cluster-name') ?? '')]);
    this.informers.clusters.addIndex('namespace', (c) => [c.metadata.namespace ?? '']);
    this.informers.clusters.addIndex('stack', (c) => (label(c, LABEL.stack) ? [label(c, LABEL.stack)!] : []));
  }

  /** Maps every watched object to the cluster keys it concerns. */
  private wire(): void {
    const on = (inf: Informer<Obj>, keys: (o: Obj) => (string | undefined)[]) => {
      const handle = (o: Obj) => keys(o).forEach((k) => this.enqueue(k));
      inf.on('add', handle).on('update', (o, old) => {
        handle(o);
        handle(old);
      });
      inf.on('delete', handle);
    };
    const self = (o: Obj) => [keyOf(o.metadata.namespace, o.metadata.name)];
    this.informers.clusters.on('add', (c) => this.onClusterEvent(c)).on('update', (c) => this.onClusterEvent(c));
    this.informers.clusters.on('delete', (c) => {
      this.needsLabelSince.delete(keyOf(c.metadata.namespace, c.metadata.name));
      this.enqueue(keyOf(c.metadata.namespace, c.metadata.name));
    });
    on(this.informers.reports, self);
    // A namespace's opt-out changes what its clusters need: they may need a label now, so they are judged
    // like their own events.
    const clustersIn = (n: Obj) => this.informers.clusters.byIndex('namespace', n.metadata.name).forEach((c) => this.onClusterEvent(c));
    this.informers.namespaces.on('add', clustersIn).on('update', clustersIn).on('delete', clustersIn);
    on(this.informers.machineDeployments, (md) => {
      const c = md.metadata.labels?.['cluster.x-k8s.io/cluster-name'];
      return [c ? keyOf(md.metadata.namespace, c) : undefined];
    });
    on(this.informers.rancherClusters, (rc) => [this.capiKeyOfRancher(rc)]);
    on(this.informers.fleetClusters, (fc) => this.capiKeysOfFleetCluster(fc));
    on(this.informers.bundleDeployments, (bd) => this.capiKeysOfBundleDeployment(bd));
    on(this.informers.bundles, (b) => this.capiKeysOfBundle(b));
    // A new commit changes every bundle of the repo; those events follow, this one only refreshes commits.
    on(this.informers.gitRepos, (g) =>
      this.informers.bundles.byIndex('repo', `${g.metadata.namespace}/${g.metadata.name}`).flatMap((b) => this.capiKeysOfBundle(b)),
    );
  }

  private capiKeyOfRancher(rc: Obj): string | undefined {
    const name = rc.metadata.labels?.[TURTLES.ownerName];
    const ns = rc.metadata.labels?.[TURTLES.ownerNamespace];
    return name && ns ? keyOf(ns, name) : undefined;
  }

  /** Rancher's import puts Fleet Clusters in fleet-default, named after the Rancher cluster; CAAPF names them after the CAPI cluster. */
  private capiKeysOfFleetCluster(fc: Obj): string[] {
    const rancherName = fc.metadata.labels?.[FLEET.rancherClusterName];
    if (rancherName) {
      const rc = this.informers.rancherClusters.byIndex('name', rancherName)[0];
      const key = rc && this.capiKeyOfRancher(rc);
      if (key) return [key];
    }
    const same = this.informers.clusters.get(fc.metadata.namespace ?? '', fc.metadata.name);
    return same ? [keyOf(same.metadata.namespace, same.metadata.name)] : [];
  }

  private fleetClusterOf(bd: Obj): Obj | undefined {
    const name = bd.metadata.labels?.[FLEET.clusterName];
    const ns = bd.metadata.labels?.[FLEET.clusterNamespace];
    if (name && ns) return this.informers.fleetClusters.get(ns, name);
    return this.informers.fleetClusters.byIndex('agentNs', bd.metadata.namespace ?? '')[0];
  }

  private capiKeysOfBundleDeployment(bd: Obj): string[] {
    const fc = this.fleetClusterOf(bd);
    return fc ? this.capiKeysOfFleetCluster(fc) : [];
  }

  private capiKeysOfBundle(b: Obj): string[] {
    const keys = new Set<string>();
    for (const bd of this.informers.bundleDeployments.byIndex('bundle', `${b.metadata.namespace}/${b.metadata.name}`)) {
      this.capiKeysOfBundleDeployment(bd).forEach((k) => keys.add(k));
    }
    const stack = b.metadata.labels?.[LABEL.stack];
    const bundle = b.metadata.labels?.[LABEL.bundle];
    if (stack && bundle) {
      for (const c of this.informers.clusters.byIndex('stack', stack)) {
        if (c.metadata.labels?.[LABEL.stack] === stack && c.metadata.labels?.[`${LABEL.bundlePrefix}${bundle}`] === 'true') keys.add(keyOf(c.metadata.namespace, c.metadata.name));
      }
    }
    return [...keys];
  }

  /** Fleet Clusters that stand for the CAPI cluster ns/name. */
  private fleetClustersOf(cluster: Obj): Obj[] {
    const key = keyOf(cluster.metadata.namespace, cluster.metadata.name);
    // Candidates: CAAPF's (same namespace and name) and Rancher's (named after a Rancher cluster this one owns).
    const candidates = new Set<Obj>();
    const same = this.informers.fleetClusters.get(cluster.metadata.namespace ?? '', cluster.metadata.name);
    if (same) candidates.add(same);
    for (const rc of this.informers.rancherClusters.byIndex('owner', key)) for (const fc of this.informers.fleetClusters.byIndex('rancherName', rc.metadata.name)) candidates.add(fc);
    return [...candidates].filter((fc) => this.capiKeysOfFleetCluster(fc).includes(key));
  }

  private inputsFor(cluster: Obj): Parameters<typeof computeReport>[0] {
    const ns = cluster.metadata.namespace ?? '';
    const name = cluster.metadata.name;
    const fleetClusters = this.fleetClustersOf(cluster);
    const bundleDeployments = fleetClusters
      .flatMap((fc) => [
        ...this.informers.bundleDeployments.byIndex('fleetCluster', keyOf(fc.metadata.namespace, fc.metadata.name)),
        ...((fc.status as { namespace?: string } | undefined)?.namespace ? this.informers.bundleDeployments.byIndex('fleetCluster', `ns:${(fc.status as { namespace: string }).namespace}`) : []),
      ])
      .filter((bd) => {
        const fc = this.fleetClusterOf(bd);
        return fc !== undefined && fleetClusters.includes(fc);
      });
    const stack = cluster.metadata.labels?.[LABEL.stack];
    const bundleKeys = new Set(bundleDeployments.map((bd) => `${bd.metadata.labels?.[FLEET.bundleNamespace]}/${bd.metadata.labels?.[FLEET.bundleName]}`));
    const bundles = this.informers.bundles
      .list()
      .filter((b) => bundleKeys.has(`${b.metadata.namespace}/${b.metadata.name}`) || (stack !== undefined && b.metadata.labels?.[LABEL.stack] === stack));
    const repos = new Set(bundles.map((b) => `${b.metadata.namespace}/${b.metadata.labels?.[FLEET.repoName]}`));
    const gitRepos = this.informers.gitRepos.list().filter((g) => repos.has(`${g.metadata.namespace}/${g.metadata.name}`));
    // Without Rancher's management Cluster kind there is nothing to import into.
    const importMode = this.informers.rancherClusters.available ? 'rancher' : 'none';
    return {
      cluster,
      namespace: this.informers.namespaces.get(undefined, ns),
      importMode,
      rancherClusters: this.informers.rancherClusters.byIndex('owner', keyOf(ns, name)),
      bundles,
      bundleDeployments,
      gitRepos,
      machineDeployments: this.informers.machineDeployments.byIndex('cluster', keyOf(ns, name)),
      autoscaler: this.autoscaler.get(keyOf(ns, name))?.observation,
    };
  }

  /** One cluster, from the caches: label, then report. Idempotent: a replayed event changes nothing. */
  async reconcile(key: string): Promise<void> {
    const started = performance.now();
    const m = this.opts.metrics;
    try {
      const { namespace, name } = splitKey(key);
      const ns = namespace ?? '';
      const cached = this.informers.clusters.get(ns, name);
      const report = this.informers.reports.get(ns, name);
      if (!cached) {
        this.autoscaler.delete(key);
        this.secretNeeds.delete(key);
        this.ownWrites.delete(key);
        this.workload.forget(ns, name);
        // Only a report this controller created goes with its cluster; an LLMCluster someone else made stays.
        if (report && report.metadata.labels?.[LABEL.managedBy] === 'llmstack') {
          await deleteObject(this.kc, RESOURCES.llmCluster, ns, name, { uid: report.metadata.uid }).catch((e: unknown) => {
            if (!isNotFound(e)) throw e;
          });
          this.log('info', 'cluster gone: report deleted', { cluster: key });
        }
        m?.reconciles.inc({ result: 'deleted' });
        return;
      }

      // Report on the cluster as labelled, not as the cache saw it a moment ago.
      // Label first and alone: the report follows on the update event, behind the labels of a burst.
      if (this.opts.autoImport !== false && (await this.ensureAutoImport(cached)) !== cached) {
        m?.reconciles.inc({ result: 'labelled' });
        return;
      }
      const cluster = cached;
      await this.ensureTargetingLabels(cluster);

      let current = this.newestReport(key, report);
      if (!current) current = this.wrote(key, undefined, await this.createReport(cluster));
      const previous = usableStatus(current.status);
      const input = this.inputsFor(cluster);
      input.missingSecrets = await this.missingSecrets(key, input);
      const status = computeReport(input, previous, this.now().toISOString());
      if (!jsonEqual(current.status, status)) {
        this.wrote(key, current.metadata.resourceVersion, await patchStatus<Obj>(this.kc, RESOURCES.llmCluster, current, status, FIELD_MANAGER));
        m?.statusWrites.inc();
        for (const ev of transitions(previous, status)) {
          m?.events.inc({ reason: ev.reason });
          await this.recorder.event(cluster, ev.type, ev.reason, ev.message);
        }
        this.log('info', 'report updated', { cluster: key, phase: status.phase, bundles: status.bundles.summary, nodes: status.nodes.summary });
      }
      m?.reconciles.inc({ result: 'ok' });
    } catch (e) {
      m?.reconciles.inc({ result: isConflict(e) ? 'conflict' : 'error' });
      // A conflict means someone wrote in between: the informer event that follows re-queues the key too.
      this.queue.addRateLimited(key);
      this.log(isConflict(e) ? 'info' : 'warn', 'reconcile will be retried', { cluster: key, error: e instanceof Error ? e.message : String(e) });
    } finally {
      m?.reconcileSeconds.observe((performance.now() - started) / 1000);
      this.scheduleGauges();
    }
  }

  /**
   * The report as this controller last wrote it while the cache still shows the version before that
   * write (its watch event has not arrived yet), else the cache's: a patch then carries the current
   * resourceVersion instead of failing with a conflict against our own write.
   */
  private newestReport(key: string, cached: Obj | undefined): Obj | undefined {
    const own = this.ownWrites.get(key);
    if (!own) return cached;
    if ((cached?.metadata.resourceVersion ?? '') === own.basedOn) return own.result;
    this.ownWrites.delete(key);
    return cached;
  }

  private wrote(key: string, basedOn: string | undefined, result: Obj): Obj {
    this.ownWrites.set(key, { basedOn: basedOn ?? '', result });
    return result;
  }

  /** Labels the cluster for Turtles when it should be; returns the cluster as it now is. */
  private async ensureAutoImport(cluster: Obj): Promise<Obj> {
    const nsObj = this.informers.namespaces.get(undefined, cluster.metadata.namespace ?? '');
    const decision = autoImportDecision(cluster, nsObj, { managed: this.managed });
    if (!decision.label) return cluster;
    // The resourceVersion makes this lose against a concurrent change (e.g. the user setting "false").
    const updated = await mergePatchLabels<Obj>(this.kc, this.informers.clusters.resource, cluster.metadata.namespace, cluster.metadata.name, { [UPSTREAM.rancherAutoImport]: 'true' }, {
      resourceVersion: cluster.metadata.resourceVersion,
      fieldManager: FIELD_MANAGER,
    });
    const key = keyOf(cluster.metadata.namespace, cluster.metadata.name);
    this.observeLabelled(key);
    this.opts.metrics?.autoImportLabels.inc();
    this.log('info', 'labelled for Rancher auto-import', { cluster: key });
    return updated;
  }

  /** One latency observation per label: from the first event that needed it to the first sign it is written. */
  private observeLabelled(key: string): void {
    const since = this.needsLabelSince.get(key);
    if (since === undefined) return;
    this.needsLabelSince.delete(key);
    this.opts.metrics?.autoImportLatency.observe((performance.now() - since) / 1000);
  }

  /**
   * Keeps the CAPI Cluster's llmstack labels on the Rancher cluster(s) Turtles made for it, so Rancher
   * copies them to the Fleet Cluster the bundles select (targeting.ts says why there). Server-side
   * apply under llmstack's field manager owns only those keys; a key the CAPI Cluster dropped that
   * another writer also set (a Turtles that copies labels) is removed with a merge patch.
   */
  private async ensureTargetingLabels(cluster: Obj): Promise<void> {
    const rcs = this.informers.rancherClusters;
    if (!rcs.available) return;
    const rt = rcs.resource;
    for (const rc of rcs.byIndex('owner', keyOf(cluster.metadata.namespace, cluster.metadata.name))) {
      const change = targetingChange(cluster, rc);
      if (!change) continue;
      const ns = rt.namespaced ? rc.metadata.namespace : undefined;
      // The cached resourceVersion: an apply never creates a Rancher cluster that was deleted meanwhile,
      // and a conflict is retried from the newer cache.
      const body: KubeObject = {
        apiVersion: apiVersionOf(rt),
        kind: rt.kind,
        metadata: { name: rc.metadata.name, ...(ns ? { namespace: ns } : {}), resourceVersion: rc.metadata.resourceVersion, labels: change.labels },
      };
      const applied = await applyObject<Obj>(this.kc, body, FIELD_MANAGER, { resource: rt });
      const left = change.stale.filter((k) => applied.metadata.labels?.[k] !== undefined);
      if (left.length > 0) {
        await mergePatchLabels(this.kc, rt, ns, rc.metadata.name, Object.fromEntries(left.map((k) => [k, null])), {
          resourceVersion: applied.metadata.resourceVersion,
          fieldManager: FIELD_MANAGER,
        });
      }
      this.log('info', 'bundle targeting labels set on the Rancher cluster', {
        cluster: keyOf(cluster.metadata.namespace, cluster.metadata.name),
        rancherCluster: rc.metadata.name,
        labels: Object.keys(change.labels).length,
        removed: change.stale,
      });
    }
  }

  private async createReport(cluster: Obj): Promise<Obj> {
    const body: KubeObject = {
      apiVersion: `${LLMCLUSTER.group}/${LLMCLUSTER.version}`,
      kind: LLMCLUSTER.kind,
      metadata: {
        name: cluster.metadata.name,
        namespace: cluster.metadata.namespace,
        labels: { [LABEL.managedBy]: 'llmstack', ...(cluster.metadata.labels?.[LABEL.stack] ? { [LABEL.stack]: cluster.metadata.labels[LABEL.stack] } : {}) },
        // Garbage collection removes the report with its cluster where kube-controller-manager runs.
        ownerReferences: cluster.metadata.uid
          ? [{ apiVersion: cluster.apiVersion ?? apiVersionOf(RESOURCES.capiCluster), kind: 'Cluster', name: cluster.metadata.name, uid: cluster.metadata.uid }]
          : undefined,
      },
      spec: { clusterName: cluster.metadata.name, ...(cluster.metadata.labels?.[LABEL.stack] ? { stack: cluster.metadata.labels[LABEL.stack] } : {}) },
    };
    try {
      return await createObject<Obj>(this.kc, RESOURCES.llmCluster, body, { fieldManager: FIELD_MANAGER });
    } catch (e) {
      if (isConflict(e)) {
        const existing = this.informers.reports.get(cluster.metadata.namespace ?? '', cluster.metadata.name);
        if (existing) return existing;
      }
      throw e;
    }
  }

  /** Which of the Secrets this cluster's bundles need are missing on the management cluster. */
  private async missingSecrets(key: string, input: Parameters<typeof computeReport>[0]): Promise<{ namespace: string; name: string }[]> {
    const needed = secretsNeeded(input);
    const keys = needed.map((n) => `${n.namespace}/${n.name}`);
    this.secretNeeds.set(key, new Set(keys));
    const states = await this.secrets.states(keys);
    return needed.filter((n) => states.get(`${n.namespace}/${n.name}`) === 'missing').map(({ namespace, name }) => ({ namespace, name }));
  }

  /**
   * Secrets are not watched (the controller may read them only by name, see secrets.ts): each poll asks
   * again, and a Secret that appeared or went enqueues the clusters that need it. Fleet's own copy also
   * changes the BundleDeployment, which reconciles at once.
   */
  private async pollSecrets(): Promise<void> {
    if (!this.leading) return;
    this.secrets.retain(new Set([...this.secretNeeds.values()].flatMap((s) => [...s])));
    const changed = new Set(await this.secrets.refresh());
    if (changed.size === 0) return;
    for (const [key, needs] of this.secretNeeds) if ([...needs].some((n) => changed.has(n))) this.enqueue(key);
  }

  /** Reads each autoscaled cluster's status ConfigMap; a change enqueues the cluster. */
  private async pollAutoscalers(): Promise<void> {
    if (!this.leading) return;
    const clusters = this.informers.clusters.list();
    // A pool is autoscaled by its MachineDeployment's annotations, or, before CAPI has made the
    // MachineDeployment, by the annotations its topology asks for.
    const autoscaled = new Set([
      ...this.informers.machineDeployments
        .list()
        .filter((md) => md.metadata.annotations?.[UPSTREAM.autoscalerMax] !== undefined)
        .map((md) => keyOf(md.metadata.namespace, md.metadata.labels?.['cluster.x-k8s.io/cluster-name'] ?? '')),
      ...clusters.filter(topologyAutoscaled).map((c) => keyOf(c.metadata.namespace, c.metadata.name)),
    ]);
    let next = 0;
    const work = async () => {
      while (next < clusters.length && this.leading) {
        const c = clusters[next++]!;
        const key = keyOf(c.metadata.namespace, c.metadata.name);
        if (!autoscaled.has(key)) continue;
        const read = await this.workload.read(c.metadata.namespace ?? '', c.metadata.name);
        const previous = this.autoscaler.get(key);
        let entry: { text?: string; observation: AutoscalerObservation };
        if (read.kind === 'ok') {
          entry = previous?.text === read.text ? previous : { text: read.text, observation: observedAutoscaler(parseAutoscalerStatus(read.text)) };
        } else if (read.kind === 'no-configmap') {
          entry = { observation: { kind: 'notDeployed', message: read.message } };
        } else {
          entry = { observation: { kind: 'unreachable', message: read.message } };
        }
        if (!previous || !jsonEqual(previous.observation, entry.observation)) {
          this.autoscaler.set(key, entry);
          this.enqueue(key);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, work));
  }

  private gaugesDue = false;

  /** Gauges summarise every report: recomputed at most once a second, not once per reconcile. */
  private scheduleGauges(): void {
    if (this.gaugesDue || !this.opts.metrics) return;
    this.gaugesDue = true;
    setTimeout(() => {
      this.gaugesDue = false;
      try {
        this.updateGauges();
      } catch (e) {
        this.log('error', 'updating the gauges failed', { error: String(e) });
      }
    }, 1000).unref();
  }

  private updateGauges(): void {
    const m = this.opts.metrics;
    if (!m) return;
    const phases = new Map<string, number>();
    const states = new Map<string, number>();
    for (const r of this.informers.reports.list()) {
      const s = usableStatus(r.status);
      if (!s) continue;
      phases.set(s.phase, (phases.get(s.phase) ?? 0) + 1);
      for (const b of s.bundles.items) states.set(b.state, (states.get(b.state) ?? 0) + 1);
    }
    m.clusters.reset();
    for (const [phase, n] of phases) m.clusters.set({ phase }, n);
    m.bundles.reset();
    for (const [state, n] of states) m.bundles.set({ state }, n);
  }
}

/** Whether the Cluster's topology asks for an autoscaled pool (its MachineDeployment may not exist yet). */
function topologyAutoscaled(c: Obj): boolean {
  const mds = (c.spec as { topology?: { workers?: { machineDeployments?: Array<{ metadata?: { annotations?: Record<string, string> } }> } } } | undefined)?.topology?.workers
    ?.machineDeployments;
  return (mds ?? []).some((md) => md.metadata?.annotations?.[UPSTREAM.autoscalerMax] !== undefined);
}
