// Whether the Secrets that Fleet copies to the workload clusters (the bundles' downstreamResources)
// exist on the management cluster. Fleet v0.16.1 only logs a missing one (report.ts secretsNeeded),
// so the controller asks the API server itself: by name, for metadata only, so no Secret data ever
// reaches it. Its per-cluster Role (src/render/controller-access.ts) names each such Secret.
import type { KubeClientConfig } from '../kube/config.js';
import { getMetadata, isKubeError } from '../kube/http.js';
import { RESOURCES } from '../kube/resources.js';

export type SecretPresence = 'present' | 'missing' | 'unknown';

interface Entry {
  state: SecretPresence;
  checkedAt: number;
}

export class SecretChecker {
  private readonly known = new Map<string, Entry>();
  private readonly warned = new Set<string>();

  /**
   * @param recheckMissingMs a missing Secret is asked for again after this long on a reconcile: the
   *   user's `llmstack secrets` should show at once, yet a burst of events must not send a burst of GETs.
   */
  constructor(
    private readonly kc: KubeClientConfig,
    private readonly log: (level: 'warn', msg: string, fields?: Record<string, unknown>) => void,
    private readonly recheckMissingMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The state of each `namespace/name`, asking the server for the unknown and the stale missing ones. */
  async states(keys: string[]): Promise<Map<string, SecretPresence>> {
    const out = new Map<string, SecretPresence>();
    for (const key of keys) {
      const e = this.known.get(key);
      const fresh = e && (e.state === 'present' || this.now() - e.checkedAt < this.recheckMissingMs);
      out.set(key, fresh ? e.state : await this.ask(key));
    }
    return out;
  }

  /** Asks again for every Secret seen; returns those whose state changed (for the periodic poll). */
  async refresh(): Promise<string[]> {
    const changed: string[] = [];
    for (const [key, e] of [...this.known]) {
      if ((await this.ask(key)) !== e.state) changed.push(key);
    }
    return changed;
  }

  /** Drops what no cluster needs any more. */
  retain(keys: Set<string>): void {
    for (const key of this.known.keys()) if (!keys.has(key)) this.known.delete(key);
  }

  private async ask(key: string): Promise<SecretPresence> {
    const [namespace, name] = key.split('/') as [string, string];
    let state: SecretPresence;
    try {
      state = (await getMetadata(this.kc, RESOURCES.secret, namespace, name)) ? 'present' : 'missing';
    } catch (e) {
      // Forbidden (an install without the cluster's controller-access.yaml) or a server in trouble:
      // not knowing is not "missing", so the report stays silent and the log says why, once.
      state = 'unknown';
      if (!this.warned.has(key)) {
        this.warned.add(key);
        const hint = isKubeError(e, 403) ? '; the cluster folder\'s controller-access.yaml grants it' : '';
        this.log('warn', `cannot check Secret ${key}${hint}`, { error: e instanceof Error ? e.message : String(e) });
      }
    }
    if (state !== 'unknown') this.warned.delete(key);
    this.known.set(key, { state, checkedAt: this.now() });
    return state;
  }
}
