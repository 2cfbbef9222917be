// Bad specs and hostile targets, and the exact message each must produce. A base spec is patched per
// case so each case shows only what is wrong with it. The test runs every case against its own copy
// of a generated repository and checks that nothing changed, inside the repository or outside it.
import { appendFile, mkdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';

export const GOOD = `apiVersion: llmstack.dev/v1alpha1
kind: Stack
metadata:
  name: demo
spec:
  clusters:
    - name: one
      class: docker-llm
      nodePools:
        - {name: md-0, autoscaling: {min: 1, max: 3}, capacity: {cpu: "2", memory: 4Gi}}
`;

/** What a case may prepare: its own folder, a copy of a generated repo, a folder beside it. */
export interface CaseContext {
  /** The case's folder; messages show it as <work>. */
  work: string;
  /** A working copy generated from GOOD, committed, clean. */
  repo: string;
  /** Files outside the repository that must never change (<work>/outside). */
  outside: string;
  /** The spec file of the case (shown as bad.yaml). */
  specFile: string;
  /** The test Git server; its address is shown as <git>. */
  gitUrl: string;
  /** Runs git in the repo (setup only). */
  git: (...args: string[]) => string;
}

export interface BadCase {
  name: string;
  spec: string | ((c: CaseContext) => string);
  message: string;
  /** 2 (spec, flag or target content) unless said otherwise; 3 for Git. */
  exit?: number;
  /** Changes the case's repo before the run (after it the snapshot is taken). */
  setup?: (c: CaseContext) => Promise<void> | void;
  /** generate's flags; `out` defaults to the case's repo. */
  options?: (c: CaseContext) => { out?: string; remote?: string; spec?: string };
  env?: Record<string, string>;
  /** Also run `diff` and expect the same message (spec problems: the code path is shared). */
  diff?: boolean;
}

const withClusterLine = (line: string) => GOOD.replace('      class: docker-llm\n', `      class: docker-llm\n${line}\n`);

export const BAD_CASES: BadCase[] = [
  {
    name: 'the former apps.ollama.storage field',
    spec: `${GOOD}  apps:\n    ollama: {storage: 20Gi}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:12:13: spec.apps.ollama: "storage" is now spec.apps.ollama.cache.size (the model cache has a mode: pod or shared)
  fix: write spec.apps.ollama.cache: {size: 20Gi} instead; mode: pod, the default, is the per-pod volume storage sized`,
  },
  {
    name: 'a storage class for the per-pod model cache',
    spec: `${GOOD}  apps:\n    ollama: {cache: {storageClass: nfs}}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:12:36: spec.apps.ollama.cache.storageClass: storageClass is only used with mode: shared
  fix: remove spec.apps.ollama.cache.storageClass or set mode: shared`,
  },
  {
    name: 'empty file',
    spec: '',
    message: `bad.yaml: 1 problem in the spec
bad.yaml: (document): the file is empty
  fix: run \`llmstack init\` to write a starter spec`,
  },
  {
    name: 'YAML syntax error',
    spec: GOOD.replace('name: demo', 'name: "demo'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:4:14: (document): YAML syntax error: Missing closing "quote
  fix: correct the YAML at that line (indentation, a missing ":" or an unclosed quote are the usual causes)`,
  },
  {
    name: 'two documents',
    spec: `${GOOD}---\n${GOOD}`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:11:1: (document): the file holds more than one YAML document
  fix: keep one Stack per file`,
  },
  {
    name: 'wrong apiVersion',
    spec: GOOD.replace('llmstack.dev/v1alpha1', 'llmstack.dev/v1'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:1:13: apiVersion: "llmstack.dev/v1" is not allowed (must be "llmstack.dev/v1alpha1")
  fix: use one of: "llmstack.dev/v1alpha1"`,
  },
  {
    name: 'wrong kind',
    spec: GOOD.replace('kind: Stack', 'kind: Cluster'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:2:7: kind: "Cluster" is not allowed (must be "Stack")
  fix: use one of: "Stack"`,
  },
  {
    name: 'missing metadata.name',
    spec: GOOD.replace('  name: demo\n', '  labels: {a: b}\n'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:4:3: metadata.name: required field is missing (expected a string)
  fix: add metadata.name`,
  },
  {
    name: 'stack name not DNS-1123',
    spec: GOOD.replace('name: demo', 'name: Demo_Stack'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:4:9: metadata.name: "Demo_Stack" must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit
  fix: change metadata.name to a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit`,
  },
  {
    name: 'unknown top-level spec field with a near miss',
    spec: GOOD.replace('spec:\n', 'spec:\n  clusterClass: []\n'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:6:3: spec: unknown field "clusterClass"
  fix: remove or rename "clusterClass" → "clusterClasses"; allowed here: git, capi, import, clusterClasses, clusters, apps`,
  },
  {
    name: 'unknown node pool field',
    spec: GOOD.replace('{name: md-0,', '{name: md-0, minSize: 1,'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:11: spec.clusters[0].nodePools[0]: unknown field "minSize"
  fix: remove or rename "minSize"; allowed here: name, class, replicas, autoscaling, capacity, spot, labels, taints`,
  },
  {
    name: 'autoscaling min above max',
    spec: GOOD.replace('{min: 1, max: 3}', '{min: 4, max: 3}'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:43: spec.clusters[0].nodePools[0].autoscaling.min: min 4 is greater than max 3
  fix: lower spec.clusters[0].nodePools[0].autoscaling.min or raise max`,
  },
  {
    name: 'replicas together with autoscaling',
    spec: GOOD.replace('{name: md-0,', '{name: md-0, replicas: 2,'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:34: spec.clusters[0].nodePools[0].replicas: replicas and autoscaling exclude each other: the autoscaler owns the size of an autoscaled pool
  fix: remove replicas to let the autoscaler size the pool, or remove autoscaling for a fixed size`,
  },
  {
    name: 'scale from zero without capacity',
    spec: GOOD.replace('autoscaling: {min: 1, max: 3}, capacity: {cpu: "2", memory: 4Gi}', 'autoscaling: {min: 0, max: 3}'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:11: spec.clusters[0].nodePools[0].capacity: a pool that scales from zero needs capacity (cpu, memory and any gpu) so the autoscaler knows the node size
  fix: add capacity: {cpu: "4", memory: 16Gi} with the size of one node (and gpu: {count: 1} for a GPU pool), or set autoscaling.min to 1`,
  },
  {
    name: 'bad memory quantity',
    spec: GOOD.replace('memory: 4Gi', 'memory: 4 gigs'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:84: spec.clusters[0].nodePools[0].capacity.memory: "4 gigs" must be a Kubernetes quantity such as "2", "500m", "4Gi"
  fix: change spec.clusters[0].nodePools[0].capacity.memory to a Kubernetes quantity such as "2", "500m", "4Gi"`,
  },
  {
    name: 'even control plane replicas',
    spec: withClusterLine('      controlPlane: {replicas: 2}'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:9:32: spec.clusters[0].controlPlane.replicas: 2 control plane machines: etcd needs an odd number, at least 1, for quorum
  fix: set spec.clusters[0].controlPlane.replicas to 1, 3 or 5`,
  },
  {
    name: 'kubernetes version without v',
    spec: withClusterLine('      kubernetesVersion: 1.33.1'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:9:26: spec.clusters[0].kubernetesVersion: "1.33.1" must look like "v1.33.1"
  fix: change spec.clusters[0].kubernetesVersion to look like "v1.33.1"`,
  },
  {
    name: 'unknown ClusterClass',
    spec: GOOD.replace('class: docker-llm', 'class: aws-llm'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:8:14: spec.clusters[0].class: unknown ClusterClass "aws-llm"
  fix: use one of: "docker-llm", or add {name: aws-llm, provider: docker} to spec.clusterClasses`,
  },
  {
    name: 'unknown provider',
    spec: GOOD.replace('spec:\n', 'spec:\n  clusterClasses: [{name: docker-llm, provider: openstack}]\n'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:6:49: spec.clusterClasses[0].provider: no ClusterClass for provider "openstack" in the catalog
  fix: use one of: "docker"`,
  },
  {
    name: 'unknown worker class',
    spec: GOOD.replace('{name: md-0,', '{name: md-0, class: big-worker,'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:31: spec.clusters[0].nodePools[0].class: ClusterClass "docker-llm" has no worker class "big-worker"
  fix: use one of: "default-worker", "gpu-worker"`,
  },
  {
    name: 'the same taint key and effect twice in a pool',
    spec: GOOD.replace(
      '{name: md-0, autoscaling: {min: 1, max: 3}, capacity: {cpu: "2", memory: 4Gi}}',
      '{name: md-0, taints: [{key: dedicated, value: a, effect: NoSchedule}, {key: dedicated, value: b, effect: NoSchedule}]}',
    ),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:81: spec.clusters[0].nodePools[0].taints[1]: taint dedicated:NoSchedule repeats taints[0]: a node has at most one taint per key and effect
  fix: remove one of the two dedicated:NoSchedule taints`,
  },
  {
    name: 'unknown app',
    spec: withClusterLine('      apps: [ollama, comfyui]'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:9:22: spec.clusters[0].apps[1]: unknown app "comfyui"
  fix: use one of: "knative-operator", "knative-serving", "litellm", "llm-namespace", "local-path-storage", "metrics-server", "nvidia-device-plugin", "ollama", "openwebui"`,
  },
  {
    name: 'duplicate cluster names',
    spec: `${GOOD}    - {name: one, class: docker-llm}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:11:14: spec.clusters[1].name: duplicate cluster "one" in namespace "default"
  fix: give each cluster its own name`,
  },
  {
    name: 'plaintext API key',
    spec: `${GOOD}  apps:\n    litellm:\n      models:\n        - {name: gpt, model: openai/gpt-4o-mini, apiKey: sk-live-123}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:14:58: spec.apps.litellm.models[0].apiKey: a plaintext secret is refused here: it would be committed to Git
  fix: store it in a Kubernetes Secret (kubectl create secret generic NAME --from-literal=KEY=...) and write apiKey: {secretRef: {name: NAME, key: KEY}}`,
  },
  {
    name: 'token in the Git URL',
    spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "https://bot:ghp_secret@git.example.test/a.git"}\n'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: the URL carries a password or token: a plaintext secret is refused (it would be stored in the repo and in Fleet objects)
  fix: remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName`,
  },
  {
    name: 'public model without a key',
    spec: `${GOOD}  apps:\n    litellm:\n      models:\n        - {name: gpt, model: openai/gpt-4o-mini}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:14:11: spec.apps.litellm.models[0].apiKey: model "gpt" goes to the public provider "openai" but has no apiKey
  fix: add apiKey: {secretRef: {name: SECRET, key: KEY}} naming a Secret in the apps namespace`,
  },
  {
    name: 'LiteLLM routes to a model Ollama does not pull',
    spec: `${GOOD}  apps:\n    litellm:\n      models:\n        - {name: big, model: ollama/llama3:70b}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:14:30: spec.apps.litellm.models[0].model: routes to Ollama model "llama3:70b", which apps.ollama.models does not pull
  fix: add "llama3:70b" to spec.apps.ollama.models (now "qwen2.5:0.5b")`,
  },
  {
    name: 'GPU Ollama without a GPU pool',
    spec: `${GOOD}  apps:\n    ollama: {gpu: {count: 1}}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:9: spec.clusters[0].nodePools: apps.ollama asks for GPUs but cluster "one" has no GPU node pool, so Ollama would never schedule
  fix: add a node pool with class gpu-worker and capacity.gpu, or remove apps.ollama.gpu`,
  },
  {
    name: 'bad CAPI version',
    spec: GOOD.replace('spec:\n', 'spec:\n  capi: {apiVersion: v1alpha4}\n'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:6:22: spec.capi.apiVersion: "v1alpha4" is not allowed (expected one of "v1beta2"|"v1beta1")
  fix: use one of: "v1beta2", "v1beta1"`,
  },
  {
    name: 'several problems at once',
    spec: GOOD.replace('name: one', 'name: One').replace('{min: 1, max: 3}', '{min: 1, max: "3"}'),
    message: `bad.yaml: 2 problems in the spec
bad.yaml:7:13: spec.clusters[0].name: "One" must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit
  fix: change spec.clusters[0].name to a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit
bad.yaml:10:51: spec.clusters[0].nodePools[0].autoscaling.max: expected a number, got a string
  fix: write spec.clusters[0].nodePools[0].autoscaling.max as a number`,
  },

  {
    name: 'a LiteLLM-only cluster with no exposed Ollama to route to',
    spec: GOOD.replace('spec:\n  clusters:\n', 'spec:\n  clusters:\n    - {name: gpu, class: docker-llm, apps: [ollama]}\n').replace('      class: docker-llm\n      nodePools', '      class: docker-llm\n      apps: [litellm]\n      nodePools'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:13: spec.clusters[1].apps: cluster "one" runs litellm without ollama, and no cluster exposes its Ollama, so "qwen2.5:0.5b" would be routed nowhere
  fix: give a cluster that runs ollama ("gpu") an endpoint: ollamaEndpoint: {host: DNS-NAME, tlsSecret: TLS-SECRET}; or add ollama to this cluster's apps`,
  },
  {
    name: 'Open WebUI without LiteLLM on its cluster',
    spec: withClusterLine('      apps: [ollama, openwebui]'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:9:13: spec.clusters[0].apps: cluster "one" runs openwebui without litellm: Open WebUI talks to the LiteLLM of its own cluster
  fix: add litellm to this cluster's apps, or remove openwebui`,
  },
  {
    name: 'an Ollama endpoint on a cluster without Ollama',
    spec: withClusterLine('      apps: [litellm]\n      ollamaEndpoint: {host: ollama.one.example.test, tlsSecret: one-tls}'),
    message: `bad.yaml: 2 problems in the spec
bad.yaml:9:13: spec.clusters[0].apps: cluster "one" runs litellm without ollama, and no cluster exposes its Ollama, so "qwen2.5:0.5b" would be routed nowhere
  fix: add ollama to this cluster's apps, or to another cluster's apps with ollamaEndpoint: {host: DNS-NAME, tlsSecret: TLS-SECRET}
bad.yaml:10:23: spec.clusters[0].ollamaEndpoint: cluster "one" exposes an Ollama endpoint but does not run Ollama
  fix: add ollama to this cluster's apps, or remove ollamaEndpoint`,
  },
  // --- hostile specs -------------------------------------------------------------------------
  { name: 'a list as a mapping key', spec: `${GOOD}  ? [a, b]\n  : c\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:11:5: (document): a list or mapping is used as a key
  fix: write every key as a plain word, such as name or nodePools` },
  {
    name: 'YAML alias bomb',
    spec: `${GOOD}  apps:\n    ollama:\n      models: &a0 ["m"]\n${Array.from({ length: 9 }, (_, i) => `      x${i + 1}: &a${i + 1} [*a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}, *a${i}]`).join('\n')}\n`,
    message: `bad.yaml: 1 problem in the spec
bad.yaml:14:16: (document): the YAML expands its aliases (*name) more than 100 times, the shape of a "billion laughs" document
  fix: write the repeated values out, or refer to each anchor (&name) only a few times`,
  },
  { name: 'document is a list', spec: '- apiVersion: llmstack.dev/v1alpha1\n- kind: Stack\n', message: `bad.yaml: 1 problem in the spec
bad.yaml:1:1: (document): the document is a list, not a Stack
  fix: write a mapping with apiVersion, kind, metadata and spec; \`llmstack init\` writes one` },
  { name: 'document is a string', spec: 'hello\n', message: `bad.yaml: 1 problem in the spec
bad.yaml:1:1: (document): the document is a string, not a Stack
  fix: write a mapping with apiVersion, kind, metadata and spec; \`llmstack init\` writes one` },
  { name: 'a number too large (1e309)', spec: GOOD.replace('max: 3}', 'max: 1e309}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:10:51: spec.clusters[0].nodePools[0].autoscaling.max: the number is too large (it reads as infinity)
  fix: write spec.clusters[0].nodePools[0].autoscaling.max as a finite number` },
  { name: 'not a number (.nan)', spec: GOOD.replace('max: 3}', 'max: .nan}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:10:51: spec.clusters[0].nodePools[0].autoscaling.max: not a number (.nan)
  fix: write spec.clusters[0].nodePools[0].autoscaling.max as a finite number` },
  { name: 'a fraction where a whole number belongs', spec: GOOD.replace('max: 3}', 'max: 2.5}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:10:51: spec.clusters[0].nodePools[0].autoscaling.max: 2.5 is not a whole number
  fix: write spec.clusters[0].nodePools[0].autoscaling.max as a whole number such as 3` },
  { name: 'negative control plane replicas', spec: withClusterLine('      controlPlane: {replicas: -1}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:32: spec.clusters[0].controlPlane.replicas: -1 control plane machines: etcd needs an odd number, at least 1, for quorum
  fix: set spec.clusters[0].controlPlane.replicas to 1, 3 or 5` },
  { name: 'overlapping pod and service CIDRs', spec: withClusterLine('      network: {pods: ["10.0.0.0/8"], services: ["10.96.0.0/12"]}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:50: spec.clusters[0].network.services[0]: service block "10.96.0.0/12" overlaps pod block "10.0.0.0/8": a Service IP would also be a pod IP
  fix: choose blocks that do not overlap, e.g. pods ["192.168.0.0/16"] and services ["10.128.0.0/12"]` },
  { name: 'CIDR octet out of range', spec: withClusterLine('      network: {pods: ["300.1.1.1/8"]}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:24: spec.clusters[0].network.pods[0]: "300.1.1.1/8" is not a CIDR block: "300.1.1.1" is not an IPv4 address: 300 is out of range (each of the four numbers is 0 to 255)
  fix: write it as ADDRESS/PREFIX, e.g. "192.168.0.0/16" or "fd00:10:96::/108"` },
  { name: 'CIDR prefix too long', spec: withClusterLine('      network: {services: ["10.96.0.0/33"]}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:28: spec.clusters[0].network.services[0]: "10.96.0.0/33" has a prefix /33 longer than an IPv4 address (32 bits)
  fix: use a prefix from 0 to 32` },
  { name: 'CIDR with host bits set', spec: withClusterLine('      network: {pods: ["192.168.1.0/16"]}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:24: spec.clusters[0].network.pods[0]: "192.168.1.0/16" has host bits set: the block /16 starts at 192.168.0.0/16
  fix: write "192.168.0.0/16"` },
  { name: 'CIDR that is no address', spec: withClusterLine('      network: {pods: ["fd00::zz/64"]}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:24: spec.clusters[0].network.pods[0]: "fd00::zz/64" is not a CIDR block: "fd00::zz" is not an IPv4 or IPv6 address
  fix: write it as ADDRESS/PREFIX, e.g. "192.168.0.0/16" or "fd00:10:96::/108"` },
  { name: 'invalid serviceDomain', spec: withClusterLine('      network: {serviceDomain: "Cluster Local"}'), message: `bad.yaml: 1 problem in the spec
bad.yaml:9:32: spec.clusters[0].network.serviceDomain: "Cluster Local" must be a DNS name: lower-case labels of letters, digits and "-" joined by "."
  fix: change spec.clusters[0].network.serviceDomain to a DNS name: lower-case labels of letters, digits and "-" joined by "."` },
  { name: 'token as the Git URL user name', spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "https://ghp_abc123secret@git.example.test/a.git"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: the URL carries a user name, which for HTTP is where a token hides: refused (it would be stored in the repo and in Fleet objects)
  fix: remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName` },
  { name: 'token in the Git URL query', spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "https://git.example.test/a.git?private_token=glpat-secret"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: a Git URL has no query string or fragment, and one can carry a token: refused
  fix: remove everything from the "?" or "#" on; credentials come from LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD` },
  { name: 'password in an ssh Git URL', spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "ssh://git:hunter2@git.example.test/a.git"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: the URL carries a password or token: a plaintext secret is refused (it would be stored in the repo and in Fleet objects)
  fix: remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName` },
  { name: 'Git URL that starts with "-"', spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "--upload-pack=touch /tmp/pwned"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: a Git URL cannot start with "-" (git would read it as an option)
  fix: write the URL itself, e.g. https://git.example.com/team/gitops.git` },
  { name: 'Git remote helper URL', spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "ext::sh%20-c%20id"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: git remote helpers ("transport::address") are not supported
  fix: use an https:// or ssh:// URL` },
  { name: 'file:// URL Fleet cannot pull', spec: GOOD.replace('spec:\n', 'spec:\n  git: {url: "file:///srv/git/a.git"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: the URL scheme "file" is not supported
  fix: use one of: https://, http://, ssh://, git://` },
  { name: 'password inside a LiteLLM apiBase', spec: `${GOOD}  apps:\n    litellm:\n      models:\n        - {name: m, model: openai/gpt-4o-mini, apiBase: "https://user:sk-secret@llm.example.test/v1"}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:14:57: spec.apps.litellm.models[0].apiBase: the URL carries a user name or password: a plaintext secret is refused (it would be committed to Git)
  fix: remove it from the URL and put the key in a Secret: apiKey: {secretRef: {name: NAME, key: KEY}}` },
  { name: 'key in a LiteLLM apiBase query', spec: `${GOOD}  apps:\n    litellm:\n      models:\n        - {name: m, model: openai/gpt-4o-mini, apiBase: "https://llm.example.test/v1?api_key=sk-secret"}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:14:57: spec.apps.litellm.models[0].apiBase: the query parameter "api_key" looks like a credential: a plaintext secret is refused (it would be committed to Git)
  fix: remove it from the URL and put the key in a Secret: apiKey: {secretRef: {name: NAME, key: KEY}}` },
  { name: 'apiBase that is not http', spec: `${GOOD}  apps:\n    litellm:\n      models:\n        - {name: m, model: openai/gpt-4o-mini, apiBase: "javascript:alert(1)"}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:14:57: spec.apps.litellm.models[0].apiBase: the URL scheme "javascript" is not supported
  fix: use an http:// or https:// URL` },
  { name: 'empty image', spec: `${GOOD}  apps:\n    ollama: {image: ""}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:12:21: spec.apps.ollama.image: the image is empty
  fix: write an image reference such as "ollama/ollama:0.12.6" or "registry.example.com:5000/team/app:1.0"` },
  { name: 'image with a space', spec: `${GOOD}  apps:\n    litellm: {image: "ghcr.io/berriai/litellm main"}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:12:22: spec.apps.litellm.image: "ghcr.io/berriai/litellm main" is not an image reference ([registry/]name[:tag][@sha256:digest], lower-case name, no spaces)
  fix: write an image reference such as "ollama/ollama:0.12.6" or "registry.example.com:5000/team/app:1.0"` },
  { name: 'invalid git.branch', spec: GOOD.replace('spec:\n', 'spec:\n  git: {branch: "feature..x"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:17: spec.git.branch: "feature..x" is not a valid Git branch name: it cannot contain "..", "@{" or "//"
  fix: use a name such as "main" or "env/dev"` },
  { name: 'git.branch that starts with "-"', spec: GOOD.replace('spec:\n', 'spec:\n  git: {branch: "-f"}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:17: spec.git.branch: "-f" is not a valid Git branch name: it cannot start with "-"
  fix: use a name such as "main" or "env/dev"` },
  { name: 'git.path that leaves the repository', spec: GOOD.replace('spec:\n', 'spec:\n  git: {path: ../x}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:15: spec.git.path: "../x" leaves the repository or names it twice: "." and ".." are not allowed
  fix: write a folder inside the repository, such as "clusters/dev"` },
  { name: 'git.path inside .git', spec: GOOD.replace('spec:\n', 'spec:\n  git: {path: .git/hooks}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:15: spec.git.path: ".git/hooks" is inside Git's own folder .git
  fix: write a folder of the working tree, such as "clusters/dev"` },
  { name: 'ollama scale min above max', spec: `${GOOD}  apps:\n    ollama: {scale: {min: 5, max: 2}}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:12:27: spec.apps.ollama.scale.min: min 5 is greater than max 2
  fix: lower spec.apps.ollama.scale.min or raise max` },
  { name: 'duplicate node pool names', spec: GOOD.replace('capacity: {cpu: "2", memory: 4Gi}}\n', 'capacity: {cpu: "2", memory: 4Gi}}\n        - {name: md-0, replicas: 1}\n'), message: `bad.yaml: 1 problem in the spec
bad.yaml:11:18: spec.clusters[0].nodePools[1].name: duplicate node pool name "md-0"
  fix: give each node pool of the cluster its own name` },
  { name: 'plaintext master key', spec: `${GOOD}  apps:\n    litellm: {masterKey: sk-admin}\n`, message: `bad.yaml: 1 problem in the spec
bad.yaml:12:26: spec.apps.litellm.masterKey: a plaintext secret is refused here: it would be committed to Git
  fix: store it in a Kubernetes Secret (kubectl create secret generic NAME --from-literal=KEY=...) and write masterKey: {secretRef: {name: NAME, key: KEY}}` },
  {
    name: 'schema and cross-field problems together',
    spec: `${GOOD.replace('name: one', 'name: One')}    - {name: two, class: aws-llm, apps: [comfyui], network: {pods: ["10.0.0.0/8"], services: ["10.0.0.0/16"]}}\n`,
    message: `bad.yaml: 4 problems in the spec
bad.yaml:7:13: spec.clusters[0].name: "One" must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit
  fix: change spec.clusters[0].name to a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit
bad.yaml:11:26: spec.clusters[1].class: unknown ClusterClass "aws-llm"
  fix: use one of: "docker-llm", or add {name: aws-llm, provider: docker} to spec.clusterClasses
bad.yaml:11:42: spec.clusters[1].apps[0]: unknown app "comfyui"
  fix: use one of: "knative-operator", "knative-serving", "litellm", "llm-namespace", "local-path-storage", "metrics-server", "nvidia-device-plugin", "ollama", "openwebui"
bad.yaml:11:95: spec.clusters[1].network.services[0]: service block "10.0.0.0/16" overlaps pod block "10.0.0.0/8": a Service IP would also be a pod IP
  fix: choose blocks that do not overlap, e.g. pods ["192.168.0.0/16"] and services ["10.128.0.0/12"]`,
  },
];

/** The GOOD spec with a second cluster: a run that would write (so refusals are real refusals). */
export const CHANGED = `${GOOD}    - {name: two, class: docker-llm}\n`;
const OTHER = (c: CaseContext) => `${c.repo}/management/clusters/default/one/cluster.yaml`;
const owned = (files: string[]) => `${JSON.stringify({ stack: 'demo', files }, null, 2)}\n`;
const withGit = (url: string) => CHANGED.replace('spec:\n', `spec:\n  git: {url: "${url}"}\n`);

/** Hostile flags, environment and target repositories (generate only). */
export const TARGET_CASES: BadCase[] = [
  { name: '--spec is a folder', spec: GOOD, options: (c) => ({ spec: c.outside }), message: `<work>/outside: cannot read the spec (EISDIR)
  fix: <work>/outside is a folder: pass the spec file in it, e.g. --spec <work>/outside/llmstack.yaml` },
  { name: '--spec does not exist', spec: GOOD, options: (c) => ({ spec: `${c.work}/nope.yaml` }), message: `<work>/nope.yaml: cannot read the spec (ENOENT)
  fix: check the path, or run \`llmstack init\` to write a starter spec` },
  { name: '--out is a file', spec: CHANGED, options: (c) => ({ out: `${c.outside}/notes.txt` }), message: `--out <work>/outside/notes.txt is a file, not a folder
  fix: pass --out with an empty folder, a Git working copy, or a path that does not exist yet` },
  { name: "--out's parent is a file", spec: CHANGED, options: (c) => ({ out: `${c.outside}/notes.txt/repo` }), message: `--out <work>/outside/notes.txt/repo: <work>/outside/notes.txt is a file, not a folder
  fix: pass --out with a folder path, or move that file away` },
  { name: '--out is a folder that is not a repository', spec: CHANGED, options: (c) => ({ out: c.outside }), message: `<work>/outside exists, is not empty and is not a Git repository
  fix: pass --out with an empty folder or an existing Git working copy` },
  { name: '--out is a folder inside a repository', spec: CHANGED, options: (c) => ({ out: `${c.repo}/management` }), message: `<work>/repo/management is a folder inside the Git repository <work>/repo, not its top
  fix: pass --out <work>/repo and set spec.git.path to the folder llmstack should own` },
  { name: 'invalid git.branch on a fresh --out', spec: CHANGED.replace('spec:\n', 'spec:\n  git: {branch: "a b"}\n'), options: (c) => ({ out: `${c.work}/fresh` }), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:17: spec.git.branch: "a b" is not a valid Git branch name: it cannot contain spaces, control characters or any of ~ ^ : ? * [ \\
  fix: use a name such as "main" or "env/dev"` },
  { name: 'credential URL on a fresh --out', spec: withGit('https://x-token:abc@git.example.test/a.git'), options: (c) => ({ out: `${c.work}/fresh` }), message: `bad.yaml: 1 problem in the spec
bad.yaml:6:14: spec.git.url: the URL carries a password or token: a plaintext secret is refused (it would be stored in the repo and in Fleet objects)
  fix: remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName` },
  { name: 'repository on another branch', spec: CHANGED, setup: (c) => void c.git('checkout', '-q', '-b', 'other'), message: `<work>/repo is on branch "other", the spec says "main"
  fix: check out "main" there, or set spec.git.branch` },
  { name: '--remote with a token as user name', spec: CHANGED, options: (c) => ({ remote: 'https://glpat-abcdef@git.example.test/a.git' }), message: `--remote https://***@git.example.test/a.git: the URL carries a user name, which for HTTP is where a token hides: refused (it would be stored in the repo and in Fleet objects)
  fix: remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName` },
  { name: '--remote with a token in the query', spec: CHANGED, options: () => ({ remote: 'https://git.example.test/a.git?access_token=abc' }), message: `--remote https://git.example.test/a.git?***: a Git URL has no query string or fragment, and one can carry a token: refused
  fix: remove everything from the "?" or "#" on; credentials come from LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD` },
  { name: '--remote that starts with "-"', spec: CHANGED, options: () => ({ remote: '-oProxyCommand=touch /tmp/pwned' }), message: `--remote -oProxyCommand=touch /tmp/pwned: a Git URL cannot start with "-" (git would read it as an option)
  fix: write the URL itself, e.g. https://git.example.com/team/gitops.git` },
  { name: 'LLMSTACK_GIT_REMOTE with a password', spec: CHANGED, env: { LLMSTACK_GIT_REMOTE: 'http://bot:s3cret@git.example.test/a.git' }, message: `LLMSTACK_GIT_REMOTE http://***@git.example.test/a.git: the URL carries a password or token: a plaintext secret is refused (it would be stored in the repo and in Fleet objects)
  fix: remove the credentials from the URL; llmstack takes them from the LLMSTACK_GIT_USERNAME/LLMSTACK_GIT_PASSWORD environment or your git credential helper, and Fleet from spec.git.clientSecretName` },
  { name: 'LLMSTACK_GIT_PASSWORD with a line break', spec: (c) => withGit(`${c.gitUrl}/a.git`), env: { LLMSTACK_GIT_USERNAME: 'u', LLMSTACK_GIT_PASSWORD: 'token\n' }, message: `LLMSTACK_GIT_USERNAME or LLMSTACK_GIT_PASSWORD contains a line break
  fix: set them without a line break (a token read from a file often ends with one)` },
  {
    name: 'remote refuses the credentials on a fresh --out',
    spec: (c) => withGit(`${c.gitUrl}/refused.git`),
    env: { LLMSTACK_GIT_USERNAME: 'llmstack', LLMSTACK_GIT_PASSWORD: 'wrong-password' },
    options: (c) => ({ out: `${c.work}/fresh` }),
    exit: 3,
    message: `git: the remote <git>/refused.git refused the credentials
  fix: set LLMSTACK_GIT_USERNAME and LLMSTACK_GIT_PASSWORD (a token works as password) or configure a git credential helper`,
  },
  {
    name: 'remote refuses the credentials: origin is not left in .git/config',
    spec: (c) => withGit(`${c.gitUrl}/refused.git`),
    env: { LLMSTACK_GIT_USERNAME: 'llmstack', LLMSTACK_GIT_PASSWORD: 'wrong-password' },
    exit: 3,
    message: `git: the remote <git>/refused.git refused the credentials
  fix: set LLMSTACK_GIT_USERNAME and LLMSTACK_GIT_PASSWORD (a token works as password) or configure a git credential helper`,
  },
  {
    name: 'unreachable remote: the previous origin URL is put back',
    spec: withGit('http://127.0.0.1:9/moved.git'),
    setup: (c) => void c.git('remote', 'add', 'origin', 'https://git.example.test/old.git'),
    exit: 3,
    message: `git: cannot reach http://127.0.0.1:9/moved.git: fatal: unable to access 'http://127.0.0.1:9/moved.git/': Failed to connect to 127.0.0.1 port 9 after 0 ms: Couldn't connect to server
  fix: check spec.git.url and the network`,
  },
  { name: 'owned.json lists a file outside the repository', spec: CHANGED, setup: async (c) => writeOwned(c, owned(['../outside/secret.txt'])), message: `.llmstack/owned.json lists "../outside/secret.txt", which leaves the repository (or has an empty, "." or ".." part): llmstack never touches a file there
  fix: restore it from Git history (git -C <work>/repo checkout HEAD -- .llmstack/owned.json), or delete it and the files it listed` },
  { name: 'owned.json lists an absolute path', spec: CHANGED, setup: async (c) => writeOwned(c, owned([`${c.outside}/secret.txt`])), message: `.llmstack/owned.json lists "<work>/outside/secret.txt", which is not a relative path: llmstack never touches a file there
  fix: restore it from Git history (git -C <work>/repo checkout HEAD -- .llmstack/owned.json), or delete it and the files it listed` },
  { name: 'owned.json lists .git/config', spec: CHANGED, setup: async (c) => writeOwned(c, owned(['.git/config'])), message: `.llmstack/owned.json lists ".git/config", which is inside Git's own folder .git: llmstack never touches a file there
  fix: restore it from Git history (git -C <work>/repo checkout HEAD -- .llmstack/owned.json), or delete it and the files it listed` },
  { name: 'owned.json is not JSON', spec: CHANGED, setup: async (c) => writeOwned(c, '{"stack": "demo", files: }'), message: `.llmstack/owned.json in the repo is not valid JSON
  fix: restore it from Git history (git -C <work>/repo checkout HEAD -- .llmstack/owned.json), or delete it and the files it listed` },
  { name: 'owned.json has the wrong shape', spec: CHANGED, setup: async (c) => writeOwned(c, '{"stack": "demo", "files": "all"}\n'), message: `.llmstack/owned.json in the repo is not a list of owned files ({"stack": NAME, "files": [PATH, ...]})
  fix: restore it from Git history (git -C <work>/repo checkout HEAD -- .llmstack/owned.json), or delete it and the files it listed` },
  { name: 'owned.json of another stack', spec: CHANGED, setup: async (c) => writeOwned(c, owned([]).replace('"demo"', '"other"')), message: `.llmstack/owned.json belongs to stack "other", not "demo"
  fix: give each stack its own spec.git.path, or rename the stack back` },
  { name: 'uncommitted edit to an owned file', spec: CHANGED, setup: async (c) => appendFile(OTHER(c), '# my edit\n'), message: `uncommitted changes to files llmstack writes would be overwritten: management/clusters/default/one/cluster.yaml
  fix: commit them (git -C <work>/repo commit -a), or put them aside (git -C <work>/repo stash -u) or discard them (git -C <work>/repo checkout -- PATH), then run generate again` },
  {
    name: 'staged edit to an owned file',
    spec: CHANGED,
    setup: async (c) => {
      await appendFile(OTHER(c), '# my edit\n');
      c.git('add', 'management/clusters/default/one/cluster.yaml');
    },
    message: `uncommitted changes to files llmstack writes would be overwritten: management/clusters/default/one/cluster.yaml
  fix: commit them (git -C <work>/repo commit -a), or put them aside (git -C <work>/repo stash -u) or discard them (git -C <work>/repo checkout -- PATH), then run generate again`,
  },
  { name: 'uncommitted deletion of an owned file', spec: CHANGED, setup: async (c) => unlink(OTHER(c)), message: `uncommitted changes to files llmstack writes would be overwritten: management/clusters/default/one/cluster.yaml
  fix: commit them (git -C <work>/repo commit -a), or put them aside (git -C <work>/repo stash -u) or discard them (git -C <work>/repo checkout -- PATH), then run generate again` },
  { name: 'uncommitted edit to owned.json', spec: CHANGED, setup: async (c) => appendFile(`${c.repo}/.llmstack/owned.json`, '\n'), message: `uncommitted changes to files llmstack writes would be overwritten: .llmstack/owned.json
  fix: commit them (git -C <work>/repo commit -a), or put them aside (git -C <work>/repo stash -u) or discard them (git -C <work>/repo checkout -- PATH), then run generate again` },
  {
    name: 'uncommitted edit that the spec would write back unchanged',
    spec: GOOD.replace('kind: Stack', 'kind: Stack\n# only a comment changed'),
    setup: async (c) => appendFile(OTHER(c), '# my edit\n'),
    message: `uncommitted changes to files llmstack writes would be overwritten: management/clusters/default/one/cluster.yaml
  fix: commit them (git -C <work>/repo commit -a), or put them aside (git -C <work>/repo stash -u) or discard them (git -C <work>/repo checkout -- PATH), then run generate again`,
  },
  {
    name: 'a folder llmstack writes is a symbolic link out of the repository',
    spec: CHANGED,
    setup: async (c) => {
      await rm(`${c.repo}/management/clusters/default`, { recursive: true });
      await symlink(c.outside, `${c.repo}/management/clusters/default`);
      c.git('add', '-A');
      c.git('commit', '-q', '-m', 'link');
    },
    message: `management/clusters/default is a symbolic link: llmstack writes only regular files and folders inside the repository
  fix: replace it with a real folder or file (or remove it), or choose another spec.git.path`,
  },
  {
    name: 'an owned file is a symbolic link out of the repository',
    spec: CHANGED,
    setup: async (c) => {
      await rm(OTHER(c));
      await symlink(`${c.outside}/secret.txt`, OTHER(c));
      c.git('add', '-A');
      c.git('commit', '-q', '-m', 'link');
    },
    message: `management/clusters/default/one/cluster.yaml is a symbolic link: llmstack writes only regular files and folders inside the repository
  fix: replace it with a real folder or file (or remove it), or choose another spec.git.path`,
  },
  {
    name: 'a file llmstack would write exists and is not its own',
    spec: CHANGED,
    setup: async (c) => {
      await mkdir(`${c.repo}/management/clusters/default/two`, { recursive: true });
      await writeFile(`${c.repo}/management/clusters/default/two/cluster.yaml`, 'mine\n');
      c.git('add', '-A');
      c.git('commit', '-q', '-m', 'mine');
    },
    message: `these files exist in the repo but were not written by llmstack: management/clusters/default/two/cluster.yaml
  fix: move or delete them (llmstack never overwrites files it does not own), or choose another spec.git.path`,
  },
  {
    name: 'a folder where llmstack keeps a file',
    spec: CHANGED,
    setup: async (c) => {
      await mkdir(`${c.repo}/management/clusters/default/two/cluster.yaml`, { recursive: true });
      await writeFile(`${c.repo}/management/clusters/default/two/cluster.yaml/keep`, 'x\n');
      c.git('add', '-A');
      c.git('commit', '-q', '-m', 'mine');
    },
    message: `<work>/repo/management/clusters/default/two/cluster.yaml is a folder where llmstack keeps a file
  fix: move that folder away, or choose another spec.git.path`,
  },
];

async function writeOwned(c: CaseContext, text: string): Promise<void> {
  await writeFile(`${c.repo}/.llmstack/owned.json`, text);
  c.git('add', '-A');
  c.git('commit', '-q', '-m', 'edit owned list');
}
