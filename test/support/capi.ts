// Cluster API's real managers on a local test control plane: the core manager (with the topology
// controller), the kubeadm control-plane and the kubeadm bootstrap managers, built from Go modules by
// scripts/build-testbin.sh. Installed as CAPI's own kustomize install would install them, except
// that every webhook is registered by URL on loopback with the harness CA instead of a Service:
// - the CRDs of each manager, with the labels its crd/kustomization.yaml adds (the contract labels the
//   topology controller reads) and conversion pointed at the manager that serves it (crd/patches);
// - the Validating/MutatingWebhookConfigurations of each manager's webhook/manifests.yaml;
// - CAPD's Docker* CRDs of the same release (module sigs.k8s.io/cluster-api/test), with CAPD's
//   contract labels and conversion None: CAPD needs Docker, so no controller serves them here.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import jsyaml from 'js-yaml';
import { freePorts, tail, type ControlPlane, type ManagedProcess } from './controlplane.js';
import { installCrds, type Crd } from './crds.js';
import { kubeRequest, statusMessage, type KubeObject } from './kube.js';
import { testbinVersions } from './paths.js';
import { buildTestbin } from './testbin.js';

export type CapiManagerName = 'core' | 'kubeadm-control-plane' | 'kubeadm-bootstrap';

const MANAGERS: ReadonlyArray<{ name: CapiManagerName; prefix: string }> = [
  // namePrefix of each provider's config/default/kustomization.yaml
  { name: 'core', prefix: 'capi-' },
  { name: 'kubeadm-control-plane', prefix: 'capi-kubeadm-control-plane-' },
  { name: 'kubeadm-bootstrap', prefix: 'capi-kubeadm-bootstrap-' },
];

export interface CapiManagers {
  readonly version: string;
  /** Where each manager logs; printed with a failure. */
  logs(): string;
  stop(): Promise<void>;
}

/** The folder of the Cluster API release built by scripts/build-testbin.sh (built once, then cached). */
export async function capiRelease(version: string, log: (m: string) => void): Promise<string> {
  const dir = await buildTestbin(['capi', version], log);
  if (!existsSync(path.join(dir, 'bin/core')) || !existsSync(path.join(dir, 'config/docker'))) {
    throw new Error(`scripts/build-testbin.sh capi ${version}: ${dir} lacks the managers or the CAPD CRDs`);
  }
  return dir;
}

/** CAPI_VERSION / CAPI_V1BETA1_VERSION from scripts/testbin-versions.env. */
export function capiVersions(): { current: string; v1beta1: string } {
  const v = testbinVersions();
  return { current: v.capi, v1beta1: v.capiV1beta1 };
}

function loadYamlDocs(file: string): KubeObject[] {
  return (jsyaml.loadAll(readFileSync(file, 'utf8'), undefined, { filename: file }) as Array<KubeObject | null>).filter(
    (d): d is KubeObject => !!d && typeof d === 'object',
  );
}

function yamlFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The `labels[].pairs` a crd/kustomization.yaml adds to every CRD. */
function kustomizeLabels(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const k = jsyaml.load(readFileSync(file, 'utf8')) as { labels?: Array<{ pairs?: Record<string, string> }>; commonLabels?: Record<string, string> } | null;
  return Object.assign({}, k?.commonLabels, ...(k?.labels ?? []).map((l) => l.pairs ?? {}));
}

interface ConversionPatch {
  crd: string;
  path: string;
  reviewVersions: string[];
}

function conversionPatches(dir: string): ConversionPatch[] {
  return yamlFilesIn(dir).flatMap((file) =>
    loadYamlDocs(file).flatMap((doc) => {
      const webhook = (doc as { spec?: { conversion?: { strategy?: string; webhook?: { conversionReviewVersions?: string[]; clientConfig?: { service?: { path?: string } } } } } }).spec
        ?.conversion;
      if (doc.kind !== 'CustomResourceDefinition' || webhook?.strategy !== 'Webhook') return [];
      return [
        {
          crd: doc.metadata.name as string,
          path: webhook.webhook?.clientConfig?.service?.path ?? '/convert',
          reviewVersions: webhook.webhook?.conversionReviewVersions ?? ['v1'],
        },
      ];
    }),
  );
}

/** CRDs and webhook configurations of one release, as CAPI's kustomize install renders them, pointed at loopback ports. */
export function capiInstallObjects(releaseDir: string, ports: Record<CapiManagerName, number>, caBundle: string): { crds: Crd[]; webhooks: KubeObject[] } {
  const crds: Crd[] = [];
  const webhooks: KubeObject[] = [];
  for (const m of MANAGERS) {
    const config = path.join(releaseDir, 'config', m.name);
    const labels = kustomizeLabels(path.join(config, 'crd/kustomization.yaml'));
    const conversions = new Map(conversionPatches(path.join(config, 'crd/patches')).map((c) => [c.crd, c]));
    const base = `https://127.0.0.1:${ports[m.name]}`;
    for (const file of yamlFilesIn(path.join(config, 'crd/bases'))) {
      for (const doc of loadYamlDocs(file) as Crd[]) {
        if (doc.kind !== 'CustomResourceDefinition') continue;
        doc.metadata.labels = { ...doc.metadata.labels, ...labels };
        const conv = conversions.get(doc.metadata.name);
        if (conv) {
          (doc.spec as Record<string, unknown>).conversion = {
            strategy: 'Webhook',
            webhook: { conversionReviewVersions: conv.reviewVersions, clientConfig: { url: `${base}${conv.path}`, caBundle } },
          };
        }
        crds.push(doc);
      }
    }
    for (const doc of loadYamlDocs(path.join(config, 'webhook/manifests.yaml'))) {
      if (doc.kind !== 'ValidatingWebhookConfiguration' && doc.kind !== 'MutatingWebhookConfiguration') continue;
      const hooks = (doc as { webhooks?: Array<{ clientConfig: { service?: { path?: string }; url?: string; caBundle?: string } }> }).webhooks ?? [];
      for (const h of hooks) {
        const p = h.clientConfig.service?.path ?? '/';
        h.clientConfig = { url: `${base}${p}`, caBundle };
      }
      doc.metadata.name = `${m.prefix}${doc.metadata.name as string}`;
      webhooks.push(doc);
    }
  }
  // CAPD of the same release: its CRDs with its contract labels, conversion left at None.
  const capd = path.join(releaseDir, 'config', 'docker', 'crd');
  const capdLabels = kustomizeLabels(path.join(capd, 'kustomization.yaml'));
  for (const file of yamlFilesIn(path.join(capd, 'bases')).filter((f) => /infrastructure\.cluster\.x-k8s\.io_docker/.test(path.basename(f)))) {
    for (const doc of loadYamlDocs(file) as Crd[]) {
      doc.metadata.labels = { ...doc.metadata.labels, ...capdLabels };
      crds.push(doc);
    }
  }
  return { crds, webhooks };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Installs and starts one Cluster API release on cp (a local control plane). Leader election off,
 * ClusterTopology on (off by default up to v1.14), webhooks served with the control plane's own
 * serving certificate (127.0.0.1, signed by the CA the API server trusts).
 */
export async function startCapi(cp: ControlPlane, version: string, options: { log?: (m: string) => void; readyTimeoutMs?: number } = {}): Promise<CapiManagers> {
  const log = options.log ?? ((m: string) => console.error(`[capi ${version}] ${m}`));
  if (!cp.dataDir) throw new Error(`Cluster API managers need a local control plane, not source ${cp.source}`);
  const release = await capiRelease(version, log);
  const t0 = performance.now();
  const certDir = path.join(cp.dataDir, 'capi-webhook-certs');
  mkdirSync(certDir, { recursive: true });
  copyFileSync(path.join(cp.dataDir, 'apiserver.crt'), path.join(certDir, 'tls.crt'));
  copyFileSync(path.join(cp.dataDir, 'apiserver.key'), path.join(certDir, 'tls.key'));
  const caBundle = readFileSync(path.join(cp.dataDir, 'ca.crt')).toString('base64');

  const all = await freePorts(MANAGERS.length * 3);
  const ports = (i: number) => ({ webhook: all[i * 3] as number, health: all[i * 3 + 1] as number, diagnostics: all[i * 3 + 2] as number });
  const webhookPorts = Object.fromEntries(MANAGERS.map((m, i) => [m.name, ports(i).webhook])) as Record<CapiManagerName, number>;
  const { crds, webhooks } = capiInstallObjects(release, webhookPorts, caBundle);
  await installCrds(cp.kubeConfig, { crds, log });

  const procs: ManagedProcess[] = [];
  const env = { ...process.env, KUBECONFIG: cp.kubeconfigPath };
  const stop = async () => {
    await Promise.all(procs.map((p) => p.stop()));
  };
  try {
    MANAGERS.forEach((m, i) => {
      const p = ports(i);
      procs.push(
        cp.startProcess(`capi-${m.name}`, path.join(release, 'bin', m.name), [
          '--leader-elect=false',
          '--feature-gates=ClusterTopology=true',
          `--webhook-port=${p.webhook}`,
          `--webhook-cert-dir=${certDir}`,
          `--health-addr=127.0.0.1:${p.health}`,
          `--diagnostics-address=127.0.0.1:${p.diagnostics}`,
          '--insecure-diagnostics=true',
        ], { env }),
      );
    });
    const deadline = performance.now() + (options.readyTimeoutMs ?? 60_000);
    for (const [i, m] of MANAGERS.entries()) {
      const p = ports(i);
      const proc = procs[i] as ManagedProcess;
      for (;;) {
        if (!proc.alive()) throw new Error(`Cluster API ${version} ${m.name} manager exited:\n${tail(proc.logPath, 40)}`);
        if ((await httpOk(`http://127.0.0.1:${p.health}/readyz`)) && (await canConnect(p.webhook))) break;
        if (performance.now() > deadline) throw new Error(`Cluster API ${version} ${m.name} manager not ready:\n${tail(proc.logPath, 40)}`);
        await delay(200);
      }
    }
    for (const wh of webhooks) {
      const plural = wh.kind === 'ValidatingWebhookConfiguration' ? 'validatingwebhookconfigurations' : 'mutatingwebhookconfigurations';
      const res = await kubeRequest(cp.kubeConfig, 'PATCH', `/apis/admissionregistration.k8s.io/v1/${plural}/${wh.metadata.name as string}`, {
        body: wh,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'llmstack-test', force: true },
      });
      if (res.status !== 200 && res.status !== 201) throw new Error(`apply ${wh.kind} ${wh.metadata.name as string}: ${res.status} ${statusMessage(res)}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  log(`Cluster API ${version} managers ready in ${((performance.now() - t0) / 1000).toFixed(1)}s (${crds.length} CRDs, ${webhooks.length} webhook configurations)`);
  return {
    version,
    logs: () => procs.map((p) => `--- ${p.name} (${p.logPath}) ---\n${tail(p.logPath, 25)}`).join('\n'),
    stop,
  };
}
