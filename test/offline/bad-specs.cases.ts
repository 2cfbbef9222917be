// Bad specs and the exact message each must produce. A base spec is patched per case so each case
// shows only what is wrong with it.
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

export interface BadCase {
  name: string;
  spec: string;
  message: string;
}

const withClusterLine = (line: string) => GOOD.replace('      class: docker-llm\n', `      class: docker-llm\n${line}\n`);

export const BAD_CASES: BadCase[] = [
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
bad.yaml:4:3: metadata.name: required field is missing (expected string)
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
bad.yaml:10:43: spec.clusters[0].nodePools[0].autoscaling.min: min must not be greater than max
  fix: correct spec.clusters[0].nodePools[0].autoscaling.min`,
  },
  {
    name: 'replicas together with autoscaling',
    spec: GOOD.replace('{name: md-0,', '{name: md-0, replicas: 2,'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:34: spec.clusters[0].nodePools[0].replicas: replicas and autoscaling exclude each other: the autoscaler owns the size of an autoscaled pool
  fix: correct spec.clusters[0].nodePools[0].replicas`,
  },
  {
    name: 'scale from zero without capacity',
    spec: GOOD.replace('autoscaling: {min: 1, max: 3}, capacity: {cpu: "2", memory: 4Gi}', 'autoscaling: {min: 0, max: 3}'),
    message: `bad.yaml: 1 problem in the spec
bad.yaml:10:11: spec.clusters[0].nodePools[0].capacity: a pool that scales from zero needs capacity (cpu, memory and any gpu) so the autoscaler knows the node size
  fix: correct spec.clusters[0].nodePools[0].capacity`,
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
bad.yaml:9:32: spec.clusters[0].controlPlane.replicas: must be odd (1, 3, 5) for etcd quorum
  fix: correct spec.clusters[0].controlPlane.replicas`,
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
  fix: use one of: "knative-operator", "knative-serving", "litellm", "local-path-storage", "metrics-server", "ollama", "openwebui"`,
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
bad.yaml:10:51: spec.clusters[0].nodePools[0].autoscaling.max: expected number, got a string
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
bad.yaml:10:23: spec.clusters[0].ollamaEndpoint: cluster "one" exposes an Ollama endpoint but does not run Ollama
  fix: add ollama to this cluster's apps, or remove ollamaEndpoint
bad.yaml:9:13: spec.clusters[0].apps: cluster "one" runs litellm without ollama, and no cluster exposes its Ollama, so "qwen2.5:0.5b" would be routed nowhere
  fix: add ollama to this cluster's apps, or to another cluster's apps with ollamaEndpoint: {host: DNS-NAME, tlsSecret: TLS-SECRET}`,
  },
];
