// vitest globalSetup for the `cluster` project: one control plane for the whole run, CRDs installed,
// connection info handed to the test files through provide/inject.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import type { ClusterInfo } from './context.js';
import { startControlPlane, type ControlPlane } from './controlplane.js';
import { installCrds } from './crds.js';

const log = (m: string) => console.error(`[cluster tests] ${m}`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.LLMSTACK_SKIP_CLUSTER_TESTS === '1') {
    log('LLMSTACK_SKIP_CLUSTER_TESTS=1: cluster tests are skipped');
    project.provide('llmstackCluster', null);
    return async () => {};
  }
  // Throws (failing the run) when no source works: a missing control plane must never look like a pass.
  const cp = await startControlPlane({ name: 'shared', log });
  let control: http.Server | undefined;
  try {
    const crds = await installCrds(cp.kubeConfig, { log });
    const token = randomBytes(24).toString('hex');
    control = cp.canRestart ? await startControlServer(cp, token) : undefined;
    const info: ClusterInfo = {
      source: cp.source,
      server: cp.server,
      kubeconfigPath: cp.kubeconfigPath,
      auditLogPath: cp.auditLogPath ?? null,
      binDir: cp.binDir ?? null,
      canRestart: cp.canRestart,
      crds: crds.names,
      control: control ? { url: `http://127.0.0.1:${(control.address() as AddressInfo).port}`, token } : null,
    };
    project.provide('llmstackCluster', info);
  } catch (err) {
    control?.close();
    await cp.stop();
    throw err;
  }
  // vitest runs this after the last file, failed or not.
  return async () => {
    control?.closeAllConnections();
    control?.close();
    await cp.stop();
    log(`stopped control plane ${cp.server}`);
  };
}

// Test files run in worker processes; the apiserver process belongs to this one, so killing or
// restarting it is a request back to here.
async function startControlServer(cp: ControlPlane, token: string): Promise<http.Server> {
  const expected = Buffer.from(`Bearer ${token}`);
  const server = http.createServer((req, res) => {
    const auth = Buffer.from(req.headers.authorization ?? '');
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      res.writeHead(401).end();
      return;
    }
    const actions: Record<string, () => Promise<unknown>> = {
      '/apiserver/restart': () => cp.restartApiServer(),
      '/apiserver/kill': () => cp.killApiServer(),
      '/apiserver/start': () => cp.startApiServer(),
    };
    const action = req.method === 'POST' ? actions[req.url ?? ''] : undefined;
    if (!action) {
      res.writeHead(404).end();
      return;
    }
    action().then(
      (r) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(r ?? {})),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(err.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return server;
}
