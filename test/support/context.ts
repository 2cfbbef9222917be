// What test/support/global-setup.ts hands to test files through vitest's provide/inject. Must stay
// JSON-serializable: tests run in other processes.
import type { ControlPlaneSource } from './controlplane.js';

export interface ClusterInfo {
  source: ControlPlaneSource;
  server: string;
  kubeconfigPath: string;
  auditLogPath: string | null;
  binDir: string | null;
  canRestart: boolean;
  crds: string[];
  /** Loopback endpoint in the vitest main process that restarts the shared apiserver. */
  control: { url: string; token: string } | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** null when LLMSTACK_SKIP_CLUSTER_TESTS=1 */
    llmstackCluster: ClusterInfo | null;
  }
}
