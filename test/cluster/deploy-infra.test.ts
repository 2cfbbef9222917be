// scripts/deploy-infra.sh end to end against the real test control plane. No Docker engine runs here,
// so stand-in docker, kind, helm and ngrok (test/support/fake-bin) come first on PATH: they record
// their arguments and answer as the real ones do, and `kind get kubeconfig` hands out the test control
// plane's kubeconfig. kubectl is the real one built with the test binaries, so every manifest the
// script applies goes through the real API server with the real CRDs.
//
// There is no controller here (no kube-controller-manager, Rancher, Turtles, CAPI or Fleet), so the
// script runs with --no-wait: its waits for rollouts, provider readiness and the import would never
// end. The import wait itself is tested below by playing Fleet, CAPD and Turtles by hand.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { clusterInfo, describeCluster, readAuditEvents, testCluster, waitFor, type KubeObject } from '../support/cluster.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { repoRoot } from '../support/paths.js';

const SCRIPT = path.join(repoRoot, 'scripts/deploy-infra.sh');
const FAKE_BIN = path.join(repoRoot, 'test/support/fake-bin');
const IN_CLUSTER_URL = 'http://git-server.llmstack-system.svc.cluster.local/llmstack/gitops.git';
const PROVIDERS = [
  { ref: 'cattle-capi-system/cluster-api', type: 'core', name: 'cluster-api' },
  { ref: 'capi-kubeadm-bootstrap-system/kubeadm-bootstrap', type: 'bootstrap', name: 'kubeadm' },
  { ref: 'capi-kubeadm-control-plane-system/kubeadm-control-plane', type: 'controlPlane', name: 'kubeadm' },
  { ref: 'capd-system/docker', type: 'infrastructure', name: 'docker' },
];

interface Run {
  status: number | null;
  out: string;
}

/** The kubectl built with the test binaries (the harness' folder, else scripts/build-testbin.sh's). */
function findKubectl(): string {
  const dirs = [clusterInfo?.binDir, process.env.KUBE_TEST_BINARIES].filter((d): d is string => !!d);
  for (const d of dirs) if (existsSync(path.join(d, 'kubectl'))) return d;
  const built = execFileSync('bash', [path.join(repoRoot, 'scripts/build-testbin.sh')], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  if (existsSync(path.join(built, 'kubectl'))) return built;
  throw new Error('no kubectl next to the test binaries: run `bash scripts/build-testbin.sh`');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describeCluster('scripts/deploy-infra.sh', () => {
  let work: string;
  let state: string;
  let fake: string;
  let kubectlDir: string;
  let git: GitServer;
  let env: NodeJS.ProcessEnv;

  const kubectl = (...args: string[]) =>
    spawnSync(path.join(kubectlDir, 'kubectl'), ['--kubeconfig', testCluster().kubeconfigPath, ...args], { encoding: 'utf8' });
  const getJson = <T = KubeObject>(...args: string[]): T | undefined => {
    const r = kubectl('get', ...args, '-o', 'json');
    return r.status === 0 ? (JSON.parse(r.stdout) as T) : undefined;
  };
  // Asynchronous: the test Git server answers from this very process, so it must not be blocked.
  const runScript = (script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn('bash', [script, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGTERM'), 100_000);
      child.on('error', reject);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, out });
      });
    });
  const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runScript(SCRIPT, args, extraEnv);
  const calls = () => (existsSync(path.join(fake, 'calls.log')) ? readFileSync(path.join(fake, 'calls.log'), 'utf8').trim().split('\n') : []);
  /** Writes the API server recorded from kubectl since `from` (dry-run requests excluded). */
  const kubectlWrites = (from: number) =>
    readAuditEvents()
      .slice(from)
      .filter((e) => e.stage === 'ResponseComplete' && (e.userAgent ?? '').startsWith('kubectl') && !e.requestURI.includes('dryRun=All'));
  const stepLine = (out: string, step: string) => out.split('\n').filter((l) => new RegExp(`^\\[\\d+/11\\] ${step}: `).test(l)).pop() ?? '';

  beforeAll(async () => {
    kubectlDir = findKubectl();
    work = mkdtempSync(path.join(tmpdir(), 'llmstack-deploy-'));
    state = path.join(work, 'state');
    fake = path.join(work, 'fake');
    mkdirSync(fake);
    mkdirSync(path.join(work, 'home'));
    for (const f of readdirSync(FAKE_BIN)) if (f !== 'README.md') chmodSync(path.join(FAKE_BIN, f), 0o755);
    git = await startGitServer({ password: 'in-cluster-git-password' });
    git.createRepo('llmstack/gitops');
    env = {
      PATH: `${FAKE_BIN}:${kubectlDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: path.join(work, 'home'),
      LANG: 'C.UTF-8',
      LLMSTACK_STATE_DIR: state,
      LLMSTACK_FAKE_STATE: fake,
      LLMSTACK_FAKE_KUBECONFIG: testCluster().kubeconfigPath,
      LLMSTACK_FAKE_DOCKER_ROOT: fake,
      // The stand-in docker's data root is a temp dir; its free space is not what is being tested.
      LLMSTACK_MIN_DISK_GB: '1',
      LLMSTACK_INGRESS_HTTP_PORT: String(await freePort()),
      // Where this machine pushes: a real Git server over HTTP standing in for the in-cluster one,
      // which cannot run without a kubelet. Fleet's URL (spec.git.url) stays the in-cluster one.
      LLMSTACK_GIT_PUSH_URL: git.repoUrl('llmstack/gitops'),
      LLMSTACK_GIT_PASSWORD: git.password,
    };
    // Rancher creates Fleet's workspaces when it starts; there is no Rancher here.
    for (const ns of ['fleet-local', 'fleet-default']) {
      if (kubectl('get', 'namespace', ns).status !== 0) expect(kubectl('create', 'namespace', ns).status).toBe(0);
    }
  });

  afterAll(async () => {
    // The stand-in ngrok runs until stopped: stop it if a failed test left it running.
    const pidFile = path.join(state ?? '', 'ngrok.pid');
    if (state && existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
      } catch {
        // already gone
      }
    }
    kubectl('delete', 'clusters.management.cattle.io', '-n', 'default', 'c-m-llmtest', '--ignore-not-found');
    await git?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('--dry-run on a machine without Docker, kind, kubectl or helm prints the whole plan and changes nothing', async () => {
    // GIVEN a PATH with the basics (bash, coreutils, git, node) and none of the cluster tools
    const bin = path.join(work, 'bare-bin');
    mkdirSync(bin);
    const basics = 'bash env cat sed awk grep tr cut sort head tail mkdir rm mv ln chmod date dirname basename cksum od find ps seq sleep tee wc mktemp df diff ls cp node git'.split(' ');
    for (const tool of basics) {
      const where = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
      if (where) symlinkSync(where, path.join(bin, tool));
    }
    const bare = { PATH: bin };

    // WHEN the plan is asked for
    const dry = await run(['--dry-run'], bare);

    // THEN it exits 0, names what is missing, and prints every step with its commands and manifests
    expect(dry.status, dry.out).toBe(0);
    for (const tool of ['docker', 'kind', 'kubectl', 'helm']) expect(dry.out).toMatch(new RegExp(`- ${tool}: not found\\. To get it: install`));
    for (let i = 1; i <= 11; i++) expect(dry.out).toMatch(new RegExp(`^\\[${i}/11\\] `, 'm'));
    expect(dry.out).toContain('$ kind create cluster --name llmstack --config');
    expect(dry.out).toContain('containerPath: /var/run/docker.sock');
    expect(dry.out).toMatch(/\$ helm upgrade --install cert-manager cert-manager --repo https:\/\/charts\.jetstack\.io --version v1\.18\.2/);
    expect(dry.out).toMatch(/\$ helm upgrade --install rancher rancher --repo \S+ --version 2\.15\.0/);
    expect(dry.out).toContain('kind: CAPIProvider');
    expect(dry.out).toContain('image: docker.io/gitea/gitea:1.24-rootless');
    expect(dry.out).toContain(`spec.git.url: ${IN_CLUSTER_URL}`);
    expect(dry.out).toContain('node bin/llmstack.js generate --spec');
    expect(dry.out).toContain('Dry run: nothing was changed.');
    expect(existsSync(state)).toBe(false);
    expect(calls()).toEqual([]);
  });

  it('without --dry-run stops at preflight, naming each missing tool and how to get it', async () => {
    const bin = path.join(work, 'bare-bin');
    const missing = await run([], { PATH: bin });
    expect(missing.status, missing.out).toBe(3);
    expect(missing.out).toContain('Cannot start, because of:');
    expect(missing.out).toContain('docker: not found. To get it: install Docker Engine (https://docs.docker.com/engine/install/)');
    expect(missing.out).toContain('kind: not found. To get it: install kind 0.20.0+ (https://kind.sigs.k8s.io/');
    expect(missing.out).toContain('kubectl: not found. To get it: install kubectl 1.30.0+ (https://kubernetes.io/docs/tasks/tools/');
    expect(missing.out).toContain('helm: not found. To get it: install Helm 3.14.0+ (https://helm.sh/docs/intro/install/');
    expect(missing.out).toContain('Nothing was changed.');

    // A docker CLI whose engine does not answer, and too little memory, are named too.
    const down = await run([], { LLMSTACK_FAKE_DOCKER_DOWN: '1' });
    expect(down.status, down.out).toBe(3);
    expect(down.out).toContain('docker: the Docker engine does not answer');
    const small = await run([], { LLMSTACK_FAKE_DOCKER_MEMORY: String(8 * 1024 ** 3) });
    expect(small.status, small.out).toBe(3);
    expect(small.out).toContain('memory: Docker can use 8 GiB, at least 12 GiB are needed');
    expect(calls().some((c) => c.startsWith('kind create') || c.startsWith('helm upgrade'))).toBe(false);
  });

  it('runs end to end: kind cluster, charts, CAPI providers, Git server, generate + push, GitRepos, controller', async () => {
    const before = readAuditEvents().length;
    const first = await run(['--no-wait']);
    expect(first.status, first.out).toBe(0);

    // kind got the config with the Docker socket for CAPD and the chosen host port
    expect(calls()).toContainEqual(expect.stringMatching(/^kind create cluster --name llmstack --config \S+\/kind-cluster\.yaml --wait 300s$/));
    const kindConfig = readFileSync(path.join(fake, 'kind/llmstack/config.yaml'), 'utf8');
    expect(kindConfig).toContain('hostPath: /var/run/docker.sock');
    expect(kindConfig).toContain(`hostPort: ${env.LLMSTACK_INGRESS_HTTP_PORT}`);

    // the three charts, pinned, with their values files; Rancher on the node's IP through sslip.io
    const helm = calls().filter((c) => c.startsWith('helm upgrade --install'));
    expect(helm).toHaveLength(3);
    expect(helm[0]).toMatch(/^helm upgrade --install cert-manager cert-manager --repo https:\/\/charts\.jetstack\.io --version v1\.18\.2 --namespace cert-manager --create-namespace --values \S+manifests\/kind\/helm-values\/cert-manager\.yaml/);
    expect(helm[1]).toMatch(/^helm upgrade --install traefik traefik --repo https:\/\/traefik\.github\.io\/charts --version 37\.1\.1 --namespace traefik /);
    expect(helm[2]).toMatch(/^helm upgrade --install rancher rancher --repo https:\/\/releases\.rancher\.com\/server-charts\/latest --version 2\.15\.0 --namespace cattle-system /);
    expect(helm[2]).toContain('--set hostname=rancher.172.18.0.2.sslip.io');
    expect(helm[2]).toMatch(/--set-file bootstrapPassword=\S+\/rancher-bootstrap-password/);
    expect(getJson('namespace', 'cattle-system')).toBeDefined();

    // the bootstrap password: generated, private, shown once on the terminal and never in the log
    const pwFile = path.join(state, 'rancher-bootstrap-password');
    const password = readFileSync(pwFile, 'utf8');
    expect(password).toMatch(/^[0-9a-f]{36}$/);
    expect(statSync(pwFile).mode & 0o777).toBe(0o600);
    expect(first.out.split(password).length - 1).toBe(1);
    const log = readFileSync(path.join(state, 'deploy.log'), 'utf8');
    expect(log).toContain('[11/11] import');
    expect(log).not.toContain(password);

    // CAPIProviders accepted by the real CRD, labelled as ours
    for (const p of PROVIDERS) {
      const [ns, name] = p.ref.split('/') as [string, string];
      const obj = getJson<KubeObject & { spec: { type: string; name: string } }>('capiproviders.turtles-capi.cattle.io', '-n', ns, name);
      expect(obj?.spec, p.ref).toMatchObject({ type: p.type, name: p.name });
      expect((obj?.metadata.labels as Record<string, string>)['app.kubernetes.io/managed-by']).toBe('llmstack');
    }

    // the Git server: its objects and the generated admin Secret
    for (const ref of ['deployment/git-server', 'service/git-server', 'configmap/git-server-env', 'persistentvolumeclaim/git-server-data']) {
      expect(getJson('-n', 'llmstack-system', ref), ref).toBeDefined();
    }
    const secret = getJson<{ data: Record<string, string> }>('-n', 'llmstack-system', 'secret/git-server-admin');
    expect(Buffer.from(secret?.data.username ?? '', 'base64').toString()).toBe('llmstack');
    expect(Buffer.from(secret?.data.password ?? '', 'base64').toString()).toBe(git.password);

    // generate pushed one commit; the GitRepos point Fleet at the in-cluster server
    expect(git.requests).toContain('POST /llmstack/gitops.git/git-receive-pack');
    expect(existsSync(path.join(state, 'gitops/management/clusters/default/llm-workload/cluster.yaml'))).toBe(true);
    const management = getJson<{ spec: { repo: string; paths: string[] } }>('gitrepos.fleet.cattle.io', '-n', 'fleet-local', 'quickstart-management');
    const apps = getJson<{ spec: { repo: string; paths: string[] } }>('gitrepos.fleet.cattle.io', '-n', 'fleet-default', 'quickstart-apps');
    expect(management?.spec).toMatchObject({ repo: IN_CLUSTER_URL, paths: ['management'] });
    expect(apps?.spec).toMatchObject({ repo: IN_CLUSTER_URL, paths: ['bundles'] });
    // the LiteLLM master key, made on the management cluster beside the app bundles, never printed
    const masterKey = getJson<{ data: Record<string, string> }>('-n', 'fleet-default', 'secret/quickstart-litellm-master-key');
    const keyValue = Buffer.from(masterKey?.data['master-key'] ?? '', 'base64').toString();
    expect(keyValue).toMatch(/^sk-[0-9a-f]{64}$/);
    expect(first.out).not.toContain(keyValue);
    expect(first.out).toContain('fleet-default/quickstart-litellm-master-key  created');

    // the controller: its image built from this checkout and loaded into the node, its objects applied
    if (existsSync(path.join(repoRoot, 'manifests/controller'))) {
      expect(calls()).toContainEqual(expect.stringMatching(/^docker build -f \S+manifests\/controller\/Containerfile -t \S+ /));
      expect(calls()).toContainEqual(expect.stringMatching(/^kind load docker-image \S+ --name llmstack$/));
      expect(getJson('-n', 'llmstack-system', 'deployment/llmstack-controller')).toBeDefined();
    }
    expect(getJson('crd', 'llmclusters.llmstack.dev')).toBeDefined();

    // a progress line per step, and the end: Rancher's URL and login, then the status
    for (const s of ['preflight', 'cluster', 'cert-manager', 'ingress', 'rancher', 'capi-providers', 'git-server', 'gitops', 'gitrepos', 'controller', 'import']) {
      expect(stepLine(first.out, s), s).not.toBe('');
    }
    expect(stepLine(first.out, 'import')).toContain('not waited for (--no-wait)');
    expect(first.out).toContain('Rancher:  https://rancher.172.18.0.2.sslip.io   (user admin)');
    expect(first.out).toContain('llmstack status:');
    expect(kubectlWrites(before).length).toBeGreaterThan(10);
  });

  it('is idempotent: a second run changes nothing', async () => {
    const before = readAuditEvents().length;
    const callsBefore = calls().length;
    const pushesBefore = git.requests.filter((r) => r.endsWith('git-receive-pack')).length;
    const second = await run(['--no-wait']);
    expect(second.status, second.out).toBe(0);

    expect(stepLine(second.out, 'cluster')).toContain('already exists');
    for (const s of ['cert-manager', 'ingress', 'rancher', 'capi-providers', 'git-server', 'gitrepos', 'controller']) {
      expect(stepLine(second.out, s), `${s}\n${second.out}`).toContain('already done, nothing to change');
    }
    expect(stepLine(second.out, 'gitops')).toContain('already pushed');
    const newCalls = calls().slice(callsBefore);
    expect(newCalls.filter((c) => /^(kind create|kind load|helm upgrade)/.test(c))).toEqual([]);
    expect(kubectlWrites(before).map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);
    expect(git.requests.filter((r) => r.endsWith('git-receive-pack')).length).toBe(pushesBefore);
    expect(second.out).not.toContain(readFileSync(path.join(state, 'rancher-bootstrap-password'), 'utf8'));
  });

  it('--from resumes at a step and leaves the steps before it alone', async () => {
    // GIVEN a GitRepo that went missing
    expect(kubectl('delete', 'gitrepos.fleet.cattle.io', '-n', 'fleet-default', 'quickstart-apps').status).toBe(0);
    const callsBefore = calls().length;

    const resumed = await run(['--from', 'gitrepos', '--no-wait']);

    expect(resumed.status, resumed.out).toBe(0);
    for (const s of ['cluster', 'cert-manager', 'ingress', 'rancher', 'capi-providers', 'git-server', 'gitops']) {
      expect(stepLine(resumed.out, s), s).toBe(`[${['preflight', 'cluster', 'cert-manager', 'ingress', 'rancher', 'capi-providers', 'git-server', 'gitops'].indexOf(s) + 1}/11] ${s}: skipped (--from gitrepos)`);
    }
    expect(stepLine(resumed.out, 'gitrepos')).toMatch(/: done \(/);
    expect(getJson('gitrepos.fleet.cattle.io', '-n', 'fleet-default', 'quickstart-apps')).toBeDefined();
    expect(calls().slice(callsBefore).filter((c) => /^(kind create|helm)/.test(c) && !c.startsWith('helm version'))).toEqual([]);
    expect((await run(['--from', 'nope'])).out).toContain('--from: no step "nope"; the steps are: preflight cluster');
  });

  it('pins kubeadm and Docker providers to the core version and keeps providers Rancher installed', async () => {
    // GIVEN Turtles reports the core version, and the control plane provider is one Rancher made
    const status = { status: { installedVersion: 'v1.13.3', phase: 'Ready' } };
    expect(kubectl('patch', 'capiproviders.turtles-capi.cattle.io', '-n', 'cattle-capi-system', 'cluster-api', '--subresource=status', '--type=merge', '-p', JSON.stringify(status)).status).toBe(0);
    expect(kubectl('label', 'capiproviders.turtles-capi.cattle.io', '-n', 'capi-kubeadm-control-plane-system', 'kubeadm-control-plane', 'app.kubernetes.io/managed-by-').status).toBe(0);

    const out = await run(['--from', 'capi-providers', '--no-wait']);

    expect(out.status, out.out).toBe(0);
    expect(out.out).toContain('Cluster API version of the core provider: v1.13.3');
    expect(out.out).toContain('kept: controlPlane provider "kubeadm" (capi-kubeadm-control-plane-system/kubeadm-control-plane), installed by Rancher Turtles');
    const version = (ref: string) => getJson<{ spec: { version?: string } }>('capiproviders.turtles-capi.cattle.io', '-n', ...(ref.split('/') as [string, string]))?.spec.version;
    expect(version('capd-system/docker')).toBe('v1.13.3');
    expect(version('capi-kubeadm-bootstrap-system/kubeadm-bootstrap')).toBe('v1.13.3');
    expect(version('capi-kubeadm-control-plane-system/kubeadm-control-plane')).toBeUndefined();
    expect(version('cattle-capi-system/cluster-api')).toBeUndefined();
  });

  it('--public-url puts Rancher behind ngrok, started once and left running', async () => {
    const ngrokEnv = { NGROK_AUTHTOKEN: 'test-token', NGROK_DOMAIN: 'llm-test.ngrok-free.app' };
    const out = await run(['--from', 'rancher', '--no-wait', '--public-url'], ngrokEnv);
    expect(out.status, out.out).toBe(0);
    const pid = Number(readFileSync(path.join(state, 'ngrok.pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).not.toThrow();
    expect(calls()).toContainEqual(`ngrok http 127.0.0.1:${env.LLMSTACK_INGRESS_HTTP_PORT} --url https://llm-test.ngrok-free.app --log ${state}/ngrok.log`);
    const rancher = calls().filter((c) => c.startsWith('helm upgrade --install rancher')).pop() ?? '';
    expect(rancher).toContain('--set hostname=llm-test.ngrok-free.app');
    expect(rancher).toContain('--set tls=external --set agentTLSMode=system-store');

    // again: the running ngrok is kept, not started twice
    const again = await run(['--from', 'rancher', '--no-wait', '--public-url'], ngrokEnv);
    expect(again.status, again.out).toBe(0);
    expect(again.out).toContain(`ngrok already forwards https://llm-test.ngrok-free.app (pid ${pid})`);
    expect(calls().filter((c) => c.startsWith('ngrok http'))).toHaveLength(1);
  });

  it('LLMSTACK_GIT_URL: your own repo instead of the in-cluster server, with a pull secret for Fleet', async () => {
    const external = git.repoUrl('llmstack/gitops');
    const out = await run(['--from', 'git-server', '--no-wait'], {
      LLMSTACK_GIT_URL: external,
      LLMSTACK_GIT_USERNAME: git.username,
      LLMSTACK_GIT_PUSH_URL: '',
    });
    expect(out.status, out.out).toBe(0);
    expect(stepLine(out.out, 'git-server')).toContain(`not needed: Fleet pulls ${external}`);
    for (const [ns, name] of [['fleet-local', 'quickstart-management'], ['fleet-default', 'quickstart-apps']] as const) {
      const repo = getJson<{ spec: { repo: string; clientSecretName?: string } }>('gitrepos.fleet.cattle.io', '-n', ns, name);
      expect(repo?.spec).toMatchObject({ repo: external, clientSecretName: 'llmstack-gitops-auth' });
      const secret = getJson<{ type: string; data: Record<string, string> }>('-n', ns, 'secret/llmstack-gitops-auth');
      expect(secret?.type).toBe('kubernetes.io/basic-auth');
      expect(Buffer.from(secret?.data.password ?? '', 'base64').toString()).toBe(git.password);
    }
  });

  it('waits for the workload cluster to be imported, with a time limit', async () => {
    // GIVEN the Cluster that Fleet would apply from the pushed repo
    const clusterFile = path.join(state, 'gitops/management/clusters/default/llm-workload/cluster.yaml');
    expect(kubectl('apply', '--server-side', '--field-manager=fleet-agent', '-f', clusterFile).status).toBe(0);

    // WHEN nothing imports it, THEN the wait gives up after its limit and says where to look
    const stuck = await run(['--from', 'import'], { LLMSTACK_WAIT_TIMEOUT: '6' });
    expect(stuck.status, stuck.out).toBe(1);
    expect(stuck.out).toContain('gave up waiting for workload cluster default/llm-workload imported into Rancher after 6s');
    expect(stuck.out).toContain('not imported yet');
    expect(stuck.out).toContain('resume with: scripts/deploy-infra.sh --from import');

    // WHEN CAPD provisioned it and Turtles imported it (Rancher's Cluster, labelled with its owner, Ready)
    const patchStatus = (args: string[], body: unknown) =>
      expect(kubectl('patch', ...args, '--subresource=status', '--type=merge', '-p', JSON.stringify(body)).status).toBe(0);
    patchStatus(['clusters.cluster.x-k8s.io', '-n', 'default', 'llm-workload'], { status: { phase: 'Provisioned' } });
    const imported = {
      apiVersion: 'management.cattle.io/v3',
      kind: 'Cluster',
      metadata: {
        name: 'c-m-llmtest',
        namespace: 'default',
        labels: { 'cluster-api.cattle.io/capi-cluster-owner': 'llm-workload', 'cluster-api.cattle.io/capi-cluster-owner-ns': 'default' },
      },
      spec: { displayName: 'llm-workload' },
    };
    const applied = spawnSync(path.join(kubectlDir, 'kubectl'), ['--kubeconfig', testCluster().kubeconfigPath, 'apply', '-f', '-'], { input: JSON.stringify(imported), encoding: 'utf8' });
    expect(applied.status, applied.stderr).toBe(0);
    patchStatus(['clusters.management.cattle.io', '-n', 'default', 'c-m-llmtest'], {
      status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }] },
    });

    // THEN the wait ends at once
    const done = await run(['--from', 'import'], { LLMSTACK_WAIT_TIMEOUT: '30' });
    expect(done.status, done.out).toBe(0);
    expect(done.out).toContain('default/llm-workload: imported into Rancher as c-m-llmtest');
  });

  it('portforward.sh says what is not ready yet instead of failing on kubectl', async () => {
    // Rancher's Service is not there (no chart was rendered), the Cluster is Provisioned but CAPI
    // never wrote its kubeconfig Secret: both are named, with where to look.
    const check = await runScript(path.join(repoRoot, 'scripts/portforward.sh'), ['--check']);
    expect(check.status, check.out).toBe(1);
    expect(check.out).toContain('- Rancher: not deployed yet (no Service cattle-system/rancher). scripts/deploy-infra.sh installs it');
    expect(check.out).toContain('- workload cluster default/llm-workload: its kubeconfig (Secret default/llm-workload-kubeconfig) is not there yet');
    expect(check.out).toContain('- Open WebUI, LiteLLM, Ollama: they run on the workload cluster, which is not ready (above)');
  });

  it('--destroy deletes the workload clusters, then the kind cluster and the saved secrets', async () => {
    const callsBefore = calls().length;
    const ngrokPid = Number(readFileSync(path.join(state, 'ngrok.pid'), 'utf8'));
    const destroyed = await run(['--destroy']);
    expect(destroyed.status, destroyed.out).toBe(0);

    // the GitRepos first (Fleet would bring the Cluster back), then the Cluster (CAPD removes its containers)
    expect(getJson('gitrepos.fleet.cattle.io', '-n', 'fleet-local', 'quickstart-management')).toBeUndefined();
    expect(getJson('gitrepos.fleet.cattle.io', '-n', 'fleet-default', 'quickstart-apps')).toBeUndefined();
    expect(getJson('clusters.cluster.x-k8s.io', '-n', 'default', 'llm-workload')).toBeUndefined();
    const newCalls = calls().slice(callsBefore);
    expect(newCalls).toContain('kind delete cluster --name llmstack');
    expect(newCalls).toContainEqual(expect.stringMatching(/^docker ps -aq --filter label=io\.x-k8s\.kind\.cluster=llm-workload/));
    expect(existsSync(path.join(fake, 'kind/llmstack'))).toBe(false);
    expect(destroyed.out).toContain(`$ kill ${ngrokPid}`);
    await waitFor(() => !existsSync(`/proc/${ngrokPid}`) || readFileSync(`/proc/${ngrokPid}/stat`, 'utf8').split(' ')[2] === 'Z', {
      timeoutMs: 5000,
      message: `ngrok (pid ${ngrokPid}) still running after --destroy`,
    });
    // the rest lived in the kind cluster and went with it; saved secrets go, logs stay
    for (const f of ['kubeconfig', 'rancher-bootstrap-password', 'git-password', 'spec.yaml', 'gitops']) expect(existsSync(path.join(state, f)), f).toBe(false);
    expect(readdirSync(path.join(state, 'logs')).some((f) => f.startsWith('destroy-'))).toBe(true);

    // and again: nothing left to do
    const again = await run(['--destroy']);
    expect(again.status, again.out).toBe(0);
    expect(again.out).toContain('the kind cluster "llmstack" does not exist');
  });

  it('every manifest under manifests/ passes a server-side dry run', async () => {
    // Helm values (no apiVersion) and the kind config (read by kind) are not API objects.
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        // The controller's optional ServiceMonitor needs the Prometheus Operator's CRD, which this
        // API server does not serve: service-monitors.test.ts dry-runs it on a cluster that does.
        if (e.isDirectory()) {
          if (p !== path.join(repoRoot, 'manifests/controller/monitoring')) walk(p);
        }
        else if (/\.ya?ml$/.test(e.name) && e.name !== 'kustomization.yaml') files.push(p);
      }
    };
    walk(path.join(repoRoot, 'manifests'));
    const objects: KubeObject[] = [];
    for (const f of files) {
      for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
        const obj = doc.toJS() as KubeObject | null;
        if (!obj?.apiVersion || obj.apiVersion.startsWith('kind.x-k8s.io')) continue;
        objects.push(obj);
      }
    }
    expect(objects.length).toBeGreaterThan(10);
    // Namespaced objects need their namespace (kubectl apply creates it first, from the same files).
    for (const ns of new Set(objects.map((o) => o.metadata.namespace).filter((n): n is string => !!n))) {
      if (kubectl('get', 'namespace', ns).status !== 0) expect(kubectl('create', 'namespace', ns).status).toBe(0);
    }
    const results = await testCluster().serverSideDryRun(objects);
    expect(results.filter((r) => !r.ok).map((r) => `${r.ref}: ${r.message}`)).toEqual([]);

    // The kustomization the script applies with -k builds, and the kind config has what CAPD needs.
    const built = spawnSync(path.join(kubectlDir, 'kubectl'), ['kustomize', path.join(repoRoot, 'manifests/git-server')], { encoding: 'utf8' });
    expect(built.status, built.stderr).toBe(0);
    const kind = parseAllDocuments(readFileSync(path.join(repoRoot, 'manifests/kind/cluster.yaml'), 'utf8'))[0]?.toJS() as {
      nodes: Array<{ role: string; labels?: Record<string, string>; extraMounts?: Array<{ hostPath: string; containerPath: string }> }>;
    };
    expect(kind.nodes[0]).toMatchObject({
      role: 'control-plane',
      labels: { 'ingress-ready': 'true' },
      extraMounts: [{ hostPath: '/var/run/docker.sock', containerPath: '/var/run/docker.sock' }],
    });
  });
});
