// Retry delays shared by the informer, the leader elector and callers that retry on their own.

export interface BackoffOptions {
  /** First delay; default 200 ms. */
  initialMs?: number;
  /** Ceiling; default 30 s. */
  maxMs?: number;
}

/**
 * Exponential delay for the attempt-th retry (0-based), with "equal jitter": a random value between half
 * and all of the capped delay, so clients that failed together (an apiserver restart) do not retry together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initial = options.initialMs ?? 200;
  const max = options.maxMs ?? 30_000;
  const capped = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return capped / 2 + Math.random() * (capped / 2);
}

/** Resolves after ms, or at once when signal aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
