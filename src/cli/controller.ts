// `llmstack controller`: runs the controller with JSON logs, /metrics, /healthz and /readyz.
import { hostname } from 'node:os';
import { pino } from 'pino';
import { Controller } from '../controller/controller.js';
import { ControllerMetrics, startHttpServer } from '../controller/metrics.js';
import { loadKubeConfig } from '../kube/client.js';

export interface ControllerCliOptions {
  kubeconfig?: string;
  namespace?: string;
  selector?: string[];
  autoImport?: boolean;
  workers?: string;
  labelWorkers?: string;
  listen?: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  autoscalerPoll?: string;
}

export async function controllerCommand(o: ControllerCliOptions): Promise<void> {
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'llmstack-controller' } });
  const metrics = new ControllerMetrics();
  const kc = await loadKubeConfig(o.kubeconfig);
  const controller = new Controller({
    kubeConfig: kc,
    namespace: o.namespace,
    selectors: o.selector,
    autoImport: o.autoImport !== false,
    workers: o.workers ? Number(o.workers) : undefined,
    labelWorkers: o.labelWorkers ? Number(o.labelWorkers) : undefined,
    autoscalerPollMs: o.autoscalerPoll ? Number(o.autoscalerPoll) * 1000 : undefined,
    leaderElection: o.leaderElect ? { namespace: o.leaseNamespace ?? 'llmstack-system', identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}` } : undefined,
    metrics,
    log: (level, msg, fields) => logger[level](fields ?? {}, msg),
    // A replica that lost its Lease exits; Kubernetes restarts it as a clean standby.
    onLostLeadership: () => process.exit(1),
  });
  const http = await startHttpServer(o.listen ?? ':8080', metrics, controller);
  logger.info({ listen: o.listen ?? ':8080', port: http.port, server: kc.getCurrentCluster()?.server }, 'starting');
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'stopping: releasing the lease');
    await controller.stop({ release: true });
    await http.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  await controller.start();
}
