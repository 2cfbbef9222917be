// A de-duplicating work queue of object keys, as in client-go's workqueue: events only add keys, a key
// waits at most once however often it is added, and never runs twice at the same time. A key added while
// it runs is run once more afterwards, so the latest state is always reconciled (level-triggered).
// Two lanes, as in controller-runtime's priority queue: a key added as urgent is taken before every
// normal key, so cheap time-critical work (a label) does not wait behind a burst of slow work (reports).

export interface WorkQueueHooks {
  /** Keys waiting, after every change. */
  depth?(depth: number): void;
  /** Every add() that queued a key (not the ones merged into a waiting key). */
  add?(key: string): void;
  /** Every addRateLimited(). */
  retry?(key: string): void;
  /** Time a key waited between being queued and a worker taking it. */
  latency?(key: string, ms: number): void;
  /** One worker run; error is set when it threw. */
  processed?(key: string, durationMs: number, error?: unknown): void;
}

export interface WorkQueueOptions {
  /** First retry delay of addRateLimited; default 50 ms, doubling per failure of the key. */
  baseDelayMs?: number;
  /** Retry delay ceiling; default 60 s. */
  maxDelayMs?: number;
  hooks?: WorkQueueHooks;
  /** Where a throwing worker's error goes; default console.error. */
  onError?: (key: string, error: unknown) => void;
}

export type Worker = (key: string) => Promise<void>;

/** A FIFO with O(1) shift; entries may be stale (the queue checks membership on the way out). */
class Fifo {
  private items: string[] = [];
  private head = 0;

  push(key: string): void {
    this.items.push(key);
  }

  shift(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const key = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return key;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class WorkQueue {
  private readonly urgent = new Fifo();
  private readonly normal = new Fifo();
  /** Keys waiting in a lane: the truth the lanes' possibly stale entries are checked against. */
  private readonly waiting = new Set<string>();
  /** Keys asked for as urgent that have not been taken yet. */
  private readonly urgentKeys = new Set<string>();
  /** Keys that need a run: waiting in queue, or added again while processing. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly queuedAt = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  /** Keys whose current run asked for a retry itself; such a run must not forget() the failures. */
  private readonly retriedInRun = new Set<string>();
  /** Idle workers; urgentOnly ones wait for the urgent lane alone. */
  private waiters: Array<{ wake: () => void; urgentOnly: boolean }> = [];
  private shuttingDown = false;
  private draining = false;
  private readonly runs: Array<Promise<void>> = [];
  private readonly hooks: WorkQueueHooks;

  constructor(private readonly options: WorkQueueOptions = {}) {
    this.hooks = options.hooks ?? {};
  }

  /** Keys waiting for a worker. */
  get length(): number {
    return this.waiting.size;
  }

  /** Keys a worker is running now. */
  get active(): number {
    return this.processing.size;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Queues key; urgent puts it in the lane taken first, also when it is already waiting in the other. */
  add(key: string, options: { urgent?: boolean } = {}): void {
    if (this.shuttingDown) return;
    if (options.urgent && !this.urgentKeys.has(key)) {
      this.urgentKeys.add(key);
      // Waiting in the normal lane: an urgent entry too; whichever comes out first takes the key.
      if (this.waiting.has(key)) {
        this.urgent.push(key);
        this.wakeOne(true);
      }
    }
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    this.hooks.add?.(key);
    // Running now: done() puts it back once the current run ends.
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds key after ms; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    // Retries and resyncs are never urgent: an urgent add meanwhile still takes the key first.
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = performance.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Adds key after its own exponential backoff: baseDelayMs doubling per call until forget(key). */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    if (this.processing.has(key)) this.retriedInRun.add(key);
    this.hooks.retry?.(key);
    this.addAfter(key, this.delayFor(n));
  }

  /** The delay addRateLimited would use next for key. */
  nextDelay(key: string): number {
    return this.delayFor(this.failures.get(key) ?? 0);
  }

  /** Clears key's failure count (its backoff starts over); a pending delayed add stays. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many addRateLimited calls key had since its last forget. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Runs worker over queued keys with at most `concurrency` at a time, until shutdown(); resolves when the
   * workers have stopped. A worker that throws gets its key re-added with addRateLimited; one that resolves
   * gets forget(), unless it called addRateLimited for its key itself. With urgentOnly the workers take
   * urgent keys only: capacity kept free for them while the others are busy with slow work.
   */
  run(worker: Worker, concurrency = 1, options: { urgentOnly?: boolean } = {}): Promise<void> {
    const loops = Array.from({ length: Math.max(1, concurrency) }, async () => {
      for (;;) {
        const key = await this.next(options.urgentOnly ?? false);
        if (key === undefined) return;
        await this.process(key, worker);
      }
    });
    const all = Promise.all(loops).then(() => undefined);
    this.runs.push(all);
    return all;
  }

  /**
   * Stops taking new keys and cancels delayed adds. With drain, workers first finish every key already
   * queued; without, only the runs in progress. Resolves when all workers have stopped.
   */
  async shutdown(options: { drain?: boolean } = {}): Promise<void> {
    this.shuttingDown = true;
    this.draining = options.drain ?? false;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    if (!this.draining) {
      for (const key of this.waiting) {
        this.dirty.delete(key);
        this.queuedAt.delete(key);
        this.urgentKeys.delete(key);
      }
      this.waiting.clear();
      this.urgent.clear();
      this.normal.clear();
      this.hooks.depth?.(0);
    }
    this.wakeAll();
    await Promise.all(this.runs);
  }

  private delayFor(failures: number): number {
    const base = this.options.baseDelayMs ?? 50;
    return Math.min(this.options.maxDelayMs ?? 60_000, base * 2 ** Math.min(failures, 40));
  }

  private push(key: string): void {
    this.waiting.add(key);
    (this.urgentKeys.has(key) ? this.urgent : this.normal).push(key);
    this.queuedAt.set(key, performance.now());
    this.hooks.depth?.(this.waiting.size);
    this.wakeOne(this.urgentKeys.has(key));
  }

  private wakeOne(urgent: boolean): void {
    const i = this.waiters.findIndex((w) => urgent || !w.urgentOnly);
    if (i >= 0) this.waiters.splice(i, 1)[0]!.wake();
  }

  private take(urgentOnly: boolean): string | undefined {
    for (const lane of urgentOnly ? [this.urgent] : [this.urgent, this.normal]) {
      for (let key = lane.shift(); key !== undefined; key = lane.shift()) {
        if (this.waiting.delete(key)) return key;
      }
    }
    return undefined;
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.wake();
  }

  private async next(urgentOnly = false): Promise<string | undefined> {
    for (;;) {
      // A drain is the general workers' job: they take every lane.
      if (this.shuttingDown && (urgentOnly || !this.draining || this.waiting.size === 0)) return undefined;
      const key = this.take(urgentOnly);
      if (key !== undefined) {
        this.dirty.delete(key);
        this.urgentKeys.delete(key);
        this.processing.add(key);
        const at = this.queuedAt.get(key);
        this.queuedAt.delete(key);
        this.hooks.depth?.(this.waiting.size);
        if (at !== undefined) this.hooks.latency?.(key, performance.now() - at);
        return key;
      }
      await new Promise<void>((resolve) => this.waiters.push({ wake: resolve, urgentOnly }));
    }
  }

  private async process(key: string, worker: Worker): Promise<void> {
    const t0 = performance.now();
    let error: unknown;
    let failed = false;
    try {
      await worker(key);
    } catch (err) {
      failed = true;
      error = err;
    }
    this.hooks.processed?.(key, performance.now() - t0, failed ? error : undefined);
    const retried = this.retriedInRun.delete(key);
    this.processing.delete(key);
    if (failed) {
      (this.options.onError ?? ((k, e) => console.error(`error: reconciling ${k}: ${e instanceof Error ? e.message : String(e)}`)))(key, error);
      if (!this.shuttingDown) this.addRateLimited(key);
    } else if (!retried) {
      this.forget(key);
    }
    // Added again while it ran: run it once more (during a drain too).
    if (this.dirty.has(key) && (!this.shuttingDown || this.draining)) this.push(key);
    else this.dirty.delete(key);
  }
}
