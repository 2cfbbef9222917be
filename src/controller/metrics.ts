// Prometheus metrics and the /metrics, /healthz, /readyz endpoints of `llmstack controller`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'llmstack_reconcile_total', help: 'Reconciles by result', labelNames: ['result'], registers: [this.registry] });
  readonly reconcileSeconds = new Histogram({
    name: 'llmstack_reconcile_duration_seconds',
    help: 'Time to reconcile one cluster',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly clusters = new Gauge({ name: 'llmstack_clusters', help: 'Managed clusters by phase', labelNames: ['phase'], registers: [this.registry] });
  readonly bundles = new Gauge({ name: 'llmstack_bundle_deployments', help: 'Bundles targeting managed clusters, by state', labelNames: ['state'], registers: [this.registry] });
  readonly autoImportLabels = new Counter({ name: 'llmstack_auto_import_labels_total', help: 'Clusters labelled for Rancher auto-import', registers: [this.registry] });
  readonly autoImportLatency = new Histogram({
    name: 'llmstack_auto_import_label_latency_seconds',
    help: 'From the watch event that showed a cluster needing the auto-import label to the label written',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({ name: 'llmstack_status_writes_total', help: 'LLMCluster status writes', registers: [this.registry] });
  readonly events = new Counter({ name: 'llmstack_events_total', help: 'Kubernetes Events emitted', labelNames: ['reason'], registers: [this.registry] });
  readonly kubeRequests = new Counter({ name: 'llmstack_kube_requests_total', help: 'Requests to the Kubernetes API by verb', labelNames: ['verb'], registers: [this.registry] });
  readonly queueDepth = new Gauge({ name: 'llmstack_workqueue_depth', help: 'Keys waiting in the work queue', registers: [this.registry] });
  readonly leader = new Gauge({ name: 'llmstack_leader', help: '1 while this replica holds the leader Lease', registers: [this.registry] });
  readonly informersAvailable = new Gauge({ name: 'llmstack_informer_available', help: '1 when the watched resource is served', labelNames: ['resource'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'llmstack_' });
  }
}

export interface HealthSource {
  /** Alive: the process and its event loop work. */
  healthy(): boolean;
  /** Ready: caches synced (or standing by as a non-leader with synced caches). */
  ready(): boolean;
}

export async function startHttpServer(listen: string, metrics: ControllerMetrics, health: HealthSource): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const [host, portText] = listen.includes(':') ? [listen.slice(0, listen.lastIndexOf(':')) || '0.0.0.0', listen.slice(listen.lastIndexOf(':') + 1)] : ['0.0.0.0', listen];
  const server = createServer((req, res) => {
    const url = req.url?.split('?')[0];
    if (url === '/metrics') {
      metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
          res.end(text);
        })
        .catch((e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        });
      return;
    }
    if (url === '/healthz' || url === '/readyz') {
      const ok = url === '/healthz' ? health.healthy() : health.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, resolve);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
