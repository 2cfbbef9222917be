#!/usr/bin/env bash
# Opens Open WebUI, LiteLLM and Ollama (on the workload cluster) and Rancher (on the kind management
# cluster) on localhost ports and keeps the forwards up until Ctrl-C. Anything not ready yet is named
# with what it is waiting for and how to look, instead of a bare kubectl error.
# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

PORT_OPENWEBUI=${LLMSTACK_PORT_OPENWEBUI:-8080}
PORT_LITELLM=${LLMSTACK_PORT_LITELLM:-4000}
PORT_OLLAMA=${LLMSTACK_PORT_OLLAMA:-11434}
PORT_RANCHER=${LLMSTACK_PORT_RANCHER:-8443}
CHECK_ONLY=0 CLUSTER=""
CHILDREN=() READY=() NOT_READY=()

usage() {
  cat <<EOF
Usage: scripts/portforward.sh [--cluster NAMESPACE/NAME] [--check]

Forwards, on 127.0.0.1 until Ctrl-C:
  Open WebUI  http://localhost:$PORT_OPENWEBUI   (LLMSTACK_PORT_OPENWEBUI)
  LiteLLM     http://localhost:$PORT_LITELLM   (LLMSTACK_PORT_LITELLM)
  Ollama      http://localhost:$PORT_OLLAMA  (LLMSTACK_PORT_OLLAMA)
  Rancher     https://localhost:$PORT_RANCHER  (LLMSTACK_PORT_RANCHER)

  --cluster NS/NAME  the workload cluster (default: the first one deploy-infra.sh generated)
  --check            only report what is ready; exit 0 when everything is, 1 otherwise
EOF
}

while (($#)); do
  case $1 in
    --cluster)
      CLUSTER=${2:?--cluster needs NAMESPACE/NAME}
      shift
      ;;
    --cluster=*) CLUSTER=${1#--cluster=} ;;
    --check) CHECK_ONLY=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      printf 'error: unknown argument: %s\n\n' "$1" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done

ready() { READY+=("$1"); }
not_ready() {
  NOT_READY+=("$1")
  printf '  - %s\n' "$1"
}

# Ready endpoints of a Service (EndpointSlices, so no deprecation warning on new clusters).
service_has_endpoints() {
  local kcfg=$1 ns=$2 svc=$3
  [[ -n $(kubectl --kubeconfig "$kcfg" -n "$ns" get endpointslices -l "kubernetes.io/service-name=$svc" \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{" "}{end}' 2>/dev/null) ]]
}

# "label|kubeconfig|namespace|resource|remote port|local port|url" per forward to start.
add_service() {
  local label=$1 kcfg=$2 ns=$3 svc=$4 remote=$5 local_port=$6 url=$7 hint=$8
  if ! kubectl --kubeconfig "$kcfg" -n "$ns" get service "$svc" -o name >/dev/null 2>&1; then
    not_ready "$label: not deployed yet (no Service $ns/$svc). $hint"
  elif ! service_has_endpoints "$kcfg" "$ns" "$svc"; then
    not_ready "$label: deployed, but no pod is ready yet behind $ns/$svc (pulling images or starting). Look: kubectl --kubeconfig $kcfg -n $ns get pods"
  else
    ready "$label|$kcfg|$ns|service/$svc|$remote|$local_port|$url"
  fi
}

# ---- the management cluster and Rancher
command -v kubectl >/dev/null 2>&1 || die "kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)"
MGMT="$STATE_DIR/kubeconfig"
if [[ ! -s $MGMT ]]; then
  if command -v kind >/dev/null 2>&1 && kind_cluster_exists; then
    use_kind_kubeconfig
  else
    die "no kind cluster \"$CLUSTER_NAME\" (nothing in $STATE_DIR): run scripts/deploy-infra.sh first"
  fi
fi
if ! kubectl --kubeconfig "$MGMT" get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  die "the management cluster does not answer ($(kubectl --kubeconfig "$MGMT" config view --minify -o jsonpath='{.clusters[0].cluster.server}')): is Docker running? \`kind get clusters\` lists it when it exists"
fi

say "What is ready:"
add_service "Rancher" "$MGMT" cattle-system rancher 443 "$PORT_RANCHER" "https://localhost:$PORT_RANCHER" \
  "scripts/deploy-infra.sh installs it (step rancher)."

# ---- the workload cluster
CLUSTER=${CLUSTER:-$(head -n 1 "$STATE_DIR/clusters" 2>/dev/null || true)}
CLUSTER=${CLUSTER:-default/llm-workload}
ns=${CLUSTER%/*} name=${CLUSTER#*/}
workload_ready=0
if ! phase=$(kubectl --kubeconfig "$MGMT" -n "$ns" get clusters.cluster.x-k8s.io "$name" -o jsonpath='{.status.phase}' 2>/dev/null); then
  not_ready "workload cluster $CLUSTER: not created yet. Fleet applies it from the GitOps repo once scripts/deploy-infra.sh has run; look: kubectl --kubeconfig $MGMT get gitrepos -A"
elif [[ $phase != Provisioned ]]; then
  not_ready "workload cluster $CLUSTER: still being provisioned (phase ${phase:-Pending}); a first cluster takes 5 to 10 minutes. Look: kubectl --kubeconfig $MGMT -n $ns get machines"
elif ! kubectl --kubeconfig "$MGMT" -n "$ns" get secret "$name-kubeconfig" -o go-template='{{.data.value | base64decode}}' 2>/dev/null |
  write_private "$STATE_DIR/$name.kubeconfig"; then
  not_ready "workload cluster $CLUSTER: its kubeconfig (Secret $ns/$name-kubeconfig) is not there yet"
else
  WORKLOAD="$STATE_DIR/$name.kubeconfig"
  # CAPD publishes the cluster's API server on a host port of its load balancer container; the
  # container's own IP is not reachable from the host on Docker Desktop.
  if command -v docker >/dev/null 2>&1 && hostport=$(docker port "$name-lb" 6443/tcp 2>/dev/null | head -n 1) && [[ -n $hostport ]]; then
    kubectl --kubeconfig "$WORKLOAD" config set-cluster "$(kubectl --kubeconfig "$WORKLOAD" config view -o jsonpath='{.clusters[0].name}')" \
      --server "https://127.0.0.1:${hostport##*:}" >/dev/null
  fi
  if kubectl --kubeconfig "$WORKLOAD" get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
    workload_ready=1
  else
    not_ready "workload cluster $CLUSTER: its API server does not answer from this machine ($(kubectl --kubeconfig "$WORKLOAD" config view -o jsonpath='{.clusters[0].cluster.server}'))"
  fi
fi
if ((workload_ready)); then
  bundles="Fleet deploys it; look: kubectl --kubeconfig $MGMT -n fleet-default get bundles"
  add_service "Open WebUI" "$WORKLOAD" "$APPS_NAMESPACE" open-webui 80 "$PORT_OPENWEBUI" "http://localhost:$PORT_OPENWEBUI" "$bundles"
  add_service "LiteLLM" "$WORKLOAD" "$APPS_NAMESPACE" litellm 4000 "$PORT_LITELLM" "http://localhost:$PORT_LITELLM" "$bundles"
  # Ollama is a Knative Service: forward to one of its ready pods.
  pod=$(kubectl --kubeconfig "$WORKLOAD" -n "$APPS_NAMESPACE" get pods -l serving.knative.dev/service=ollama \
    -o jsonpath='{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\n"}{end}' 2>/dev/null | head -n 1 || true)
  if [[ -n $pod ]]; then
    ready "Ollama|$WORKLOAD|$APPS_NAMESPACE|pod/$pod|11434|$PORT_OLLAMA|http://localhost:$PORT_OLLAMA"
  else
    not_ready "Ollama: no running pod yet (Knative starts it, then it pulls the model; or it scaled to zero: a request through LiteLLM wakes it). Look: kubectl --kubeconfig $WORKLOAD -n $APPS_NAMESPACE get ksvc,pods"
  fi
else
  not_ready "Open WebUI, LiteLLM, Ollama: they run on the workload cluster, which is not ready (above)"
fi

for r in ${READY[@]+"${READY[@]}"}; do
  IFS='|' read -r label _ _ _ _ _ url <<<"$r"
  printf '  + %s: %s\n' "$label" "$url"
done
if ((CHECK_ONLY)); then
  ((${#NOT_READY[@]} == 0))
  exit
fi
((${#READY[@]} > 0)) || die "nothing to forward yet; run this again when the above is ready"

# ---- forward until Ctrl-C; a forward whose pod restarts is started again.
forward_loop() {
  local kcfg=$1 ns=$2 target=$3 remote=$4 local_port=$5 log=$6 child=""
  trap 'kill $child 2>/dev/null; exit 0' TERM INT
  while :; do
    kubectl --kubeconfig "$kcfg" -n "$ns" port-forward "$target" "$local_port:$remote" --address 127.0.0.1 >>"$log" 2>&1 &
    child=$!
    wait "$child" || true
    sleep 2
  done
}

stop() {
  local pid
  for pid in ${CHILDREN[@]+"${CHILDREN[@]}"}; do kill "$pid" 2>/dev/null || true; done
}
trap stop EXIT
trap 'exit 0' INT TERM

say ""
say "Forwarding (Ctrl-C stops; kubectl's messages go to $STATE_DIR/portforward.log):"
for r in "${READY[@]}"; do
  IFS='|' read -r label kcfg fns target remote local_port url <<<"$r"
  if port_in_use "$local_port"; then
    warn "$label: port $local_port is already in use on this machine; skipped (set LLMSTACK_PORT_* to another port)"
    continue
  fi
  forward_loop "$kcfg" "$fns" "$target" "$remote" "$local_port" "$STATE_DIR/portforward.log" &
  CHILDREN+=("$!")
  printf '  %-11s %s\n' "$label" "$url"
done
((${#CHILDREN[@]} > 0)) || die "every port is in use"
[[ " ${READY[*]} " == *"Rancher|"* ]] && say "  Rancher's certificate is signed by its own CA: your browser asks you to accept it."
wait
