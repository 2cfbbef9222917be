// `llmstack controller`: runs the controller with JSON logs, /metrics, /healthz and /readyz.
import { hostname } from 'node:os';
import { pino } from 'pino';
import { Controller } from '../controller/controller.js';
import { ControllerMetrics, startHttpServer } from '../controller/metrics.js';
import { EXIT, UserError } from '../errors.js';
import { loadKubeConfig } from '../kube/client.js';

export interface ControllerCliOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string[];
  autoImport?: boolean;
  /** Validated by the flag parsers in main.ts. */
  workers?: number;
  labelWorkers?: number;
  listen?: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  /** Seconds. */
  autoscalerPoll?: number;
}

/** Runs until SIGTERM or SIGINT (exit 0), or until a replica loses its Lease (exit 5). */
export async function controllerCommand(o: ControllerCliOptions): Promise<number> {
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'llmstack-controller' } });
  const metrics = new ControllerMetrics();
  const kc = await loadKubeConfig(o.kubeconfig, o.context);
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const controller = new Controller({
    kubeConfig: kc,
    namespace: o.allNamespaces ? undefined : o.namespace,
    selectors: o.selector,
    autoImport: o.autoImport !== false,
    workers: o.workers,
    labelWorkers: o.labelWorkers,
    autoscalerPollMs: o.autoscalerPoll !== undefined ? o.autoscalerPoll * 1000 : undefined,
    leaderElection: o.leaderElect ? { namespace: o.leaseNamespace ?? 'llmstack-system', identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}` } : undefined,
    metrics,
    log: (level, msg, fields) => logger[level](fields ?? {}, msg),
    // A replica that lost its Lease exits at once, before it writes as a non-leader; Kubernetes restarts
    // it as a clean standby.
    onLostLeadership: () => {
      logger.error('lost the leader lease: exiting');
      process.exit(EXIT.cluster);
    },
  });
  const listen = o.listen ?? ':8080';
  const http = await startHttpServer(listen, metrics, controller).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') {
      throw new UserError(`--listen ${listen}: ${e.code === 'EADDRINUSE' ? 'the address is in use' : e.message}`, EXIT.invalidInput, 'pick another --listen address, e.g. :8081');
    }
    throw e;
  });
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'stopping: releasing the lease');
    void controller.stop({ release: true }).finally(() => finish(EXIT.ok));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  logger.info({ listen, port: http.port, server: kc.getCurrentCluster()?.server }, 'starting');
  await controller.start();
  const code = await finished;
  await http.close();
  // Open watches and keep-alive sockets must not hold the process after the controller stopped.
  process.exit(code);
}
