// The work queue's contract: de-duplication, one run per key at a time, a re-run for keys added while
// running, per-key exponential retries, and both kinds of shutdown.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from '../../src/kube/queue.js';

/** A promise with its resolve exposed, to hold a worker inside its run. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick();
  if (!cond()) throw new Error('condition not reached');
}

afterEach(() => {
  vi.useRealTimers();
});

describe('WorkQueue', () => {
  it('queues a waiting key once however often it is added, in first-added order', async () => {
    const q = new WorkQueue();
    for (const k of ['a', 'b', 'a', 'c', 'b', 'a']) q.add(k);
    expect(q.length).toBe(3);

    const seen: string[] = [];
    const running = q.run(async (k) => {
      seen.push(k);
    });
    await until(() => seen.length === 3 && q.active === 0);
    await q.shutdown();
    await running;
    expect(seen).toStrictEqual(['a', 'b', 'c']);
  });

  it('never runs a key concurrently with itself, and runs it once more when added during a run', async () => {
    // GIVEN four workers and a worker that blocks on key "a"
    const q = new WorkQueue();
    const inFlight = new Map<string, number>();
    let maxSameKey = 0;
    const runs: string[] = [];
    const first = gate();
    const running = q.run(async (k) => {
      const n = (inFlight.get(k) ?? 0) + 1;
      inFlight.set(k, n);
      maxSameKey = Math.max(maxSameKey, n);
      runs.push(k);
      if (k === 'a' && runs.filter((r) => r === 'a').length === 1) await first.promise;
      inFlight.set(k, n - 1);
    }, 4);
    q.add('a');
    await until(() => runs.length === 1);

    // WHEN "a" is added again, many times, while it runs
    for (let i = 0; i < 5; i++) q.add('a');
    q.add('b');
    await until(() => runs.includes('b'));

    // THEN it waits (no second concurrent run) ...
    expect(runs.filter((r) => r === 'a')).toHaveLength(1);
    expect(q.length).toBe(0);

    // ... and runs exactly once more after the first run ended
    first.open();
    await until(() => runs.filter((r) => r === 'a').length === 2 && q.active === 0);
    await tick();
    expect(runs.filter((r) => r === 'a')).toHaveLength(2);
    expect(maxSameKey).toBe(1);
    await q.shutdown();
    await running;
  });

  it('takes urgent keys before normal ones, also a key already waiting in the normal lane, and runs each once', async () => {
    // GIVEN a burst of normal keys waiting
    const q = new WorkQueue();
    for (const k of ['n1', 'n2', 'n3', 'n4']) q.add(k);

    // WHEN urgent keys arrive, one of them already waiting as a normal key
    q.add('u1', { urgent: true });
    q.add('n3', { urgent: true });
    q.add('u2', { urgent: true });
    q.add('u1', { urgent: true });
    expect(q.length).toBe(6);

    // THEN one worker takes the urgent keys first in their order, then the rest, each key once
    const seen: string[] = [];
    const running = q.run(async (k) => {
      seen.push(k);
    });
    await until(() => seen.length === 6 && q.active === 0);
    await tick();
    await q.shutdown();
    await running;
    expect(seen).toStrictEqual(['u1', 'n3', 'u2', 'n1', 'n2', 'n4']);
    expect(q.length).toBe(0);
  });

  it('an urgent add during a run puts the key back in the urgent lane', async () => {
    const q = new WorkQueue();
    const held = gate();
    const seen: string[] = [];
    const running = q.run(async (k) => {
      seen.push(k);
      if (k === 'a' && seen.length === 1) await held.promise;
    });
    q.add('a');
    await until(() => seen.length === 1);
    // "a" is running; normal keys queue up behind it, then "a" is wanted again, urgently
    q.add('b');
    q.add('c');
    q.add('a', { urgent: true });
    held.open();
    await until(() => seen.length === 4 && q.active === 0);
    await q.shutdown();
    await running;
    expect(seen).toStrictEqual(['a', 'a', 'b', 'c']);
  });

  it('keeps urgent-only workers for urgent keys while the general ones are busy', async () => {
    // GIVEN one general worker held inside a slow key and one urgent-only worker
    const q = new WorkQueue();
    const held = gate();
    const seen: string[] = [];
    const work = async (k: string) => {
      seen.push(k);
      if (k === 'slow') await held.promise;
    };
    const general = q.run(work, 1);
    const urgent = q.run(work, 1, { urgentOnly: true });
    q.add('slow');
    await until(() => seen.length === 1);

    // WHEN a normal and an urgent key arrive
    q.add('normal');
    q.add('label', { urgent: true });

    // THEN the urgent one runs at once; the normal one waits for the general worker
    await until(() => seen.includes('label'));
    await tick();
    expect(seen).toStrictEqual(['slow', 'label']);
    expect(q.length).toBe(1);
    held.open();
    await until(() => seen.includes('normal') && q.active === 0);

    // AND a draining shutdown finishes on the general workers alone
    q.add('last');
    await q.shutdown({ drain: true });
    await Promise.all([general, urgent]);
    expect(seen).toStrictEqual(['slow', 'label', 'normal', 'last']);
  });

  it('retries a failing key with per-key exponential backoff and forgets it after a success', async () => {
    vi.useFakeTimers();
    const retries: string[] = [];
    const errors: string[] = [];
    const q = new WorkQueue({ baseDelayMs: 50, maxDelayMs: 300, hooks: { retry: (k) => retries.push(k) }, onError: (k) => errors.push(k) });
    const attempts: number[] = [];
    const t0 = Date.now();
    let failuresLeft = 4;
    const running = q.run(async () => {
      attempts.push(Date.now() - t0);
      if (failuresLeft-- > 0) throw new Error('not yet');
    });

    q.add('x');
    await vi.advanceTimersByTimeAsync(2000);

    // 50, 100, 200, then capped at 300
    expect(attempts).toStrictEqual([0, 50, 150, 350, 650]);
    expect(retries).toStrictEqual(['x', 'x', 'x', 'x']);
    expect(errors).toHaveLength(4);
    // the success forgot the failures: the next retry starts at the base delay again
    expect(q.retries('x')).toBe(0);
    expect(q.nextDelay('x')).toBe(50);
    await q.shutdown();
    await running;
  });

  it('keeps the failure count when the worker asks for the retry itself', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ baseDelayMs: 10 });
    const attempts: number[] = [];
    const counts: number[] = [];
    const t0 = Date.now();
    const running = q.run(async (k) => {
      attempts.push(Date.now() - t0);
      counts.push(q.retries(k));
      if (attempts.length < 4) q.addRateLimited(k);
    });
    q.add('k');
    await vi.advanceTimersByTimeAsync(1000);
    // the runs that asked for a retry kept the count growing; the last one, a plain success, reset it
    expect(attempts).toStrictEqual([0, 10, 30, 70]);
    expect(counts).toStrictEqual([0, 1, 2, 3]);
    expect(q.retries('k')).toBe(0);
    await q.shutdown();
    await running;
  });

  it('addAfter: the earliest of several pending delays wins, and a delayed key still de-duplicates', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    const seen: Array<[string, number]> = [];
    const t0 = Date.now();
    const running = q.run(async (k) => {
      seen.push([k, Date.now() - t0]);
    });
    q.addAfter('a', 500);
    q.addAfter('a', 100);
    q.addAfter('a', 300);
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toStrictEqual([['a', 100]]);
    await q.shutdown();
    await running;
  });

  it('shutdown without drain drops waiting keys and lets the running one finish', async () => {
    const q = new WorkQueue();
    const hold = gate();
    const done: string[] = [];
    const running = q.run(async (k) => {
      if (k === 'a') await hold.promise;
      done.push(k);
    });
    q.add('a');
    await until(() => q.active === 1);
    q.add('b');
    q.add('c');
    q.addAfter('d', 10);

    const stopping = q.shutdown();
    q.add('e'); // ignored after shutdown
    expect(q.length).toBe(0);
    hold.open();
    await stopping;
    await running;
    expect(done).toStrictEqual(['a']);
  });

  it('shutdown with drain finishes every queued key first', async () => {
    const q = new WorkQueue();
    const hold = gate();
    const done: string[] = [];
    const running = q.run(async (k) => {
      if (k === 'a') await hold.promise;
      done.push(k);
    }, 2);
    q.add('a');
    await until(() => q.active === 1);
    q.add('a'); // re-run pending for the key in progress
    q.add('b');
    q.add('c');

    const stopping = q.shutdown({ drain: true });
    q.add('late');
    hold.open();
    await stopping;
    await running;
    expect(done.sort()).toStrictEqual(['a', 'a', 'b', 'c']);
  });

  it('reports depth, adds, latency and processing time to its hooks', async () => {
    const depth: number[] = [];
    const adds: string[] = [];
    const processed: Array<[string, boolean]> = [];
    let latencies = 0;
    const q = new WorkQueue({
      hooks: {
        depth: (n) => depth.push(n),
        add: (k) => adds.push(k),
        latency: () => latencies++,
        processed: (k, ms, err) => {
          expect(ms).toBeGreaterThanOrEqual(0);
          processed.push([k, err !== undefined]);
        },
      },
      onError: () => {},
    });
    q.add('a');
    q.add('a');
    q.add('b');
    const running = q.run(async (k) => {
      if (k === 'b') throw new Error('boom');
    });
    await until(() => processed.length === 2);
    await q.shutdown();
    await running;
    expect(adds).toStrictEqual(['a', 'b']);
    expect(depth.slice(0, 2)).toStrictEqual([1, 2]);
    expect(depth.at(-1)).toBe(0);
    expect(latencies).toBe(2);
    expect(processed).toStrictEqual([
      ['a', false],
      ['b', true],
    ]);
  });
});
