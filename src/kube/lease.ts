// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: every write
// carries the resourceVersion it read, so of two candidates only one wins; a lease counts as expired when
// its record has not changed for leaseDuration on the local clock (no trust in other nodes' clocks); the
// leader steps down when it cannot renew within renewDeadline (< leaseDuration), before anyone may take over.
import type { KubeClientConfig } from './config.js';
import { sleep } from './backoff.js';
import { isConflict, isNotFound, kubeRequest } from './http.js';
import type { Logger } from './informer.js';
import { apiPath, RESOURCES, type KubeObject } from './resources.js';

export interface LeaderElectorOptions {
  namespace: string;
  /** Lease name. */
  name: string;
  /** This candidate, unique among replicas (e.g. the Pod name). */
  identity: string;
  /** How long a lease lasts without renewal before a standby may take it; default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up when it has not renewed for this long; default 10 s. */
  renewDeadlineMs?: number;
  /** Time between renewals and between a standby's attempts; default 2 s. */
  retryPeriodMs?: number;
  log?: Logger;
  /** Called when the observed holder changes (including to this identity). */
  onNewLeader?: (identity: string) => void;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits, which the apiserver insists on. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly leaseDurationS: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly log: Logger;
  private stopper = new AbortController();
  private release = true;
  private running: Promise<void> | undefined;
  private current: Lease | undefined;
  /** The last record seen and when (local clock) it was first seen: expiry is judged from this. */
  private observed: { record: string; at: number } | undefined;
  private _leader: string | undefined;
  private _isLeader = false;

  constructor(
    private readonly kc: KubeClientConfig,
    private readonly options: LeaderElectorOptions,
  ) {
    this.leaseDurationS = Math.max(1, Math.ceil((options.leaseDurationMs ?? 15_000) / 1000));
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationS * 1000) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (this.retryPeriodMs >= this.renewDeadlineMs) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
    this.log = options.log ?? ((level, m) => console.error(`${level}: ${m}`));
  }

  get isLeader(): boolean {
    return this._isLeader;
  }

  /** The holder last seen on the Lease ('' when released). */
  get leader(): string | undefined {
    return this._leader;
  }

  /**
   * Campaigns until this candidate leads, then calls onStartedLeading with a signal that aborts when
   * leadership ends (renewals failed past the deadline, another holder seen, or stop()). Resolves after
   * onStoppedLeading ran; rejects with onStartedLeading's error if it threw (leadership is given up then).
   * Call again to stand by once more.
   */
  run(onStartedLeading: (signal: AbortSignal) => Promise<void> | void, onStoppedLeading: () => void): Promise<void> {
    if (this.running) throw new Error('leader election: already running');
    if (this.stopper.signal.aborted) this.stopper = new AbortController();
    this.release = true;
    this.running = this.campaign(onStartedLeading, onStoppedLeading).finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Ends the campaign or leadership and resolves when run() has finished. With release (the default) a
   * leader clears the Lease so a standby takes over at once; release: false stops renewing silently, as
   * a crashed process would.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.release = options.release ?? true;
    this.stopper.abort();
    await this.running?.catch(() => undefined);
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  private async campaign(onStarted: (signal: AbortSignal) => Promise<void> | void, onStopped: () => void): Promise<void> {
    const { namespace, name, identity } = this.options;
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew(this.retryPeriodMs * 5)) break;
      // Jitter keeps standbys from retrying in lockstep.
      await sleep(this.retryPeriodMs * (1 + Math.random() * 0.2), this.stopper.signal);
    }
    if (this.stopped) {
      // An attempt in flight when stop() came may have won: hand it back.
      if (this.release) await this.releaseLease();
      return;
    }

    this._isLeader = true;
    this.log('info', `leader election: ${identity} leads with Lease ${namespace}/${name}`);
    const leading = new AbortController();
    let failure: { error: unknown } | undefined;
    const work = (async () => {
      try {
        await onStarted(leading.signal);
      } catch (error) {
        failure = { error };
        this.log('error', `leader election: the leader's work failed, giving up the lease: ${String(error)}`);
        leading.abort();
      }
    })();

    const wake = AbortSignal.any([this.stopper.signal, leading.signal]);
    let lastRenew = performance.now();
    while (!wake.aborted) {
      await sleep(this.retryPeriodMs, wake);
      if (wake.aborted) break;
      const left = this.renewDeadlineMs - (performance.now() - lastRenew);
      if (await this.tryAcquireOrRenew(Math.max(left, 500))) {
        lastRenew = performance.now();
        continue;
      }
      if (this._leader !== undefined && this._leader !== identity) {
        this.log('warn', `leader election: ${this._leader} holds Lease ${namespace}/${name} now; stepping down`);
        break;
      }
      if (performance.now() - lastRenew >= this.renewDeadlineMs) {
        this.log('warn', `leader election: could not renew Lease ${namespace}/${name} within ${this.renewDeadlineMs} ms; stepping down`);
        break;
      }
    }
    this._isLeader = false;
    leading.abort();
    if (failure || (this.stopped && this.release)) {
      // Let the last reconcile finish its writes before a successor starts its own.
      await Promise.race([work, sleep(this.renewDeadlineMs)]);
      await this.releaseLease();
    }
    try {
      onStopped();
    } catch (err) {
      this.log('error', `leader election: onStoppedLeading failed: ${String(err)}`);
    }
    if (failure) throw failure.error;
  }

  private observe(lease: Lease): void {
    this.current = lease;
    const spec = lease.spec ?? {};
    const record = JSON.stringify([spec.holderIdentity ?? '', spec.renewTime ?? '', spec.acquireTime ?? '', spec.leaseTransitions ?? 0]);
    if (this.observed?.record !== record) this.observed = { record, at: performance.now() };
    const holder = spec.holderIdentity ?? '';
    if (holder !== this._leader) {
      this._leader = holder;
      if (holder) this.options.onNewLeader?.(holder);
    }
  }

  /** One attempt; true when this candidate holds the Lease afterwards. Never throws. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    const { namespace, name, identity } = this.options;
    const path = apiPath(RESOURCES.lease, namespace, name);
    const now = microTime();
    try {
      // Fast path for a leader: write on top of what it wrote last; a conflict falls back to reading.
      if (this._isLeader && this.current?.spec?.holderIdentity === identity) {
        try {
          const spec: LeaseSpec = { ...this.current.spec, renewTime: now, leaseDurationSeconds: this.leaseDurationS };
          this.observe(await kubeRequest<Lease>(this.kc, 'PUT', path, { body: { ...this.current, spec }, timeoutMs }));
          return true;
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
      }

      let lease: Lease;
      try {
        lease = await kubeRequest<Lease>(this.kc, 'GET', path, { timeoutMs });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: this.leaseDurationS, acquireTime: now, renewTime: now, leaseTransitions: 0 };
        const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec };
        this.observe(await kubeRequest<Lease>(this.kc, 'POST', apiPath(RESOURCES.lease, namespace), { body, timeoutMs }));
        return true;
      }
      this.observe(lease);
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const durationMs = (spec.leaseDurationSeconds ?? this.leaseDurationS) * 1000;
      if (holder && holder !== identity && performance.now() - (this.observed?.at ?? 0) < durationMs) return false;

      const mine = holder === identity;
      const next: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds: this.leaseDurationS,
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
      };
      // metadata.resourceVersion from the read: a concurrent writer makes this a 409, and it loses.
      this.observe(await kubeRequest<Lease>(this.kc, 'PUT', path, { body: { ...lease, spec: next }, timeoutMs }));
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log('warn', `leader election: Lease ${namespace}/${name}: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** Clears the holder (only if still ours: the write carries our resourceVersion). */
  private async releaseLease(): Promise<void> {
    const lease = this.current;
    if (!lease || lease.spec?.holderIdentity !== this.options.identity) return;
    const spec: LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime() };
    try {
      this.observe(
        await kubeRequest<Lease>(this.kc, 'PUT', apiPath(RESOURCES.lease, this.options.namespace, this.options.name), {
          body: { ...lease, spec },
          timeoutMs: this.renewDeadlineMs,
        }),
      );
      this.log('info', `leader election: ${this.options.identity} released Lease ${this.options.namespace}/${this.options.name}`);
    } catch (err) {
      this.log('warn', `leader election: could not release the Lease: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
