// The CLI's exit codes that need an API server (status and secrets 0 and 4, the controller's 5 on a lost
// Lease), and
// `status --watch` following a watch rather than polling.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { listReports, watchReports, type LLMClusterObject } from '../../src/cli/status.js';
import type { LLMClusterStatus } from '../../src/controller/types.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { closeConnections, onRequest, type RequestRecord } from '../../src/kube/http.js';
import { apiPath } from '../../src/kube/resources.js';
import { describeCluster, kubeRequest, testCluster, waitFor } from '../support/cluster.js';
import { repoRoot } from '../support/paths.js';
import { create, RESOURCES, writeStatus } from '../support/upstream.js';

const report = (phase: LLMClusterStatus['phase']): LLMClusterStatus => ({
  phase,
  import: { state: 'AgentReady' },
  bundles: { summary: '8/8', ready: 8, total: 8, items: [] },
  nodes: { summary: '2 (1..3)', ready: 2, desired: 2, min: 1, max: 3 },
  nodePools: [],
  autoscaler: { health: 'Healthy' },
  conditions: [],
});

async function llmCluster(ns: string, name: string, phase: LLMClusterStatus['phase']): Promise<void> {
  const admin = testCluster().kubeConfig;
  await create(admin, RESOURCES.llmCluster, { apiVersion: 'llmstack.dev/v1alpha1', kind: 'LLMCluster', metadata: { name, namespace: ns }, spec: { clusterName: name } });
  await writeStatus(admin, RESOURCES.llmCluster, ns, name, report(phase));
}

const cli = runCli;

describeCluster('llmstack status', () => {
  it('exits 0 when every cluster in the namespace is Ready, 4 once one is not', async () => {
    const ns = await testCluster().freshNamespace('cli-status');
    await llmCluster(ns, 'ready-one', 'Ready');
    const ok = await cli(['status', '--kubeconfig', testCluster().kubeconfigPath, '-n', ns, '-o', 'json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toStrictEqual([{ namespace: ns, name: 'ready-one', status: report('Ready') }]);

    await llmCluster(ns, 'deploying', 'Deploying');
    const notReady = await cli(['status', '--kubeconfig', testCluster().kubeconfigPath, '-n', ns]);
    expect(notReady.code).toBe(4);
    expect(notReady.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(1, 3))).toStrictEqual([
      ['NAME', 'PHASE'],
      ['deploying', 'Deploying'],
      ['ready-one', 'Ready'],
    ]);
  });

  it('--watch follows one watch: changes are shown without listing again', async () => {
    const ns = await testCluster().freshNamespace('cli-watch');
    await llmCluster(ns, 'watched', 'Deploying');
    const kc = await loadKubeConfig(testCluster().kubeconfigPath);
    const requests: RequestRecord[] = [];
    const unhook = onRequest(kc, (r) => requests.push(r));
    const shown: LLMClusterObject[][] = [];
    const ac = new AbortController();
    // GIVEN the first table shown (as statusCommand does after its own list)
    const first = await listReports(kc, ns);
    expect(first.map((i) => i.status?.phase)).toStrictEqual(['Deploying']);
    const watching = watchReports(kc, ns, first, (items) => shown.push(items), ac.signal, () => undefined);
    try {
      // (a watch is recorded when it ends; it continues from the list's resourceVersion, so nothing
      // written after the list is missed)
      await waitFor(() => requests.filter((r) => r.verb === 'list' && r.resource === 'llmclusters').length === 2, { timeoutMs: 20_000 });
      // WHEN the report changes twice
      await writeStatus(testCluster().kubeConfig, RESOURCES.llmCluster, ns, 'watched', { phase: 'Ready' });
      await waitFor(() => shown.some((items) => items[0]?.status?.phase === 'Ready'), { timeoutMs: 20_000 });
      await writeStatus(testCluster().kubeConfig, RESOURCES.llmCluster, ns, 'watched', { phase: 'Failed' });
      await waitFor(() => shown.some((items) => items[0]?.status?.phase === 'Failed'), { timeoutMs: 20_000 });
    } finally {
      ac.abort();
      await watching;
      unhook();
      closeConnections(kc);
    }
    // THEN each change was shown once, the first table (unchanged by the informer's own list) not again,
    // and the reads were the first list, the informer's list and one watch of LLMClusters in that namespace
    expect(shown.map((items) => items.map((i) => i.status?.phase))).toStrictEqual([['Ready'], ['Failed']]);
    const reads = requests.filter((r) => r.resource.startsWith('llmclusters'));
    expect(reads.map((r) => r.verb)).toStrictEqual(['list', 'list', 'watch']);
    expect(reads.every((r) => r.path === apiPath(RESOURCES.llmCluster, ns))).toBe(true);
  });

  it('--watch through the command prints the table, then the change, and exits 0 on Ctrl-C', async () => {
    const ns = await testCluster().freshNamespace('cli-watch-cmd');
    await llmCluster(ns, 'w', 'Deploying');
    const child = spawn(process.execPath, [`${repoRoot}/bin/llmstack.js`, 'status', '--kubeconfig', testCluster().kubeconfigPath, '-n', ns, '--watch', '-o', 'yaml'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('phase: Deploying'), { timeoutMs: 30_000 });
      await writeStatus(testCluster().kubeConfig, RESOURCES.llmCluster, ns, 'w', { phase: 'Ready' });
      await waitFor(() => out.includes('phase: Ready'), { timeoutMs: 30_000 });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describeCluster('llmstack controller', () => {
  it('exits 5 when another replica takes its Lease', async () => {
    const ns = await testCluster().freshNamespace('cli-lease');
    const identity = `cli-test-${process.pid}`;
    const child = spawn(
      process.execPath,
      [`${repoRoot}/bin/llmstack.js`, 'controller', '--kubeconfig', testCluster().kubeconfigPath, '-n', ns, '--no-auto-import', '--leader-elect', '--lease-namespace', ns, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: identity } },
    );
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const admin = testCluster().kubeConfig;
    const leasePath = apiPath(RESOURCES.lease, ns, 'llmstack-controller');
    try {
      // GIVEN the controller holds the Lease
      const lease = await waitFor(
        async () => {
          const res = await kubeRequest(admin, 'GET', leasePath);
          const l = res.body as { spec?: { holderIdentity?: string } } | undefined;
          return res.status === 200 && l?.spec?.holderIdentity === identity ? l : undefined;
        },
        { timeoutMs: 30_000 },
      );
      // WHEN another holder writes it, with a fresh renew time
      const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
      const taken = await kubeRequest(admin, 'PUT', leasePath, { body: { ...lease, spec: { ...lease.spec, holderIdentity: 'another-replica', renewTime: now, acquireTime: now } } });
      expect(taken.status).toBe(200);
      // THEN it exits with the cluster's code, not the one for bugs
      expect(await exited).toBe(5);
      expect(log).toContain('lost the leader lease');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});

describeCluster('llmstack secrets', () => {
  it('exits 4 while a Secret the user provides is missing, 0 once it exists', async () => {
    const t = testCluster();
    const ns = await t.freshNamespace('cli-secrets');
    const dir = await mkdtemp(join(tmpdir(), 'llmstack-cli-secrets-'));
    try {
      const spec = join(dir, 'spec.yaml');
      await writeFile(
        spec,
        `apiVersion: llmstack.dev/v1alpha1\nkind: Stack\nmetadata: {name: clisec}\nspec:\n  import: {strategy: caapf}\n  clusters: [{name: one, namespace: ${ns}, class: docker-llm}]\n  apps:\n    litellm:\n      models:\n        - {name: gpt, model: openai/gpt-4o-mini, apiKey: {secretRef: {name: openai, key: api-key}}}\n`,
      );
      const missing = await cli(['secrets', '-s', spec, '--kubeconfig', t.kubeconfigPath]);
      expect(missing.code, missing.stderr).toBe(4);
      expect(missing.stdout).toContain(`${ns}/clisec-litellm-master-key  created`);
      expect(missing.stdout).toContain(`${ns}/openai: kubectl -n ${ns} create secret generic openai --from-literal=api-key=VALUE`);

      await kubeRequest(t.kubeConfig, 'POST', apiPath(RESOURCES.secret, ns), { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'openai' }, stringData: { 'api-key': 'sk-user' } } });
      const ok = await cli(['secrets', '-s', spec, '--kubeconfig', t.kubeconfigPath, '-o', 'json']);
      expect(ok.code, ok.stderr).toBe(0);
      expect((JSON.parse(ok.stdout) as { name: string; state: string }[]).map((r) => `${r.name} ${r.state}`)).toStrictEqual(['clisec-litellm-master-key present', 'openai present']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
