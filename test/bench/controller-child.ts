// `llmstack controller` alone in a process for the benchmark, so that peak RSS and CPU time are the
// controller's own. Built as the CLI builds it (pino JSON logs at info, default workers), but logging to
// a file: the parent owns stdout, where this prints one JSON line when ready and one when stopped.
// Usage: controller-child.ts <kubeconfig> <log file>; write "stop" to stdin (or close it) to end.
import { createInterface } from 'node:readline';
import { destination, pino } from 'pino';
import type { Counter } from 'prom-client';
import { Controller } from '../../src/controller/controller.js';
import { ControllerMetrics } from '../../src/controller/metrics.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { onRequest } from '../../src/kube/http.js';

const [kubeconfig, logFile] = [process.argv[2], process.argv[3]];
if (!kubeconfig || !logFile) throw new Error('usage: controller-child.ts <kubeconfig> <log file>');

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'llmstack-controller' } }, destination({ dest: logFile, sync: false }));
const metrics = new ControllerMetrics();
// The controller's own event-to-label latency, every observation rather than histogram buckets.
const labelLatencyMs: number[] = [];
const observe = metrics.autoImportLatency.observe.bind(metrics.autoImportLatency);
metrics.autoImportLatency.observe = ((v: number) => {
  labelLatencyMs.push(v * 1000);
  observe(v);
}) as typeof metrics.autoImportLatency.observe;
const kubeConfig = await loadKubeConfig(kubeconfig);
// Round trips of the label patches: how much of the latency is the API server's.
const labelPatchMs: number[] = [];
onRequest(kubeConfig, (r) => {
  if (r.verb === 'patch' && r.resource === 'clusters') labelPatchMs.push(r.durationMs);
});
const controller = new Controller({
  kubeConfig,
  ...(process.env.BENCH_CONTROLLER_WORKERS ? { workers: Number(process.env.BENCH_CONTROLLER_WORKERS) } : {}),
  ...(process.env.BENCH_CONTROLLER_LABEL_WORKERS ? { labelWorkers: Number(process.env.BENCH_CONTROLLER_LABEL_WORKERS) } : {}),
  metrics,
  log: (level, msg, fields) => logger[level](fields ?? {}, msg),
});

const usage = () => {
  const u = process.resourceUsage();
  return { maxRssMb: Math.round(u.maxRSS / 1024), cpuMs: Math.round((u.userCPUTime + u.systemCPUTime) / 1000), heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20) };
};
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** A counter's values summed per label value (or in total under ''). */
async function byLabel(c: Counter<string>, label?: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await c.get()).values) {
    const k = label ? String(v.labels[label] ?? '') : '';
    out[k] = (out[k] ?? 0) + v.value;
  }
  return out;
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const result = {
    done: true,
    ...usage(),
    reconciles: await byLabel(metrics.reconciles, 'result'),
    statusWrites: (await byLabel(metrics.statusWrites))[''] ?? 0,
    autoImportLabels: (await byLabel(metrics.autoImportLabels))[''] ?? 0,
    events: (await byLabel(metrics.events))[''] ?? 0,
    requests: await byLabel(metrics.kubeRequests, 'verb'),
    labelLatencyMs,
    labelPatchMs,
  };
  await controller.stop();
  logger.flush();
  say(result);
  process.exit(0);
}

// Closed stdin means the parent is gone: do not outlive it.
createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (line.trim() === 'stop') void stop();
  })
  .on('close', () => void stop());

await controller.start();
say({ ready: controller.ready(), ...usage() });
