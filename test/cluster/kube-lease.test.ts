// Leader election on a real Lease: one leader among racing candidates, takeover after a leader dies
// without releasing (within the lease duration), and at once after a leader releases.
import { afterEach, expect, it } from 'vitest';
import { getObject } from '../../src/kube/http.js';
import { LeaderElector, type Lease, type LeaderElectorOptions } from '../../src/kube/lease.js';
import { RESOURCES } from '../../src/kube/resources.js';
import { replaceObject } from '../../src/kube/write.js';
import { describeCluster, testCluster, waitFor } from '../support/cluster.js';

// Short periods so the test takes seconds; same ratios as the defaults (15 s / 10 s / 2 s).
const TIMING = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 400 } as const;

interface Candidate {
  elector: LeaderElector;
  id: string;
  /** Leadership periods as [start, end?] (performance.now()). */
  periods: Array<[number, number | undefined]>;
  done: Promise<void>;
}

describeCluster('LeaderElector', () => {
  const all: Candidate[] = [];

  afterEach(async () => {
    await Promise.all(all.splice(0).map((c) => c.elector.stop()));
  });

  function candidate(ns: string, id: string, extra: Partial<LeaderElectorOptions> = {}): Candidate {
    const elector = new LeaderElector(testCluster().kubeConfig, { namespace: ns, name: 'llmstack-controller', identity: id, ...TIMING, log: () => {}, ...extra });
    const periods: Candidate['periods'] = [];
    const c: Candidate = { elector, id, periods, done: Promise.resolve() };
    c.done = elector.run(
      (signal) => {
        periods.push([performance.now(), undefined]);
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
      () => {
        const last = periods.at(-1);
        if (last) last[1] = performance.now();
      },
    );
    all.push(c);
    return c;
  }

  const leaders = (cs: Candidate[]) => cs.filter((c) => c.elector.isLeader);

  /** No two candidates' leadership periods overlap. */
  function assertNoOverlap(cs: Candidate[]): void {
    const periods = cs.flatMap((c) => c.periods.map(([s, e]) => ({ id: c.id, s, e: e ?? Infinity }))).sort((a, b) => a.s - b.s);
    for (let i = 1; i < periods.length; i++) expect(periods[i]!.s, `${periods[i]!.id} started while ${periods[i - 1]!.id} led`).toBeGreaterThanOrEqual(periods[i - 1]!.e);
  }

  it('elects exactly one of five candidates racing for a new Lease', async () => {
    const ns = await testCluster().freshNamespace('lease-race');
    const cs = ['a', 'b', 'c', 'd', 'e'].map((id) => candidate(ns, id));
    const [leader] = await waitFor(() => (leaders(cs).length ? leaders(cs) : false), { message: 'a leader' });
    // several retry periods later, still the same single leader
    const renewals = await waitFor(async () => {
      const lease = await getObject<Lease>(testCluster().kubeConfig, RESOURCES.lease, ns, 'llmstack-controller');
      return lease?.spec?.renewTime !== lease?.spec?.acquireTime && lease;
    });
    expect(leaders(cs)).toStrictEqual([leader]);
    expect(renewals.spec).toMatchObject({ holderIdentity: leader!.id, leaseDurationSeconds: 3, leaseTransitions: 0 });
    // MicroTime with six fractional digits, as the apiserver stores it
    expect(renewals.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await waitFor(() => cs.every((c) => c.elector.leader === leader!.id), { message: 'every candidate sees the leader' });
    expect(leaders(cs)).toStrictEqual([leader]);
    assertNoOverlap(cs);
  });

  it('a standby takes over within the lease duration when the leader dies without releasing', async () => {
    // GIVEN a leader and a standby
    const ns = await testCluster().freshNamespace('lease-kill');
    const first = candidate(ns, 'first');
    await waitFor(() => first.elector.isLeader, { message: 'first leads' });
    const second = candidate(ns, 'second');
    await waitFor(() => second.elector.leader === 'first', { message: 'second sees first' });

    // WHEN the leader stops renewing and does not release (a crash)
    const before = await getObject<Lease>(testCluster().kubeConfig, RESOURCES.lease, ns, 'llmstack-controller');
    const lastRenew = Date.parse(before!.spec!.renewTime!);
    const killedAt = performance.now();
    await first.elector.stop({ release: false });

    // THEN the standby leads once the lease expired, and not before the old leader had stopped
    await waitFor(() => second.elector.isLeader, { timeoutMs: 10_000, message: 'second takes over' });
    const tookOverMs = performance.now() - killedAt;
    const lease = await getObject<Lease>(testCluster().kubeConfig, RESOURCES.lease, ns, 'llmstack-controller');
    expect(lease?.spec).toMatchObject({ holderIdentity: 'second', leaseTransitions: 1 });
    // lease duration counted from the standby's last sight of a renewal, plus at most one retry period
    const sinceLastRenew = Date.parse(lease!.spec!.acquireTime!) - lastRenew;
    expect(sinceLastRenew).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - TIMING.retryPeriodMs * 1.2 - 50);
    expect(tookOverMs).toBeLessThanOrEqual(TIMING.leaseDurationMs + TIMING.retryPeriodMs * 1.2 + 500);
    assertNoOverlap([first, second]);
    console.error(`[kube-lease] takeover after a silent stop: ${tookOverMs.toFixed(0)} ms (lease ${TIMING.leaseDurationMs} ms)`);
  });

  it('a leader that stops releases the Lease and a standby takes over at once', async () => {
    const ns = await testCluster().freshNamespace('lease-release');
    const first = candidate(ns, 'first');
    await waitFor(() => first.elector.isLeader, { message: 'first leads' });
    const second = candidate(ns, 'second');
    await waitFor(() => second.elector.leader === 'first', { message: 'second sees first' });

    const stoppedAt = performance.now();
    await first.elector.stop();
    expect(first.periods.at(-1)?.[1]).toBeDefined(); // onStoppedLeading ran
    await waitFor(() => second.elector.isLeader, { message: 'second takes over' });
    const tookOverMs = performance.now() - stoppedAt;
    // one retry period (with jitter), far below the lease duration
    expect(tookOverMs).toBeLessThan(TIMING.retryPeriodMs * 1.2 + 500);
    const lease = await getObject<Lease>(testCluster().kubeConfig, RESOURCES.lease, ns, 'llmstack-controller');
    expect(lease?.spec).toMatchObject({ holderIdentity: 'second', leaseTransitions: 1 });
    assertNoOverlap([first, second]);
    console.error(`[kube-lease] takeover after a release: ${tookOverMs.toFixed(0)} ms`);
  });

  it('a leader that loses the Lease to another holder steps down (its signal aborts)', async () => {
    const ns = await testCluster().freshNamespace('lease-stolen');
    const first = candidate(ns, 'first');
    await waitFor(() => first.elector.isLeader, { message: 'first leads' });
    // An operator (or a split-brain peer) rewrites the holder.
    const kc = testCluster().kubeConfig;
    const lease = await getObject<Lease>(kc, RESOURCES.lease, ns, 'llmstack-controller');
    await replaceObject(kc, RESOURCES.lease, { ...lease!, spec: { ...lease!.spec, holderIdentity: 'intruder' } });
    await waitFor(() => !first.elector.isLeader && first.periods.at(-1)?.[1] !== undefined, { message: 'first stepped down' });
    await first.done;
    expect(first.elector.leader).toBe('intruder');
  });
});
