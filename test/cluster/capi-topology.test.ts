// What `generate` writes for every example, applied to Cluster API's real managers (core with the
// topology controller, kubeadm control plane, kubeadm bootstrap; built from Go modules) on a control
// plane of their own: their webhooks admit the ClusterClass and each Cluster, the topology controller
// reconciles each Cluster into a KubeadmControlPlane, a DockerCluster and MachineDeployments, and the
// llmstack controller labels, reports and reads node pools from those real objects.
//
// Three management clusters: CAPI's current line with v1beta2 objects, the same with v1beta1 objects
// (converted by CAPI's own conversion webhooks), and CAPI v1.10 (v1beta1 only). CAPD's controller
// needs Docker, so no machine ever boots; nothing here plays its part.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jsyaml from 'js-yaml';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/catalog/load.js';
import type { Catalog } from '../../src/catalog/types.js';
import { Controller } from '../../src/controller/controller.js';
import type { LLMClusterStatus } from '../../src/controller/types.js';
import { getObject, isKubeError, KubeError, kubeRequest, listObjects } from '../../src/kube/http.js';
import { RESOURCES, type KubeObject, type ResourceType } from '../../src/kube/resources.js';
import { applyObject, mergePatchLabels } from '../../src/kube/write.js';
import { LABEL, UPSTREAM } from '../../src/render/labels.js';
import { objectsOf } from '../../src/validate/offline.js';
import { capiVersions, startCapi, type CapiManagers } from '../support/capi.js';
import { clusterInfo, describeCluster, waitFor } from '../support/cluster.js';
import { startControlPlane, type ControlPlane } from '../support/controlplane.js';
import { crdFiles, installCrds, loadCrds } from '../support/crds.js';
import { exampleFiles, renderExample } from '../support/examples.js';
import { repoRoot } from '../support/paths.js';

const versions = capiVersions();
const RUNS = [
  { capi: versions.current, shape: 'v1beta2' as const },
  { capi: versions.current, shape: 'v1beta1' as const },
  { capi: versions.v1beta1, shape: 'v1beta1' as const },
];
const FIELD_MANAGER = 'llmstack-test';

type Obj = KubeObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };
type Condition = { type: string; status: string; reason?: string; message?: string };

const rt = (group: string, version: string, plural: string, kind: string): ResourceType => ({ group, version, plural, kind, namespaced: true });

/** Conditions of a CAPI object in either shape: v1beta2 objects keep the old ones under deprecated, v1beta1 the new under v1beta2. */
function conditions(o: Obj | undefined): Condition[] {
  const s = (o?.status ?? {}) as { conditions?: Condition[]; v1beta2?: { conditions?: Condition[] } };
  return [...(s.conditions ?? []), ...(s.v1beta2?.conditions ?? [])];
}

function condition(o: Obj | undefined, type: string): Condition | undefined {
  return conditions(o).find((c) => c.type === type);
}

function describeConditions(o: Obj | undefined): string {
  return conditions(o)
    .map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`)
    .join('\n  ');
}

/** The management-cluster objects of one rendered example: ClusterClasses with templates, Clusters, autoscalers. */
function managementObjects(files: ReturnType<typeof renderExample>): { classes: Obj[]; clusters: Obj[]; others: Obj[] } {
  const objs = files.filter((f) => f.path.startsWith('management/') && !f.path.endsWith('fleet.yaml')).flatMap((f) => objectsOf(f) as Obj[]);
  return {
    classes: objs.filter((o) => o.apiVersion.startsWith('cluster.x-k8s.io/') && o.kind === 'ClusterClass').concat(objs.filter((o) => o.kind.endsWith('Template'))),
    clusters: objs.filter((o) => o.apiVersion.startsWith('cluster.x-k8s.io/') && o.kind === 'Cluster'),
    others: objs.filter((o) => !o.apiVersion.startsWith('cluster.x-k8s.io/') && !o.kind.endsWith('Template')),
  };
}

async function ensureNamespace(kc: ControlPlane['kubeConfig'], name: string): Promise<void> {
  try {
    await kubeRequest(kc, 'POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  } catch (err) {
    if (!isKubeError(err, 409)) throw err;
  }
}

/** Applies obj; a refusal fails with the message of the webhook or the API server, naming the object. */
async function apply(kc: ControlPlane['kubeConfig'], obj: Obj): Promise<Obj> {
  try {
    return await applyObject<Obj>(kc, obj, FIELD_MANAGER);
  } catch (err) {
    throw new Error(`${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name} refused: ${(err as Error).message}`, { cause: err });
  }
}

/** The refusal of obj, or undefined when it is accepted (dry run: nothing is stored). */
async function refusal(kc: ControlPlane['kubeConfig'], obj: Obj): Promise<KubeError | undefined> {
  try {
    await applyObject(kc, obj, FIELD_MANAGER, { dryRun: true });
    return undefined;
  } catch (err) {
    if (err instanceof KubeError) return err;
    throw err;
  }
}

const localBinaries = clusterInfo?.binDir ?? process.env.KUBE_TEST_BINARIES;

for (const run of RUNS) {
  const capiGroup = (plural: string, kind: string) => rt('cluster.x-k8s.io', run.shape, plural, kind);
  const CLUSTERS = capiGroup('clusters', 'Cluster');
  const CLASSES = capiGroup('clusterclasses', 'ClusterClass');
  const MDS = capiGroup('machinedeployments', 'MachineDeployment');

  describeCluster(`Cluster API ${run.capi} with ${run.shape} objects`, () => {
    let cp: ControlPlane;
    let capi: CapiManagers | undefined;
    let catalog: Catalog;
    const clusters: Array<{ example: string; ns: string; name: string; spec: Obj }> = [];

    const failWithLogs = async <T>(what: () => Promise<T>): Promise<T> => {
      try {
        return await what();
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${capi?.logs() ?? ''}`, { cause: err });
      }
    };

    beforeAll(async () => {
      if (!localBinaries) throw new Error('the Cluster API tests start control planes of their own: set KUBE_TEST_BINARIES or run scripts/build-testbin.sh');
      catalog = await loadCatalog();
      cp = await startControlPlane({ name: `capi-${run.capi}-${run.shape}`, binDir: localBinaries });
      capi = await startCapi(cp, run.capi);
      // The llmstack CRD; for `validate --server` (v1beta2 run) also every non-CAPI CRD a stack's objects use.
      const others = run.shape === 'v1beta2' ? crdFiles().filter((f) => !f.includes(`${path.sep}cluster-api${path.sep}`)) : [path.join(repoRoot, 'manifests/crds/llmstack.dev_llmclusters.yaml')];
      await installCrds(cp.kubeConfig, { crds: loadCrds(others) });
    }, 900_000);

    afterAll(async () => {
      await capi?.stop();
      await cp?.stop();
    });

    for (const file of exampleFiles) {
      it(`${file}: ClusterClass admitted with VariablesReady, every Cluster TopologyReconciled`, async () => {
        const { classes, clusters: cs, others } = managementObjects(renderExample(file, run.shape, catalog));
        expect(cs.length).toBeGreaterThan(0);
        const namespaces = new Set([...classes, ...cs, ...others].map((o) => o.metadata.namespace as string));
        for (const ns of namespaces) await ensureNamespace(cp.kubeConfig, ns);
        await failWithLogs(async () => {
          for (const o of classes) await apply(cp.kubeConfig, o);
          for (const cc of classes.filter((o) => o.kind === 'ClusterClass')) {
            const ns = cc.metadata.namespace as string;
            const name = cc.metadata.name;
            const ready = await waitFor(
              async () => {
                const o = await getObject<Obj>(cp.kubeConfig, CLASSES, ns, name);
                return condition(o, 'VariablesReady')?.status === 'True' ? o : undefined;
              },
              { timeoutMs: 60_000, intervalMs: 250, message: `ClusterClass ${ns}/${name} VariablesReady` },
            ).catch(async (err: Error) => {
              throw new Error(`${err.message}\n  ${describeConditions(await getObject<Obj>(cp.kubeConfig, CLASSES, ns, name))}`);
            });
            // Reported, not required: whether the class names the newest contract version of each template.
            const upToDate = condition(ready, 'RefVersionsUpToDate');
            console.error(`[capi ${run.capi}] ${file} ClusterClass ${ns}/${name}: RefVersionsUpToDate=${upToDate?.status ?? 'absent'}${upToDate?.message ? ` (${upToDate.message})` : ''}`);
          }
          for (const o of others) await apply(cp.kubeConfig, o);
          for (const c of cs) await apply(cp.kubeConfig, c);
          for (const c of cs) {
            const ns = c.metadata.namespace as string;
            const name = c.metadata.name;
            await waitFor(
              async () => condition(await getObject<Obj>(cp.kubeConfig, CLUSTERS, ns, name), 'TopologyReconciled')?.status === 'True',
              { timeoutMs: 90_000, intervalMs: 250, message: `Cluster ${ns}/${name} TopologyReconciled` },
            ).catch(async (err: Error) => {
              throw new Error(`${err.message}\n  ${describeConditions(await getObject<Obj>(cp.kubeConfig, CLUSTERS, ns, name))}`);
            });
            clusters.push({ example: file, ns, name, spec: c });
          }
        });
      });
    }

    it('creates the control plane, infrastructure and every pool, with the autoscaler annotations, and leaves autoscaled replicas to the autoscaler', async () => {
      expect(clusters.length).toBeGreaterThan(0);
      for (const { ns, name, spec } of clusters) {
        const live = (await getObject<Obj>(cp.kubeConfig, CLUSTERS, ns, name))!;
        const refs = live.spec as { controlPlaneRef?: { kind: string; name: string }; infrastructureRef?: { kind: string; name: string } };
        expect(refs.controlPlaneRef?.kind, `${ns}/${name}`).toBe('KubeadmControlPlane');
        expect(refs.infrastructureRef?.kind, `${ns}/${name}`).toBe('DockerCluster');
        const kcp = await getObject(cp.kubeConfig, rt('controlplane.cluster.x-k8s.io', run.shape, 'kubeadmcontrolplanes', 'KubeadmControlPlane'), ns, refs.controlPlaneRef!.name);
        expect(kcp, `KubeadmControlPlane of ${ns}/${name}`).toBeDefined();
        expect(await getObject(cp.kubeConfig, rt('infrastructure.cluster.x-k8s.io', run.shape, 'dockerclusters', 'DockerCluster'), ns, refs.infrastructureRef!.name)).toBeDefined();

        const pools = ((spec.spec as { topology: { workers?: { machineDeployments?: Array<{ name: string; replicas?: number; metadata?: { annotations?: Record<string, string> } }> } } }).topology.workers
          ?.machineDeployments ?? []);
        const { items: mds } = await listObjects<Obj>(cp.kubeConfig, MDS, { namespace: ns, labelSelector: `cluster.x-k8s.io/cluster-name=${name}` });
        expect(mds.length, `MachineDeployments of ${ns}/${name}`).toBe(pools.length);
        for (const pool of pools) {
          const md = mds.find((m) => m.metadata.labels?.['topology.cluster.x-k8s.io/deployment-name'] === pool.name);
          expect(md, `MachineDeployment for pool ${pool.name} of ${ns}/${name}`).toBeDefined();
          const annotations = md!.metadata.annotations ?? {};
          for (const [k, v] of Object.entries(pool.metadata?.annotations ?? {})) expect(annotations[k], `${md!.metadata.name} ${k}`).toBe(v);
          // The taints the ClusterClass patches give the pool's nodes: its own and the class's, once each.
          const configRef = (md!.spec as { template: { spec: { bootstrap: { configRef: { name: string } } } } }).template.spec.bootstrap.configRef;
          const kct = await getObject<Obj>(cp.kubeConfig, rt('bootstrap.cluster.x-k8s.io', run.shape, 'kubeadmconfigtemplates', 'KubeadmConfigTemplate'), ns, configRef.name);
          const taints = ((kct?.spec as { template: { spec: { joinConfiguration?: { nodeRegistration?: { taints?: Array<{ key: string; effect: string }> } } } } } | undefined)?.template.spec
            .joinConfiguration?.nodeRegistration?.taints ?? []).map((t) => `${t.key}:${t.effect}`);
          expect(new Set(taints).size, `${configRef.name} taints ${taints.join(', ')}`).toBe(taints.length);
          const poolSpec = (spec.spec as { topology: { workers: { machineDeployments: Array<{ name: string; class: string; variables?: { overrides?: Array<{ name: string; value: Array<{ key: string; effect: string }> }> } }> } } }).topology.workers.machineDeployments.find((p) => p.name === pool.name)!;
          const wanted = poolSpec.variables?.overrides?.find((v) => v.name === 'workerNodeTaints')?.value.map((t) => `${t.key}:${t.effect}`) ?? [];
          if (poolSpec.class === 'gpu-worker') wanted.push('nvidia.com/gpu:NoSchedule');
          expect([...new Set(taints)].sort(), `${configRef.name} taints`).toStrictEqual([...new Set(wanted)].sort());
          const replicas = (md!.spec as { replicas?: number }).replicas;
          const min = pool.metadata?.annotations?.[UPSTREAM.autoscalerMin];
          if (min !== undefined) {
            // Autoscaled: the topology sets no replicas, CAPI starts the pool at the autoscaler's minimum.
            expect(pool.replicas).toBeUndefined();
            expect(annotations[UPSTREAM.autoscalerMax]).toBeDefined();
            expect(replicas, `${md!.metadata.name} replicas`).toBe(Number(min));
          } else {
            expect(replicas, `${md!.metadata.name} replicas`).toBe(pool.replicas);
          }
        }
        // The MachineDeployment controller makes one MachineSet per pool, shortly after.
        await waitFor(
          async () => {
            const { items: sets } = await listObjects(cp.kubeConfig, capiGroup('machinesets', 'MachineSet'), { namespace: ns, labelSelector: `cluster.x-k8s.io/cluster-name=${name}` });
            return sets.length === pools.length;
          },
          { timeoutMs: 30_000, intervalMs: 250, message: `a MachineSet for each of the ${pools.length} pools of ${ns}/${name}` },
        );
      }

      // WHEN the autoscaler scales an autoscaled pool (through the scale subresource, as it does)
      const target = clusters.find((c) => JSON.stringify(c.spec).includes(UPSTREAM.autoscalerMin))!;
      const { items: mds } = await listObjects<Obj>(cp.kubeConfig, MDS, { namespace: target.ns, labelSelector: `cluster.x-k8s.io/cluster-name=${target.name}` });
      const md = mds.find((m) => m.metadata.annotations?.[UPSTREAM.autoscalerMin] !== undefined)!;
      const scaled = Number(md.metadata.annotations![UPSTREAM.autoscalerMax]);
      await kubeRequest(cp.kubeConfig, 'PATCH', `/apis/cluster.x-k8s.io/${run.shape}/namespaces/${target.ns}/machinedeployments/${md.metadata.name}/scale`, {
        body: { spec: { replicas: scaled } },
        contentType: 'application/merge-patch+json',
      });
      // AND the topology controller reconciles the Cluster again (a change to the Cluster triggers it)
      const before = (await getObject<Obj>(cp.kubeConfig, CLUSTERS, target.ns, target.name))!;
      await mergePatchLabels(cp.kubeConfig, CLUSTERS, target.ns, target.name, { 'test.llmstack.dev/poke': 'scaled' });
      await waitFor(async () => {
        const c = await getObject<Obj>(cp.kubeConfig, CLUSTERS, target.ns, target.name);
        const gen = (c?.status as { observedGeneration?: number } | undefined)?.observedGeneration ?? 0;
        return c && c.metadata.resourceVersion !== before.metadata.resourceVersion && gen >= (c.metadata.generation ?? 0) && condition(c, 'TopologyReconciled')?.status === 'True';
      }, { timeoutMs: 30_000, intervalMs: 250 });
      await new Promise((r) => setTimeout(r, 2000));
      // THEN the replicas stay where the autoscaler put them
      const after = (await getObject<Obj>(cp.kubeConfig, MDS, target.ns, md.metadata.name))!;
      expect((after.spec as { replicas?: number }).replicas).toBe(scaled);
    });

    it('the pod network reaches a new cluster through the real ClusterResourceSet controller, with its pod CIDR, before its control plane is initialized', async () => {
      // GIVEN a workload API server for the quickstart cluster (a second control plane)
      const c = clusters.find((x) => x.example === 'quickstart.yaml')!;
      const workload = await startControlPlane({ name: `workload-${run.capi}-${run.shape}`, binDir: localBinaries! });
      try {
        const live = (await getObject<Obj>(cp.kubeConfig, CLUSTERS, c.ns, c.name))!;
        const infra = (live.spec as { infrastructureRef: { name: string } }).infrastructureRef.name;
        // WHEN the providers that cannot run here do their part: CAPD reports the infrastructure
        // provisioned (v1beta2: status.initialization.provisioned; v1beta1: status.ready), and the
        // control plane provider writes the kubeconfig Secret (type and label as KCP writes them)
        // (written in the contract version this CAPI reads: v1beta2 from CAPI 1.11 on)
        const contract = run.capi === versions.v1beta1 ? 'v1beta1' : 'v1beta2';
        await kubeRequest(cp.kubeConfig, 'PATCH', `/apis/infrastructure.cluster.x-k8s.io/${contract}/namespaces/${c.ns}/dockerclusters/${infra}/status`, {
          body: { status: contract === 'v1beta2' ? { initialization: { provisioned: true } } : { ready: true } },
          contentType: 'application/merge-patch+json',
        });
        await kubeRequest(cp.kubeConfig, 'POST', `/api/v1/namespaces/${c.ns}/secrets`, {
          body: {
            apiVersion: 'v1',
            kind: 'Secret',
            type: 'cluster.x-k8s.io/secret',
            metadata: { name: `${c.name}-kubeconfig`, namespace: c.ns, labels: { 'cluster.x-k8s.io/cluster-name': c.name } },
            data: { value: readFileSync(workload.kubeconfigPath).toString('base64') },
          },
        });
        // THEN Cluster API applies the CNI to the workload cluster, with the cluster's pod CIDR
        const ds = await failWithLogs(() =>
          waitFor(() => getObject<Obj>(workload.kubeConfig, rt('apps', 'v1', 'daemonsets', 'DaemonSet'), 'kube-system', 'kindnet'), {
            timeoutMs: 60_000,
            intervalMs: 250,
            message: 'the kindnet DaemonSet on the workload cluster',
          }),
        );
        const env = (ds.spec as { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } }).template.spec.containers[0]!.env;
        const pods = (c.spec.spec as { clusterNetwork: { pods: { cidrBlocks: string[] } } }).clusterNetwork.pods.cidrBlocks;
        expect(env.find((e) => e.name === 'POD_SUBNET')?.value).toBe(pods.join(','));
        for (const [plural, kind, ns, name] of [
          ['serviceaccounts', 'ServiceAccount', 'kube-system', 'kindnet'],
          ['clusterroles', 'ClusterRole', undefined, 'kindnet'],
        ] as const) {
          const path = ns ? `/api/v1/namespaces/${ns}/${plural}/${name}` : `/apis/rbac.authorization.k8s.io/v1/${plural}/${name}`;
          expect(await kubeRequest(workload.kubeConfig, 'GET', path), kind).toBeDefined();
        }
        // AND that happened while the control plane was not initialized: no agent can have run yet,
        // and Turtles does not import a cluster before its control plane is up.
        const now = (await getObject<Obj>(cp.kubeConfig, CLUSTERS, c.ns, c.name))!;
        expect(condition(now, 'ControlPlaneInitialized')?.status).not.toBe('True');
      } finally {
        await workload.stop();
      }
    });

    it('the llmstack controller labels, reports and reads node pools from the real topology objects; a caapf cluster is never labelled', async () => {
      // GIVEN every generated rancher cluster with its auto-import label removed, and the caapf ones too
      for (const c of clusters) await mergePatchLabels(cp.kubeConfig, CLUSTERS, c.ns, c.name, { [UPSTREAM.rancherAutoImport]: null });
      const controller = new Controller({ kubeConfig: cp.kubeConfig, autoscalerPollMs: 60_000, log: () => undefined });
      await controller.start();
      try {
        // It reads what the server prefers, whatever version the objects were written in.
        const served = run.capi === versions.v1beta1 ? 'v1beta1' : 'v1beta2';
        expect(controller.informers.clusters.resource.version).toBe(served);
        expect(controller.informers.machineDeployments.resource.version).toBe(served);
        for (const c of clusters) {
          const strategy = c.spec.metadata.labels?.[LABEL.importStrategy];
          const report = await waitFor(async () => {
            const o = await getObject<Obj>(cp.kubeConfig, RESOURCES.llmCluster, c.ns, c.name);
            const s = o?.status as unknown as LLMClusterStatus | undefined;
            return s?.nodePools?.length && s.nodePools.every((p) => p.machineDeployment) ? s : undefined;
          }, { timeoutMs: 20_000, message: `report of ${c.ns}/${c.name} with every pool's MachineDeployment` });
          const { items: mds } = await listObjects<Obj>(cp.kubeConfig, MDS, { namespace: c.ns, labelSelector: `cluster.x-k8s.io/cluster-name=${c.name}` });
          expect(report.nodePools.map((p) => p.machineDeployment).sort()).toStrictEqual(mds.map((m) => m.metadata.name).sort());
          for (const p of report.nodePools) {
            const md = mds.find((m) => m.metadata.name === p.machineDeployment)!;
            expect(p.replicas).toBe((md.spec as { replicas?: number }).replicas);
          }
          const labels = async () => (await getObject<Obj>(cp.kubeConfig, CLUSTERS, c.ns, c.name))!.metadata.labels ?? {};
          if (strategy === 'caapf') {
            expect(report.import.state).toBe('Disabled');
            expect(report.import.message).toMatch(/CAAPF/);
            expect((await labels())[UPSTREAM.rancherAutoImport]).toBeUndefined();
          } else {
            await waitFor(async () => (await labels())[UPSTREAM.rancherAutoImport] === 'true', { message: `auto-import label on ${c.ns}/${c.name}` });
          }
        }
        // The caapf clusters stayed unlabelled after every report and label write above.
        for (const c of clusters.filter((x) => x.spec.metadata.labels?.[LABEL.importStrategy] === 'caapf')) {
          expect((await getObject<Obj>(cp.kubeConfig, CLUSTERS, c.ns, c.name))!.metadata.labels?.[UPSTREAM.rancherAutoImport]).toBeUndefined();
        }
      } finally {
        await controller.stop();
      }
    });

    if (run.shape === 'v1beta2') {
      it('refuses the ClusterClass with a CEL rule at the root of an array variable, with CAPI\'s message', async () => {
        const [cc] = jsyaml.loadAll(readFileSync(path.join(repoRoot, 'test/fixtures/clusterclass-root-array-cel.yaml'), 'utf8')) as Obj[];
        const old = { ...cc!, metadata: { ...cc!.metadata, name: 'docker-llm-0-1-0', namespace: 'default' } };
        await ensureNamespace(cp.kubeConfig, 'default');
        const err = await refusal(cp.kubeConfig, old);
        expect(err, 'the old ClusterClass was accepted').toBeDefined();
        expect(err!.message).toContain('spec.variables[workerNodeTaints].schema.openAPIV3Schema.default');
        expect(err!.message).toContain('failed to convert to declType for CEL validation rules');
      });

      it('llmstack validate --server names each webhook denial with its object and the webhook\'s own message', async () => {
        // GIVEN the quickstart spec, reconciled above at its default version, now asking for an older one
        const doc = parseDocument(readFileSync(path.join(repoRoot, 'examples/quickstart.yaml'), 'utf8'));
        doc.setIn(['spec', 'clusters', 0, 'kubernetesVersion'], 'v1.32.0');
        const dir = mkdtempSync(path.join(os.tmpdir(), 'llmstack-validate-'));
        await ensureNamespace(cp.kubeConfig, 'knative-serving');
        try {
          writeFileSync(path.join(dir, 'llmstack.yaml'), doc.toString());
          const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) =>
            execFile(process.execPath, [path.join(repoRoot, 'bin/llmstack.js'), 'validate', '--spec', path.join(dir, 'llmstack.yaml'), '--server', '--kubeconfig', cp.kubeconfigPath], { encoding: 'utf8' }, (err, out) =>
              resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout: out }),
            ),
          );
          // THEN exactly the Cluster is refused, by CAPI's webhook, in CAPI's words
          const refused = stdout.split('\n').filter((l) => l.startsWith('  '));
          expect(refused, stdout).toHaveLength(1);
          expect(refused[0]).toContain('management/clusters/default/llm-workload/cluster.yaml: Cluster/default/llm-workload (cluster.x-k8s.io/v1beta2):');
          expect(refused[0]).toContain('admission webhook "validation.cluster.cluster.x-k8s.io" denied the request');
          expect(refused[0]).toContain('version cannot be decreased from "1.33.1" to "1.32.0"');
          expect(code).toBe(4);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('refuses Clusters that only CAPI can judge: a missing worker class, a variable value off its schema, an undefined variable', async () => {
        const quickstart = clusters.find((c) => c.example === 'quickstart.yaml')!;
        const variant = (name: string, edit: (topology: Record<string, unknown> & { workers: { machineDeployments: Array<Record<string, unknown>> } }) => void): Obj => {
          const o = structuredClone(quickstart.spec);
          o.metadata = { name, namespace: quickstart.ns, labels: {} };
          edit((o.spec as { topology: never }).topology);
          return o;
        };
        const noClass = await refusal(cp.kubeConfig, variant('no-class', (t) => (t.workers.machineDeployments[0]!.class = 'no-such-worker')));
        expect(noClass?.message).toMatch(/no-such-worker/);
        const badTaint = await refusal(
          cp.kubeConfig,
          variant('bad-taint', (t) => (t.workers.machineDeployments[0]!.variables = { overrides: [{ name: 'workerNodeTaints', value: [{ key: 'a', effect: 'Sometimes' }] }] })),
        );
        expect(badTaint?.message).toMatch(/workerNodeTaints/);
        expect(badTaint?.message).toMatch(/Sometimes/);
        const twice = await refusal(
          cp.kubeConfig,
          variant('twice', (t) => (t.workers.machineDeployments[0]!.variables = { overrides: [{ name: 'workerNodeTaints', value: [{ key: 'a', effect: 'NoSchedule' }, { key: 'a', effect: 'NoSchedule' }] }] })),
        );
        expect(twice?.message).toMatch(/duplicate/i);
        const undefinedVar = await refusal(cp.kubeConfig, variant('undefined-var', (t) => (t.variables = [{ name: 'noSuchVariable', value: 'x' }])));
        expect(undefinedVar?.message).toMatch(/noSuchVariable/);
        // AND the unchanged Cluster is accepted: each refusal above is about its one change.
        expect(await refusal(cp.kubeConfig, variant('unchanged', () => undefined))).toBeUndefined();
      });
    }
  });
}
