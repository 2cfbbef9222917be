#!/usr/bin/env bash
# Builds the whole llmstack loop on your machine: a kind management cluster with Rancher (which
# brings Fleet and Turtles), Cluster API providers, an in-cluster Git server, the GitOps repo that
# `llmstack generate` renders from your spec, the Fleet GitRepos, the llmstack controller, and a
# wait until the workload cluster is imported into Rancher. Every step checks what is already
# there and skips it, so running it again is safe; --from resumes, --dry-run prints the plan.
# shellcheck source-path=SCRIPTDIR
set -Eeuo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ROOT=$LLMSTACK_ROOT
SELF="scripts/deploy-infra.sh"

# A failure names the step and how to resume (in a subshell the parent reports it).
die() {
  printf 'error: %s\n' "$*" >&2
  on_error 1 "${BASH_LINENO[0]}"
  exit 1
}

STEPS=(preflight cluster cert-manager ingress rancher capi-providers git-server gitops gitrepos controller import)

# Pinned versions, each overridable from the environment.
RANCHER_VERSION=${RANCHER_VERSION:-2.15.0}
RANCHER_VERSION=${RANCHER_VERSION#v}
RANCHER_CHART_REPO=${RANCHER_CHART_REPO:-https://releases.rancher.com/server-charts/latest}
CERT_MANAGER_VERSION=${CERT_MANAGER_VERSION:-v1.18.2}
TRAEFIK_CHART_VERSION=${TRAEFIK_CHART_VERSION:-37.1.1}
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-}
INGRESS_HTTP_PORT=${LLMSTACK_INGRESS_HTTP_PORT:-8880}
DOCKER_SOCKET=${LLMSTACK_DOCKER_SOCKET:-}
# The engine's socket as the kind node sees it: rootless Docker on Linux has its own (DOCKER_HOST);
# Docker Desktop maps /var/run/docker.sock into its VM whatever the Mac's DOCKER_HOST says.
if [[ -z $DOCKER_SOCKET ]]; then
  case ${DOCKER_HOST:-} in
    unix://*) [[ $(uname -s) == Darwin ]] || DOCKER_SOCKET=${DOCKER_HOST#unix://} ;;
  esac
  DOCKER_SOCKET=${DOCKER_SOCKET:-/var/run/docker.sock}
fi

# Minimum tool versions and resources (what the README promises).
MIN_DOCKER=24.0.0 MIN_KIND=0.20.0 MIN_KUBECTL=1.30.0 MIN_HELM=3.14.0 MIN_NODE=20.0.0 MIN_GIT=2.28.0 MIN_NGROK=3.16.0
MIN_MEMORY_GB=${LLMSTACK_MIN_MEMORY_GB:-12}
RECOMMENDED_MEMORY_GB=16
MIN_DISK_GB=${LLMSTACK_MIN_DISK_GB:-30}

# The in-cluster Git server: Fleet pulls from its Service, we push through a port-forward.
GIT_NAMESPACE=llmstack-system
GIT_USER=llmstack
GIT_REPO=llmstack/gitops.git

DRY_RUN=0 DESTROY=0 NO_WAIT=${LLMSTACK_NO_WAIT:-0} PUBLIC_URL=0 FROM=preflight SPEC=${LLMSTACK_SPEC:-}
LOG_FILE="" CURRENT_STEP="" STEP_RESULT="" RANCHER_PASSWORD_NEW=0 BG_PIDS=()

usage() {
  cat <<EOF
Usage: $SELF [--dry-run] [--from STEP] [--spec FILE] [--no-wait] [--public-url] [--destroy]

Creates a kind management cluster "$CLUSTER_NAME" with Rancher, Turtles' Cluster API providers, an
in-cluster Git server, the GitOps repo of your spec, Fleet GitRepos and the llmstack controller, and
waits until the workload cluster is imported into Rancher. Safe to run again: done steps are skipped.

Steps: ${STEPS[*]}

  --dry-run      print every command and manifest; change nothing (needs none of the tools)
  --from STEP    start at STEP (preflight always runs); resume after fixing a failed step
  --spec FILE    the llmstack spec (default: \$LLMSTACK_SPEC, else examples/quickstart.yaml)
  --no-wait      do not wait for what controllers do (rollouts, providers, the import)
  --public-url   expose Rancher through ngrok (needs NGROK_AUTHTOKEN and NGROK_DOMAIN)
  --destroy      delete the workload clusters, then the kind cluster, and the saved secrets
  -h, --help     this text

Environment (defaults in brackets):
  LLMSTACK_CLUSTER_NAME [llmstack]        kind cluster name
  LLMSTACK_STATE_DIR    [~/.local/state/llmstack/<cluster>]  kubeconfig, passwords, logs
  RANCHER_VERSION [$RANCHER_VERSION]  RANCHER_HOSTNAME [rancher.<kind node IP>.sslip.io]
  CERT_MANAGER_VERSION [$CERT_MANAGER_VERSION]  TRAEFIK_CHART_VERSION [$TRAEFIK_CHART_VERSION]  KIND_NODE_IMAGE [kind's default]
  LLMSTACK_GIT_URL      an external Git repo instead of the in-cluster server
                        (with LLMSTACK_GIT_USERNAME / LLMSTACK_GIT_PASSWORD)
  LLMSTACK_GIT_PUSH_URL where this machine pushes when it differs from what Fleet pulls
  LLMSTACK_WAIT_TIMEOUT seconds for every wait (default: per step); LLMSTACK_NO_WAIT=1 is --no-wait
  LLMSTACK_CONTROLLER_IMAGE [build]  build the controller image from this checkout, or "pull" it
  LLMSTACK_MIN_MEMORY_GB [$MIN_MEMORY_GB]  LLMSTACK_MIN_DISK_GB [$MIN_DISK_GB]  LLMSTACK_INGRESS_HTTP_PORT [$INGRESS_HTTP_PORT]
EOF
}

step_title() {
  case $1 in
    preflight) echo "tools, versions, memory, disk and ports" ;;
    cluster) echo "kind management cluster \"$CLUSTER_NAME\"" ;;
    cert-manager) echo "cert-manager $CERT_MANAGER_VERSION" ;;
    ingress) echo "Traefik ingress controller (chart $TRAEFIK_CHART_VERSION)" ;;
    rancher) echo "Rancher $RANCHER_VERSION (brings Fleet and Turtles)" ;;
    capi-providers) echo "Cluster API providers through Turtles: core, kubeadm bootstrap + control plane, Docker" ;;
    git-server) echo "in-cluster Git server" ;;
    gitops) echo "llmstack generate + push of $(display_path "$SPEC")" ;;
    gitrepos) echo "Fleet GitRepos" ;;
    controller) echo "llmstack CRDs and controller" ;;
    import) echo "wait for the workload cluster to be provisioned and imported into Rancher" ;;
  esac
}

step_why() {
  case $1 in
    preflight) echo "everything missing is named at once, with how to get it, before anything is created" ;;
    cluster) echo "the management cluster; the Docker socket is mounted so CAPD can create workload clusters as containers" ;;
    cert-manager) echo "Rancher's TLS certificate and the Cluster API providers' webhooks need it" ;;
    ingress) echo "serves Rancher on the kind node's port 443, where workload clusters' agents reach it" ;;
    rancher) echo "Turtles imports CAPI clusters into Rancher; Fleet deploys the GitOps repo" ;;
    capi-providers) echo "Cluster API turns the generated Cluster into Docker containers running Kubernetes" ;;
    git-server) echo "Fleet pulls the GitOps repo from inside the cluster: no external Git account needed" ;;
    gitops) echo "renders ClusterClass, Cluster and app bundles from the spec and pushes one commit" ;;
    gitrepos) echo "tell Fleet which folders of the repo go to the management cluster and which to workload clusters" ;;
    controller) echo "puts each cluster's bundle labels on its Rancher cluster (Turtles v0.27 copies none); reports import, bundles, autoscaler (llmstack status)" ;;
    import) echo "Fleet applies the Cluster, CAPD provisions it, Turtles imports it; then Fleet deploys the apps" ;;
  esac
}

# Default time limit of each step, in seconds; LLMSTACK_WAIT_TIMEOUT overrides them all.
step_limit() {
  local s
  case $1 in
    cluster) s=300 ;; cert-manager) s=600 ;; ingress) s=300 ;; rancher) s=900 ;;
    capi-providers) s=900 ;; git-server) s=300 ;; gitops) s=180 ;; gitrepos) s=300 ;;
    controller) s=300 ;; import) s=2400 ;; *) s=60 ;;
  esac
  echo "${LLMSTACK_WAIT_TIMEOUT:-$s}"
}

display_path() {
  case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) echo "$1" ;; esac
}

# ---------------------------------------------------------------- arguments, logging, errors

parse_args() {
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=1 ;;
      --destroy) DESTROY=1 ;;
      --no-wait) NO_WAIT=1 ;;
      --public-url) PUBLIC_URL=1 ;;
      --from | --spec)
        (($# >= 2)) || usage_error "$1 needs a value"
        if [[ $1 == --from ]]; then FROM=$2; else SPEC=$2; fi
        shift
        ;;
      --from=*) FROM=${1#--from=} ;;
      --spec=*) SPEC=${1#--spec=} ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown argument: $1" ;;
    esac
    shift
  done
  step_index "$FROM" >/dev/null || usage_error "--from: no step \"$FROM\"; the steps are: ${STEPS[*]}"
  SPEC=${SPEC:-$ROOT/examples/quickstart.yaml}
  [[ -f $SPEC ]] || usage_error "--spec: $SPEC does not exist"
  SPEC=$(cd "$(dirname "$SPEC")" && pwd)/$(basename "$SPEC")
}

usage_error() {
  printf 'error: %s\n\n' "$1" >&2
  usage >&2
  exit 2
}

step_index() {
  local i
  for i in "${!STEPS[@]}"; do
    if [[ ${STEPS[i]} == "$1" ]]; then
      echo $((i + 1))
      return 0
    fi
  done
  return 1
}

# The whole run goes to a log file as well; fd 3 stays the terminal for the one-time password.
setup_logging() {
  exec 3>&1
  [[ $DRY_RUN == 1 ]] && return 0
  mkdir -p "$STATE_DIR/logs"
  chmod 700 "$STATE_DIR"
  LOG_FILE="$STATE_DIR/logs/$1-$(date +%Y%m%d-%H%M%S).log"
  exec > >(tee -a "$LOG_FILE") 2>&1
  ln -sfn "logs/$(basename "$LOG_FILE")" "$STATE_DIR/$1.log"
}

on_error() {
  local rc=$1 line=$2
  ((BASH_SUBSHELL == 0)) || return 0
  trap - ERR
  say ""
  say "✗ step ${CURRENT_STEP:-?} failed (exit $rc, $SELF line $line)."
  [[ -n $LOG_FILE ]] && say "  The whole run is in $LOG_FILE"
  if [[ -n $CURRENT_STEP && $DESTROY == 0 ]]; then
    local again="$SELF --from $CURRENT_STEP"
    [[ $SPEC == "$ROOT/examples/quickstart.yaml" ]] || again+=" --spec $(printf '%q' "$SPEC")"
    [[ $NO_WAIT == 1 ]] && again+=" --no-wait"
    [[ $PUBLIC_URL == 1 ]] && again+=" --public-url"
    say "  Fix the cause above, then resume with: $again"
  fi
}

cleanup() {
  local pid
  for pid in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
}

# ---------------------------------------------------------------- helpers

# Runs a step: a progress line before and after, with its time limit and how long it took.
run_step() {
  local name=$1 idx total=${#STEPS[@]} start=$SECONDS runs=$RUN_COUNT
  idx=$(step_index "$name")
  CURRENT_STEP=$name STEP_RESULT=""
  say ""
  if [[ $name == preflight ]]; then
    say "[$idx/$total] $name: $(step_title "$name")"
  else
    say "[$idx/$total] $name: $(step_title "$name") (time limit $(fmt_duration "$(step_limit "$name")"))"
  fi
  info "why: $(step_why "$name")"
  "step_${name//-/_}"
  if [[ $DRY_RUN == 1 ]]; then
    say "[$idx/$total] $name: ${STEP_RESULT:-planned}"
  else
    if [[ -z $STEP_RESULT ]]; then
      if ((RUN_COUNT == runs)); then STEP_RESULT="already done, nothing to change"; else STEP_RESULT="done"; fi
    fi
    say "[$idx/$total] $name: $STEP_RESULT ($(fmt_duration $((SECONDS - start))))"
  fi
}

# wait_for DESCRIPTION LIMIT COMMAND...: polls COMMAND every 5 s until it succeeds, printing what it
# waits for every 30 s; fails after LIMIT seconds. COMMAND's output (one line) is shown as progress.
wait_for() {
  local what=$1 limit=$2 start=$SECONDS last=-30 out
  shift 2
  while :; do
    if out=$("$@" 2>&1); then
      info "ready: $what ($(fmt_duration $((SECONDS - start))))"
      return 0
    fi
    if ((SECONDS - start >= limit)); then
      warn "gave up waiting for $what after $(fmt_duration "$limit")${out:+: $out}"
      return 1
    fi
    if ((SECONDS - last >= 30)); then
      last=$SECONDS
      info "waiting for $what${out:+: ${out//$'\n'/ }} ($(fmt_duration $((SECONDS - start))) of $(fmt_duration "$limit"))"
    fi
    sleep 5
  done
}

# Waits only in a normal run; --no-wait (and the test suite, which has no controllers) skips it.
wait_controller() {
  if [[ $NO_WAIT == 1 ]]; then
    info "not waiting (--no-wait): $1"
    return 0
  fi
  wait_for "$@"
}

# The kind cluster must exist for every step after "cluster" (e.g. with --from).
kube_ready() {
  [[ -n ${KUBECONFIG_READY:-} ]] && return 0
  if [[ $DRY_RUN == 1 ]]; then
    export KUBECONFIG="$STATE_DIR/kubeconfig"
  else
    kind_cluster_exists || die "the kind cluster \"$CLUSTER_NAME\" does not exist yet: run $SELF (or --from cluster)"
    use_kind_kubeconfig
  fi
  KUBECONFIG_READY=1
}

crd_established() {
  [[ $(kubectl get crd "$1" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null) == True ]] || {
    echo "CRD $1 not there yet"
    return 1
  }
}

namespace_exists() {
  kubectl get namespace "$1" -o name >/dev/null 2>&1 || {
    echo "namespace $1 not there yet"
    return 1
  }
}

# apply_manifests ARGS...: `kubectl apply --server-side` of -f/-k ARGS, skipped when a server-side
# diff finds nothing to change. Changed objects are named on screen, the full diff goes to the log.
# One field manager per step: two steps that both declare an object (the namespace llmstack-system)
# then own their own fields instead of undoing each other's.
apply_manifests() {
  local diff rc=0 changed FIELD_MANAGER="llmstack-deploy-$CURRENT_STEP"
  if [[ $DRY_RUN == 1 ]]; then
    run kubectl apply --server-side --field-manager="$FIELD_MANAGER" "$@"
    return 0
  fi
  diff=$(kubectl diff --server-side --field-manager="$FIELD_MANAGER" "$@" 2>&1) || rc=$?
  if ((rc == 0)); then
    info "unchanged: $(display_path "${!#}")"
    return 0
  fi
  if ((rc == 1)); then
    changed=$(printf '%s\n' "$diff" | sed -n 's|^diff -u -N [^ ]*/\([^ /]*\) .*|\1|p' | sort -u | tr '\n' ' ')
    info "to create or change: ${changed:-see the log}"
    [[ -n $LOG_FILE ]] && printf '%s\n' "$diff" >>"$LOG_FILE"
  fi
  # rc > 1: the diff itself failed (e.g. objects in a namespace the same apply creates): apply anyway.
  run kubectl apply --server-side --field-manager="$FIELD_MANAGER" "$@"
}

# helm_release NAME NAMESPACE CHART REPO VERSION VALUES [helm args...]: installs or upgrades a chart,
# skipped when the release is deployed with the same chart version and values. The values' checksum
# is kept in the release's description (`helm status` shows it).
helm_release() {
  local name=$1 ns=$2 chart=$3 repo=$4 version=$5 values=$6 sum desc current
  shift 6
  sum=$({
    cat "$values"
    printf '%s\n' "$@"
  } | cksum | cut -d' ' -f1)
  desc="llmstack: $chart $version values $sum"
  if [[ $DRY_RUN == 1 ]]; then
    show_file "$values" "$(display_path "$values")"
  else
    current=$(helm status "$name" --namespace "$ns" -o json 2>/dev/null | json_get info.status info.description || true)
    if [[ $current == "deployed $desc" ]]; then
      info "unchanged: Helm release $ns/$name ($chart $version, same values)"
      return 0
    fi
  fi
  local wait=()
  [[ $NO_WAIT == 1 ]] || wait=(--wait --timeout "$(step_limit "$CURRENT_STEP")s")
  run helm upgrade --install "$name" "$chart" --repo "$repo" --version "$version" \
    --namespace "$ns" --create-namespace --values "$values" "$@" --description "$desc" ${wait[@]+"${wait[@]}"}
}

# json_get PATH...: prints the values at dotted PATHs of the JSON on stdin, space separated.
json_get() {
  node -e '
    let s = "";
    process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let o;
      try { o = JSON.parse(s); } catch { return; }
      const get = (p) => p.split(".").reduce((v, k) => (v == null ? undefined : v[k]), o);
      console.log(process.argv.slice(1).map((p) => get(p) ?? "").join(" "));
    });' "$@"
}

llmstack_cli() {
  node "$ROOT/bin/llmstack.js" "$@"
}

# ---------------------------------------------------------------- step: preflight

PROBLEMS=()
problem() { PROBLEMS+=("$1"); }

install_hint() {
  case $1 in
    docker) echo "install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then check that \`docker info\` works without sudo" ;;
    kind) echo "install kind $MIN_KIND+ (https://kind.sigs.k8s.io/docs/user/quick-start/#installation; brew install kind; go install sigs.k8s.io/kind@latest)" ;;
    kubectl) echo "install kubectl $MIN_KUBECTL+ (https://kubernetes.io/docs/tasks/tools/; brew install kubectl)" ;;
    helm) echo "install Helm $MIN_HELM+ (https://helm.sh/docs/intro/install/; brew install helm)" ;;
    node) echo "install Node.js $MIN_NODE+ (https://nodejs.org/; brew install node), then run npm ci in the repository" ;;
    git) echo "install git $MIN_GIT+ (apt-get install git; brew install git)" ;;
    diff) echo "install diffutils (apt-get install diffutils), which kubectl diff uses" ;;
    ngrok) echo "install ngrok $MIN_NGROK+ (https://ngrok.com/download), only needed for --public-url" ;;
  esac
}

tool_version() {
  case $1 in
    docker) docker version --format '{{.Client.Version}}' ;;
    kind) kind version ;;
    kubectl) kubectl version --client ;;
    helm) helm version --short ;;
    node) node --version ;;
    git) git --version ;;
    ngrok) ngrok version ;;
  esac 2>/dev/null | extract_version || true
}

check_tool() {
  local tool=$1 min=$2 version
  if ! command -v "$tool" >/dev/null 2>&1; then
    problem "$tool: not found. To get it: $(install_hint "$tool")"
    return 1
  fi
  version=$(tool_version "$tool")
  if [[ -z $version ]]; then
    problem "$tool: found at $(command -v "$tool") but \`$tool\` does not tell its version. To fix: $(install_hint "$tool")"
    return 1
  fi
  if ! version_ge "$version" "$min"; then
    problem "$tool: version $version is too old, $min or newer is needed. To fix: $(install_hint "$tool")"
    return 1
  fi
  info "ok: $tool $version"
}

check_docker_engine() {
  local server mem_bytes mem_gb root free_kb free_gb
  if ! server=$(docker version --format '{{.Server.Version}}' 2>/dev/null) || [[ -z $server ]]; then
    problem "docker: the Docker engine does not answer (\`docker info\` fails). Start Docker Desktop or \`sudo systemctl start docker\`; on Linux, to use it without sudo: sudo usermod -aG docker \$USER, then log in again"
    return 1
  fi
  info "ok: Docker engine $server"
  mem_bytes=$(docker info --format '{{.MemTotal}}' 2>/dev/null || echo 0)
  mem_gb=$((mem_bytes / 1073741824))
  if ((mem_gb < MIN_MEMORY_GB)); then
    problem "memory: Docker can use ${mem_gb} GiB, at least ${MIN_MEMORY_GB} GiB are needed (${RECOMMENDED_MEMORY_GB} GiB recommended): Rancher takes about 4 GiB, the workload cluster with Ollama, LiteLLM and Open WebUI about 6 GiB. Docker Desktop: Settings > Resources > Memory"
  elif ((mem_gb < RECOMMENDED_MEMORY_GB)); then
    warn "memory: Docker can use ${mem_gb} GiB; ${RECOMMENDED_MEMORY_GB} GiB are recommended (pods may stay Pending when the autoscaler adds nodes)"
  else
    info "ok: memory ${mem_gb} GiB for Docker"
  fi
  root=$(docker info --format '{{.DockerRootDir}}' 2>/dev/null || true)
  if [[ -n $root && -d $root ]] && free_kb=$(df -Pk "$root" 2>/dev/null | awk 'NR == 2 { print $4 }') && [[ -n $free_kb ]]; then
    free_gb=$((free_kb / 1048576))
    if ((free_gb < MIN_DISK_GB)); then
      problem "disk: ${free_gb} GB free for Docker at $root, at least ${MIN_DISK_GB} GB are needed (node images, Rancher, and the Ollama, LiteLLM and Open WebUI images on every workload node). Free space with \`docker system prune\`"
    else
      info "ok: disk ${free_gb} GB free at $root"
    fi
  else
    warn "disk: cannot see Docker's disk from here (${root:-unknown}; Docker Desktop keeps it in a VM): make sure it has ${MIN_DISK_GB} GB free"
  fi
}

check_inotify() {
  local watches instances
  [[ -r /proc/sys/fs/inotify/max_user_watches ]] || return 0
  watches=$(cat /proc/sys/fs/inotify/max_user_watches)
  instances=$(cat /proc/sys/fs/inotify/max_user_instances)
  if ((watches < 524288 || instances < 512)); then
    warn "inotify limits are low (max_user_watches=$watches, max_user_instances=$instances): nodes of nested clusters fail with \"too many open files\". Raise them: sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512"
  fi
}

step_preflight() {
  local have_docker=0 have_kind=0 out
  PROBLEMS=()
  check_tool docker "$MIN_DOCKER" && have_docker=1
  check_tool kind "$MIN_KIND" && have_kind=1
  check_tool kubectl "$MIN_KUBECTL" || true
  check_tool helm "$MIN_HELM" || true
  check_tool git "$MIN_GIT" || true
  if check_tool node "$MIN_NODE"; then
    if [[ ! -d $ROOT/node_modules/tsx ]]; then
      problem "node modules: the llmstack CLI's dependencies are not installed. To fix: (cd $(printf '%q' "$ROOT") && npm ci)"
    elif (($(step_index "$FROM") > $(step_index gitops))); then
      : # only the gitops step reads the spec
    elif out=$(llmstack_cli validate --spec "$SPEC" 2>&1); then
      info "ok: spec $(display_path "$SPEC")"
    else
      problem "spec: $(display_path "$SPEC") is not valid:"$'\n'"$out"
    fi
  fi
  if command -v diff >/dev/null 2>&1; then info "ok: diff"; else problem "diff: not found. To get it: $(install_hint diff)"; fi
  if [[ $PUBLIC_URL == 1 ]]; then
    check_tool ngrok "$MIN_NGROK" || true
    [[ -n ${NGROK_AUTHTOKEN:-} ]] || problem "--public-url: set NGROK_AUTHTOKEN (https://dashboard.ngrok.com/get-started/your-authtoken)"
    [[ -n ${NGROK_DOMAIN:-} ]] || problem "--public-url: set NGROK_DOMAIN to your ngrok domain (https://dashboard.ngrok.com/domains), e.g. example.ngrok-free.app"
  fi
  if ((have_docker)); then check_docker_engine || true; fi
  check_inotify
  if ((have_docker && have_kind)) && ! kind_cluster_exists && port_in_use "$INGRESS_HTTP_PORT"; then
    problem "port 127.0.0.1:$INGRESS_HTTP_PORT is in use; the kind node maps its port 80 there. Free it or set LLMSTACK_INGRESS_HTTP_PORT"
  fi
  if ((${#PROBLEMS[@]} == 0)); then
    STEP_RESULT="all checks passed"
    return 0
  fi
  say ""
  if [[ $DRY_RUN == 1 ]]; then
    say "    A real run would stop here, because of:"
  else
    say "    Cannot start, because of:"
  fi
  local p
  for p in "${PROBLEMS[@]}"; do say "    - ${p//$'\n'/$'\n'      }"; done
  if [[ $DRY_RUN == 1 ]]; then
    STEP_RESULT="${#PROBLEMS[@]} problem(s) to fix before a real run"
    return 0
  fi
  say ""
  say "Nothing was changed. Fix the above and run $SELF again."
  exit 3
}

# ---------------------------------------------------------------- step: cluster

render_kind_config() {
  sed -e "s|hostPath: /var/run/docker.sock|hostPath: $DOCKER_SOCKET|" \
    -e "s|hostPort: 8880|hostPort: $INGRESS_HTTP_PORT|" "$ROOT/manifests/kind/cluster.yaml"
}

step_cluster() {
  local config="$STATE_DIR/kind-cluster.yaml"
  if [[ $DRY_RUN == 1 ]]; then
    render_kind_config >"${TMPDIR:-/tmp}/llmstack-kind-$$.yaml"
    show_file "${TMPDIR:-/tmp}/llmstack-kind-$$.yaml" "$config (from manifests/kind/cluster.yaml)"
    rm -f "${TMPDIR:-/tmp}/llmstack-kind-$$.yaml"
  elif kind_cluster_exists; then
    use_kind_kubeconfig
    KUBECONFIG_READY=1
    STEP_RESULT="already exists (kind get clusters)"
    return 0
  else
    mkdir -p "$STATE_DIR"
    render_kind_config >"$config"
  fi
  run kind create cluster --name "$CLUSTER_NAME" --config "$config" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} \
    --wait "$(step_limit cluster)s"
  use_kind_kubeconfig
  KUBECONFIG_READY=1
  [[ $DRY_RUN == 1 ]] || info "kubeconfig: $KUBECONFIG (kind also added the context kind-$CLUSTER_NAME to your kubeconfig)"
}

# ---------------------------------------------------------------- steps: cert-manager, ingress

step_cert_manager() {
  kube_ready
  helm_release cert-manager cert-manager cert-manager https://charts.jetstack.io "$CERT_MANAGER_VERSION" \
    "$ROOT/manifests/kind/helm-values/cert-manager.yaml"
}

step_ingress() {
  kube_ready
  helm_release traefik traefik traefik https://traefik.github.io/charts "$TRAEFIK_CHART_VERSION" \
    "$ROOT/manifests/kind/helm-values/traefik.yaml"
}

# ---------------------------------------------------------------- step: rancher

kind_node_ip() {
  docker inspect --format '{{with index .NetworkSettings.Networks "kind"}}{{.IPAddress}}{{end}}' "$CLUSTER_NAME-control-plane"
}

rancher_hostname() {
  if [[ -n ${RANCHER_HOSTNAME:-} ]]; then
    echo "$RANCHER_HOSTNAME"
  elif [[ $PUBLIC_URL == 1 ]]; then
    echo "${NGROK_DOMAIN:-<NGROK_DOMAIN>}"
  elif [[ $DRY_RUN == 1 ]]; then
    echo "rancher.<kind node IP>.sslip.io"
  else
    local ip saved
    ip=$(kind_node_ip || true)
    [[ -n $ip ]] || die "cannot find the IP of the kind node $CLUSTER_NAME-control-plane on the Docker network \"kind\""
    # Rancher keeps the URL it was installed with: a later run keeps it too.
    saved=$(cat "$STATE_DIR/rancher-hostname" 2>/dev/null || true)
    if [[ $saved == rancher.*.sslip.io ]]; then
      [[ $saved == "rancher.$ip.sslip.io" ]] ||
        warn "the kind node's IP changed (now $ip) since Rancher was installed as $saved: workload clusters' agents cannot reach it there any more (see the README's troubleshooting)"
      echo "$saved"
      return 0
    fi
    # sslip.io answers <anything>.<IP>.sslip.io with <IP>: a name for the node's IP, no account needed.
    echo "rancher.$ip.sslip.io"
  fi
}

# The bootstrap password: generated once, kept in the state directory, shown once at the end.
ensure_rancher_password() {
  local file="$STATE_DIR/rancher-bootstrap-password" existing
  [[ $DRY_RUN == 1 || -s $file ]] && return 0
  # A Rancher installed by an earlier run whose state was lost keeps its bootstrap secret.
  if existing=$(kubectl -n cattle-system get secret bootstrap-secret -o go-template='{{.data.bootstrapPassword | base64decode}}' 2>/dev/null) && [[ -n $existing ]]; then
    printf '%s' "$existing" | write_private "$file"
    return 0
  fi
  random_secret | write_private "$file"
  RANCHER_PASSWORD_NEW=1
}

ngrok_running() {
  local pid
  pid=$(cat "$STATE_DIR/ngrok.pid" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
    ps -p "$pid" -o command= 2>/dev/null | grep -q ngrok
}

start_ngrok() {
  if [[ $DRY_RUN == 0 ]] && ngrok_running; then
    info "ngrok already forwards https://$NGROK_DOMAIN (pid $(cat "$STATE_DIR/ngrok.pid"))"
    return 0
  fi
  # ngrok terminates TLS with a public certificate and forwards plain HTTP to Traefik on the host.
  printf '    $ %s >/dev/null 2>&1 &\n' "$(quote_cmd nohup ngrok http "127.0.0.1:$INGRESS_HTTP_PORT" --url "https://$NGROK_DOMAIN" --log "$STATE_DIR/ngrok.log")"
  [[ $DRY_RUN == 1 ]] && return 0
  RUN_COUNT=$((RUN_COUNT + 1))
  # Its own output goes nowhere and it keeps none of our descriptors (fd 3 is the terminal's copy),
  # so whoever reads this script's output is not kept waiting for ngrok.
  nohup ngrok http "127.0.0.1:$INGRESS_HTTP_PORT" --url "https://$NGROK_DOMAIN" --log "$STATE_DIR/ngrok.log" </dev/null >/dev/null 2>&1 3>&- &
  echo $! >"$STATE_DIR/ngrok.pid"
  info "ngrok started (pid $!, log $STATE_DIR/ngrok.log); $SELF --destroy stops it"
}

step_rancher() {
  kube_ready
  local host extra=()
  host=$(rancher_hostname)
  ensure_rancher_password
  info "Rancher URL: https://$host"
  if [[ $PUBLIC_URL == 1 ]]; then
    start_ngrok
    # TLS ends at ngrok's public certificate, so agents trust the system's CAs, not Rancher's own.
    extra=(--set tls=external --set agentTLSMode=system-store)
  fi
  helm_release rancher cattle-system rancher "$RANCHER_CHART_REPO" "$RANCHER_VERSION" \
    "$ROOT/manifests/kind/helm-values/rancher.yaml" --set "hostname=$host" \
    --set-file "bootstrapPassword=$STATE_DIR/rancher-bootstrap-password" ${extra[@]+"${extra[@]}"}
  [[ $DRY_RUN == 1 ]] && {
    info "then wait for Rancher's Fleet and Turtles: CRDs gitrepos.fleet.cattle.io, capiproviders.turtles-capi.cattle.io, namespaces fleet-local, fleet-default"
    return 0
  }
  printf '%s\n' "$host" >"$STATE_DIR/rancher-hostname"
  # Rancher installs Fleet and Turtles itself once it runs: the next steps need their CRDs.
  local limit
  limit=$(step_limit rancher)
  wait_for "Fleet (CRD gitrepos.fleet.cattle.io)" "$limit" crd_established gitrepos.fleet.cattle.io
  wait_for "Turtles (CRD capiproviders.turtles-capi.cattle.io)" "$limit" crd_established capiproviders.turtles-capi.cattle.io
  wait_for "Fleet's namespace fleet-local" "$limit" namespace_exists fleet-local
  wait_for "Fleet's namespace fleet-default" "$limit" namespace_exists fleet-default
}

# ---------------------------------------------------------------- step: capi-providers

# "type name namespace/object managed-by" per existing CAPIProvider.
existing_providers() {
  kubectl get capiproviders.turtles-capi.cattle.io -A \
    -o jsonpath='{range .items[*]}{.spec.type}{" "}{.spec.name}{" "}{.metadata.namespace}/{.metadata.name}{" "}{.metadata.labels.app\.kubernetes\.io/managed-by}{"\n"}{end}'
}

# spec.FIELD of the CAPIProvider in FILE.
provider_field() {
  awk -v k="$2:" '/^spec:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $1 == k { print $2; exit }' "$1"
}

# namespace/name of the CAPIProvider in FILE.
provider_ref() {
  awk '/^kind: CAPIProvider/ { p = 1 } p && $1 == "name:" && !n { n = $2 } p && $1 == "namespace:" && !ns { ns = $2 }
    END { print ns "/" n }' "$1"
}

# The file with spec.version set to VERSION (when known), under the state directory.
render_provider() {
  local file=$1 version=$2 out
  out="$STATE_DIR/capi/$(basename "$file")"
  mkdir -p "$STATE_DIR/capi"
  awk -v v="$version" '{ print } /^spec:$/ && v != "" { print "  version: " v }' "$file" >"$out"
  echo "$out"
}

provider_phase() {
  local phase
  phase=$(kubectl get capiproviders.turtles-capi.cattle.io -n "${1%/*}" "${1#*/}" -o jsonpath='{.status.phase}' 2>/dev/null || true)
  [[ $phase == Ready ]] || {
    echo "phase ${phase:-unknown}"
    return 1
  }
}

step_capi_providers() {
  kube_ready
  local limit file type name owner existing version="" core_checked=0 applied=() kept=() f
  limit=$(step_limit capi-providers)
  if [[ $DRY_RUN == 0 ]]; then
    wait_for "CRD capiproviders.turtles-capi.cattle.io" "$limit" crd_established capiproviders.turtles-capi.cattle.io
  fi
  for f in core bootstrap-kubeadm control-plane-kubeadm infrastructure-docker; do
    file="$ROOT/manifests/capi/$f.yaml"
    type=$(provider_field "$file" type)
    name=$(provider_field "$file" name)
    if [[ $DRY_RUN == 1 ]]; then
      show_file "$file" "manifests/capi/$f.yaml"
      apply_manifests -f "$file"
      continue
    fi
    existing=$(existing_providers | awk -v t="$type" -v n="$name" '$1 == t && $2 == n')
    owner=$(printf '%s\n' "$existing" | awk 'NF { print $4; exit }')
    if [[ -n $existing && $owner != llmstack ]]; then
      # Rancher's Turtles installs some providers itself; those stay as Rancher made them.
      kept+=("$(printf '%s\n' "$existing" | awk '{ print $3; exit }')")
      info "kept: $type provider \"$name\" ($(printf '%s\n' "$existing" | awk '{ print $3; exit }')), installed by Rancher Turtles"
      continue
    fi
    if [[ $type == core ]]; then
      apply_manifests -f "$file"
      applied+=("$(provider_ref "$file")")
      continue
    fi
    if ((!core_checked)); then
      core_checked=1
      # Providers from the same Cluster API release as the core one; Turtles decides the core's.
      local core
      core=$(existing_providers | awk '$1 == "core" { print $3; exit }')
      if [[ -n $core ]]; then
        wait_controller "core provider $core Ready" "$limit" provider_phase "$core" || die "the core Cluster API provider $core is not Ready: kubectl -n ${core%/*} describe capiprovider ${core#*/}"
        version=$(kubectl get capiproviders.turtles-capi.cattle.io -n "${core%/*}" "${core#*/}" \
          -o jsonpath='{.status.installedVersion}{" "}{.spec.version}' 2>/dev/null | awk '{ print $1 }')
      fi
      [[ -n $version ]] && info "Cluster API version of the core provider: $version (used for the others)"
    fi
    apply_manifests -f "$(render_provider "$file" "$version")"
    applied+=("$(provider_ref "$file")")
  done
  [[ $DRY_RUN == 1 ]] && return 0
  local p
  for p in ${applied[@]+"${applied[@]}"} ${kept[@]+"${kept[@]}"}; do
    wait_controller "provider $p Ready" "$limit" provider_phase "$p" || die "Cluster API provider $p is not Ready: kubectl -n ${p%/*} describe capiprovider ${p#*/}; Turtles' log: kubectl -n cattle-turtles-system logs deploy/rancher-turtles-controller-manager"
  done
}

# ---------------------------------------------------------------- step: git-server

# The repo Fleet pulls: LLMSTACK_GIT_URL, else the spec's own spec.git.url, else the in-cluster server.
# Sets GIT_MODE (external | in-cluster) and GIT_FLEET_URL.
resolve_git() {
  [[ -n ${GIT_MODE:-} ]] && return 0
  local from_spec=""
  if [[ -n ${LLMSTACK_GIT_URL:-} ]]; then
    GIT_MODE=external GIT_FLEET_URL=$LLMSTACK_GIT_URL
    return 0
  fi
  from_spec=$(spec_get spec.git.url "$SPEC" 2>/dev/null || true)
  if [[ -n $from_spec ]]; then
    GIT_MODE=external GIT_FLEET_URL=$from_spec
  else
    GIT_MODE=in-cluster GIT_FLEET_URL="http://git-server.$GIT_NAMESPACE.svc.cluster.local/$GIT_REPO"
  fi
}

# spec_get PATH FILE: a value from a YAML file (the spec), empty when absent.
spec_get() {
  node -e '
    const fs = require("fs");
    const { parse } = require(process.argv[1]);
    const v = process.argv[2].split(".").reduce((o, k) => (o == null ? undefined : o[k]), parse(fs.readFileSync(process.argv[3], "utf8")));
    console.log(v ?? "");
  ' "$ROOT/node_modules/yaml" "$1" "$2"
}

# The Secret with the Git server's admin login: kept when it exists, else made from
# LLMSTACK_GIT_PASSWORD or a generated password (files in the state directory, never argv).
ensure_git_secret() {
  local pw_file="$STATE_DIR/git-password" key_file="$STATE_DIR/git-secret-key"
  if [[ $DRY_RUN == 0 ]]; then
    if kubectl -n "$GIT_NAMESPACE" get secret git-server-admin -o name >/dev/null 2>&1; then
      info "unchanged: Secret $GIT_NAMESPACE/git-server-admin (the Git server's admin login)"
      return 0
    fi
    mkdir -p "$STATE_DIR"
    [[ -s $pw_file ]] || printf '%s' "${LLMSTACK_GIT_PASSWORD:-$(random_secret)}" | write_private "$pw_file"
    [[ -s $key_file ]] || random_secret | write_private "$key_file"
  fi
  run kubectl -n "$GIT_NAMESPACE" create secret generic git-server-admin --from-literal=username="$GIT_USER" \
    --from-file=password="$pw_file" --from-file=secret-key="$key_file"
}

step_git_server() {
  resolve_git
  if [[ $GIT_MODE == external ]]; then
    STEP_RESULT="not needed: Fleet pulls $GIT_FLEET_URL"
    return 0
  fi
  kube_ready
  if [[ $DRY_RUN == 1 ]]; then
    local f
    for f in "$ROOT"/manifests/git-server/*.yaml; do show_file "$f" "$(display_path "$f")"; done
    run kubectl create namespace "$GIT_NAMESPACE"
  elif ! kubectl get namespace "$GIT_NAMESPACE" -o name >/dev/null 2>&1; then
    # The Secret goes in before the Deployment, so the pod never starts without it.
    run kubectl create namespace "$GIT_NAMESPACE"
  fi
  ensure_git_secret
  apply_manifests -k "$ROOT/manifests/git-server"
  [[ $DRY_RUN == 1 ]] && return 0
  wait_controller "Git server rollout" "$(step_limit git-server)" \
    kubectl -n "$GIT_NAMESPACE" rollout status deployment/git-server --timeout=5s
}

# ---------------------------------------------------------------- step: gitops

# Copies the spec into the state directory with spec.git.url set to where Fleet pulls from, and
# spec.git.clientSecretName for an external repo with credentials; prints "name path branch secret".
write_effective_spec() {
  node -e '
    const fs = require("fs");
    const { parseDocument } = require(process.argv[1]);
    const [, , src, dst, url, secret] = process.argv;
    const doc = parseDocument(fs.readFileSync(src, "utf8"));
    doc.setIn(["spec", "git", "url"], url);
    if (secret && !doc.getIn(["spec", "git", "clientSecretName"])) doc.setIn(["spec", "git", "clientSecretName"], secret);
    fs.writeFileSync(dst, String(doc), { mode: 0o600 });
    const get = (...p) => String(doc.getIn(p) ?? "");
    console.log([get("metadata", "name"), get("spec", "git", "path") || "-", get("spec", "git", "branch") || "main", get("spec", "git", "clientSecretName") || "-"].join(" "));
  ' "$ROOT/node_modules/yaml" "$SPEC" "$STATE_DIR/spec.yaml" "$1" "$2"
}

# git with credentials from GIT_PUSH_USERNAME/PASSWORD, handed over by a helper so they never
# show in a process list.
git_with_auth() {
  # shellcheck disable=SC2016 # expanded by git's shell, not here
  GIT_AUTH_USERNAME=$GIT_PUSH_USERNAME GIT_AUTH_PASSWORD=$GIT_PUSH_PASSWORD GIT_TERMINAL_PROMPT=0 \
    git -c credential.helper= -c 'credential.helper=!f() { test "$1" = get && printf "username=%s\npassword=%s\n" "$GIT_AUTH_USERNAME" "$GIT_AUTH_PASSWORD"; }; f' "$@"
}

# kubectl port-forward to the Git server on a free local port; sets GIT_FORWARD_PORT.
forward_git_server() {
  local out="$STATE_DIR/git-port-forward.out" i pid
  : >"$out"
  kubectl -n "$GIT_NAMESPACE" port-forward svc/git-server :80 --address 127.0.0.1 </dev/null >"$out" 2>&1 3>&- &
  pid=$!
  BG_PIDS+=("$pid")
  for i in $(seq 1 60); do
    GIT_FORWARD_PORT=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$out" | head -n 1)
    [[ -n $GIT_FORWARD_PORT ]] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  die "kubectl port-forward to the Git server did not start: $(cat "$out")"
}

# Gitea creates a repo on its first push: push one empty commit when the repo is not there yet.
ensure_remote_repo() {
  local url=$1 branch=$2 tmp
  if git_with_auth ls-remote "$url" >/dev/null 2>&1; then return 0; fi
  info "creating $GIT_REPO on the Git server (its first push)"
  tmp=$(mktemp -d)
  git -C "$tmp" init -q --initial-branch "$branch"
  git -C "$tmp" -c user.name=llmstack -c user.email=llmstack@users.noreply.localhost commit -q --allow-empty \
    -m "Start the GitOps repository (scripts/deploy-infra.sh)"
  git_with_auth -C "$tmp" push -q "$url" "HEAD:refs/heads/$branch"
  RUN_COUNT=$((RUN_COUNT + 1))
  rm -rf "$tmp"
}

step_gitops() {
  local push_url facts stack gitpath branch secret="" wc="$STATE_DIR/gitops" out rc=0
  resolve_git
  GIT_PUSH_USERNAME=${LLMSTACK_GIT_USERNAME:-} GIT_PUSH_PASSWORD=${LLMSTACK_GIT_PASSWORD:-}
  push_url=${LLMSTACK_GIT_PUSH_URL:-}
  if [[ $GIT_MODE == external ]]; then
    push_url=${push_url:-$GIT_FLEET_URL}
    [[ -n $GIT_PUSH_USERNAME ]] && secret=llmstack-gitops-auth
  else
    GIT_PUSH_USERNAME=$GIT_USER
  fi
  info "spec $(display_path "$SPEC") → $STATE_DIR/spec.yaml with spec.git.url: $GIT_FLEET_URL (what Fleet pulls)"
  if [[ $DRY_RUN == 1 ]]; then
    if [[ $GIT_MODE == in-cluster && -z $push_url ]]; then
      run kubectl -n "$GIT_NAMESPACE" port-forward svc/git-server :80 --address 127.0.0.1
      push_url="http://127.0.0.1:<forwarded port>/$GIT_REPO"
    fi
    run env LLMSTACK_GIT_USERNAME="$GIT_PUSH_USERNAME" LLMSTACK_GIT_PASSWORD='<password>' \
      node bin/llmstack.js generate --spec "$STATE_DIR/spec.yaml" --out "$wc" --remote "$push_url"
    return 0
  fi
  mkdir -p "$STATE_DIR"
  facts=$(write_effective_spec "$GIT_FLEET_URL" "$secret")
  read -r stack gitpath branch secret <<<"$facts"
  [[ $gitpath == - ]] && gitpath=""
  [[ $secret == - ]] && secret=""
  printf '%s\n' "$stack" >"$STATE_DIR/stack"
  printf '%s\n' "$gitpath" >"$STATE_DIR/git-path"
  printf '%s\n' "$secret" >"$STATE_DIR/git-client-secret"
  if [[ $GIT_MODE == in-cluster ]]; then
    kube_ready
    GIT_PUSH_PASSWORD=$(kubectl -n "$GIT_NAMESPACE" get secret git-server-admin -o go-template='{{.data.password | base64decode}}') ||
      die "cannot read the Git server's password (Secret $GIT_NAMESPACE/git-server-admin): run $SELF --from git-server"
    if [[ -z $push_url ]]; then
      forward_git_server
      push_url="http://127.0.0.1:$GIT_FORWARD_PORT/$GIT_REPO"
      info "pushing through kubectl port-forward: $push_url"
    fi
    ensure_remote_repo "$push_url" "$branch"
  fi
  # The working copy keeps the URL it was cloned from; a port-forward's port changes per run.
  if [[ -d $wc/.git ]]; then git -C "$wc" remote set-url origin "$push_url"; fi
  printf '    $ %s\n' "$(quote_cmd node bin/llmstack.js generate --spec "$STATE_DIR/spec.yaml" --out "$wc" --remote "$push_url")"
  out=$(LLMSTACK_GIT_USERNAME=$GIT_PUSH_USERNAME LLMSTACK_GIT_PASSWORD=$GIT_PUSH_PASSWORD \
    node "$ROOT/bin/llmstack.js" generate --spec "$STATE_DIR/spec.yaml" --out "$wc" --remote "$push_url" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/    /'
  ((rc == 0)) || die "llmstack generate failed (exit $rc)"
  case $out in
    *": no changes"*) STEP_RESULT="already pushed: the repo matches the spec" ;;
    *) STEP_RESULT="pushed" ;;
  esac
  cleanup
  BG_PIDS=()
  workload_clusters >"$STATE_DIR/clusters"
  info "stack \"$stack\", workload clusters: $(tr '\n' ' ' <"$STATE_DIR/clusters")"
}

# ---------------------------------------------------------------- step: gitrepos

gitrepos_file() {
  local gitpath
  gitpath=$(cat "$STATE_DIR/git-path" 2>/dev/null || true)
  echo "$STATE_DIR/gitops${gitpath:+/$gitpath}/bootstrap/gitrepos.yaml"
}

step_gitrepos() {
  kube_ready
  local file ns limit secret
  file=$(gitrepos_file)
  if [[ $DRY_RUN == 1 ]]; then
    info "the GitRepos are part of the generated repo (llmstack generate writes them from spec.git.url)"
    apply_manifests -f "$file"
    return 0
  fi
  [[ -f $file ]] || die "$file is missing: run $SELF --from gitops"
  limit=$(step_limit gitrepos)
  secret=$(cat "$STATE_DIR/git-client-secret" 2>/dev/null || true)
  while IFS= read -r ns; do
    wait_for "namespace $ns" "$limit" namespace_exists "$ns"
    # Fleet reads a GitRepo's clientSecretName from the GitRepo's namespace.
    if [[ -n $secret && -n ${LLMSTACK_GIT_USERNAME:-} ]] && ! kubectl -n "$ns" get secret "$secret" -o name >/dev/null 2>&1; then
      printf '    $ %s\n' "kubectl -n $ns create secret generic $secret --type kubernetes.io/basic-auth --from-env-file=/dev/stdin <<< username=…, password=…"
      printf 'username=%s\npassword=%s\n' "$LLMSTACK_GIT_USERNAME" "${LLMSTACK_GIT_PASSWORD:-}" |
        kubectl -n "$ns" create secret generic "$secret" --type kubernetes.io/basic-auth --from-env-file=/dev/stdin
      RUN_COUNT=$((RUN_COUNT + 1))
    fi
  done < <(sed -n 's/^  namespace: //p' "$file" | sort -u)
  ensure_app_secrets
  apply_manifests -f "$file"
}

# The Secrets the apps read live beside the app bundles and reach the workload clusters through
# Fleet (docs/adr/0010-secrets-reach-clusters-through-fleet.md): llmstack makes its own keys (the
# LiteLLM master key) once; Secrets you provide (hosted models' API keys) are named if missing.
ensure_app_secrets() {
  printf '    $ %s\n' "$(quote_cmd node bin/llmstack.js secrets --spec "$STATE_DIR/spec.yaml")"
  [[ $DRY_RUN == 1 ]] && return 0
  local out rc=0
  out=$(llmstack_cli secrets --spec "$STATE_DIR/spec.yaml" --kubeconfig "$KUBECONFIG" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/    /'
  [[ $out == *" created "* ]] && RUN_COUNT=$((RUN_COUNT + 1))
  case $rc in
    0) ;;
    4) warn "some Secrets the apps need are missing (above): create them; Fleet deploys those apps once they exist" ;;
    *) die "llmstack secrets failed (exit $rc)" ;;
  esac
}

# ---------------------------------------------------------------- step: controller

# kubectl arguments for manifests/controller: -k when its kustomization builds, else its YAML files.
controller_target() {
  local dir=$1 f
  CONTROLLER_TARGET=()
  if [[ -f $dir/kustomization.yaml ]]; then
    if [[ $DRY_RUN == 1 ]] || kubectl kustomize "$dir" >/dev/null 2>&1; then
      CONTROLLER_TARGET=(-k "$dir")
      return 0
    fi
    warn "kubectl kustomize $(display_path "$dir") fails ($(kubectl kustomize "$dir" 2>&1 | head -n 1)); applying its YAML files one by one"
  fi
  for f in "$dir"/*.yaml "$dir"/*.yml; do
    [[ -f $f && $(basename "$f") != kustomization.yaml ]] && CONTROLLER_TARGET+=(-f "$f")
  done
  return 0
}

# The controller image is built from this checkout (so it matches the CLI you run) and loaded into
# the kind node; LLMSTACK_CONTROLLER_IMAGE=pull leaves it to the registry instead.
load_controller_image() {
  local dir=$1 image
  [[ ${LLMSTACK_CONTROLLER_IMAGE:-build} == build && -f $dir/Containerfile ]] || return 0
  image=$(sed -n 's/^ *image: *//p' "$dir"/*.yaml | head -n 1)
  [[ -n $image ]] || return 0
  printf '    $ %s\n' "$(quote_cmd docker build -f "$(display_path "$dir/Containerfile")" -t "$image" .)"
  printf '    $ %s\n' "$(quote_cmd kind load docker-image "$image" --name "$CLUSTER_NAME")"
  [[ $DRY_RUN == 1 ]] && return 0
  # Docker's layer cache makes a rebuild of an unchanged checkout quick and yields the same image ID;
  # kind skips loading an image ID the node already has.
  local before after loaded
  before=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  docker build -f "$dir/Containerfile" -t "$image" "$ROOT" ||
    die "building the controller image failed (above); LLMSTACK_CONTROLLER_IMAGE=pull uses the published $image instead"
  after=$(docker image inspect --format '{{.Id}}' "$image")
  loaded=$(docker exec "$CLUSTER_NAME-control-plane" crictl inspecti --output go-template --template '{{.status.id}}' "$image" 2>/dev/null || true)
  if [[ $after == "$loaded" ]]; then
    info "unchanged: image $image ($after) is built and on the kind node"
    return 0
  fi
  [[ $after == "$before" ]] || info "built $image ($after)"
  kind load docker-image "$image" --name "$CLUSTER_NAME"
  RUN_COUNT=$((RUN_COUNT + 1))
}

step_controller() {
  kube_ready
  local dir="$ROOT/manifests/controller" deployments d f
  if [[ $DRY_RUN == 1 ]]; then
    for f in "$ROOT"/manifests/crds/*.yaml; do show_file "$f" "$(display_path "$f")"; done
  fi
  apply_manifests --force-conflicts -f "$ROOT/manifests/crds/"
  if [[ ! -d $dir ]]; then
    STEP_RESULT="CRDs only: manifests/controller/ does not exist in this checkout"
    return 0
  fi
  if [[ $DRY_RUN == 1 ]]; then
    for f in "$dir"/*.yaml; do show_file "$f" "$(display_path "$f")"; done
  fi
  load_controller_image "$dir"
  controller_target "$dir"
  apply_manifests "${CONTROLLER_TARGET[@]}"
  [[ $DRY_RUN == 1 ]] && return 0
  deployments=$(kubectl get "${CONTROLLER_TARGET[@]}" -o jsonpath='{range .items[?(@.kind=="Deployment")]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null || true)
  for d in $deployments; do
    wait_controller "rollout of ${d#*/}" "$(step_limit controller)" \
      kubectl -n "${d%/*}" rollout status "deployment/${d#*/}" --timeout=5s
  done
}

# ---------------------------------------------------------------- step: import

# One line for a workload cluster: succeeds once Turtles imported it and Rancher reports it Ready.
import_state() {
  local ns=${1%/*} name=${1#*/} phase imported
  phase=$(kubectl get clusters.cluster.x-k8s.io -n "$ns" "$name" -o jsonpath='{.status.phase}' 2>/dev/null) || {
    echo "CAPI Cluster $1 not created yet (Fleet applies it from Git: kubectl get gitrepos -n fleet-local)"
    return 1
  }
  imported=$(kubectl get clusters.management.cattle.io -A \
    -l "cluster-api.cattle.io/capi-cluster-owner=$name,cluster-api.cattle.io/capi-cluster-owner-ns=$ns" \
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null || true)
  if printf '%s\n' "$imported" | grep -q ' True$'; then
    echo "imported into Rancher as $(printf '%s\n' "$imported" | awk '$2 == "True" { print $1; exit }')"
    return 0
  fi
  if [[ -n $imported ]]; then
    echo "CAPI phase ${phase:-Pending}; in Rancher as ${imported%% *}, agent not connected yet"
  else
    echo "CAPI phase ${phase:-Pending}; not imported yet"
  fi
  return 1
}

step_import() {
  kube_ready
  local clusters c limit state
  if [[ $DRY_RUN == 1 ]]; then
    info "for each Cluster in the repo: poll clusters.cluster.x-k8s.io (phase) and clusters.management.cattle.io labelled cluster-api.cattle.io/capi-cluster-owner=<name> (Ready)"
    return 0
  fi
  clusters=$(cat "$STATE_DIR/clusters" 2>/dev/null || workload_clusters)
  [[ -n $clusters ]] || die "no workload clusters known: run $SELF --from gitops"
  if [[ $NO_WAIT == 1 ]]; then
    STEP_RESULT="not waited for (--no-wait): watch with kubectl get clusters.cluster.x-k8s.io -A"
    return 0
  fi
  limit=$(step_limit import)
  for c in $clusters; do
    if ! wait_for "workload cluster $c imported into Rancher" "$limit" import_state "$c"; then
      say "    The cluster is not imported yet. What to look at:"
      say "      kubectl get clusters.cluster.x-k8s.io,machines -A          # provisioning (CAPD)"
      say "      kubectl get gitrepos -A; kubectl get bundles -n fleet-local  # did Fleet apply the Cluster?"
      say "      kubectl -n cattle-turtles-system logs deploy/rancher-turtles-controller-manager  # the import"
      say "    The README's troubleshooting section covers the usual causes (memory, import stuck)."
      return 1
    fi
    state=$(import_state "$c" 2>/dev/null || true)
    info "$c: $state"
  done
}

# ---------------------------------------------------------------- summary

summary() {
  local host pwfile="$STATE_DIR/rancher-bootstrap-password"
  say ""
  if [[ $DRY_RUN == 1 ]]; then
    say "Dry run: nothing was changed. Without --dry-run these steps run in this order; each one skips what is already there."
    return 0
  fi
  host=$(cat "$STATE_DIR/rancher-hostname" 2>/dev/null || echo "<not installed>")
  say "Done."
  say "  Rancher:  https://$host   (user admin)"
  if [[ $RANCHER_PASSWORD_NEW == 1 ]]; then
    say "  password: shown on your terminal only, once; also in $pwfile"
    printf '  Rancher bootstrap password (shown once; Rancher asks for a new one at the first login): %s\n' "$(cat "$pwfile")" >&3
  elif [[ -s $pwfile ]]; then
    say "  password: the bootstrap password in $pwfile (unless you changed it at the first login)"
  fi
  say "            Docker Desktop (macOS, Windows) cannot reach the node's IP: run scripts/portforward.sh and open https://localhost:8443"
  say "  Apps:     scripts/portforward.sh → Open WebUI http://localhost:8080, LiteLLM http://localhost:4000, Ollama http://localhost:11434"
  say "  Log:      $LOG_FILE"
  say ""
  say "llmstack status:"
  local out rc=0
  out=$(llmstack_cli status --kubeconfig "$KUBECONFIG" 2>&1) || rc=$?
  if [[ $out == *"unknown command"* ]]; then
    # A CLI without the status command: the same facts from kubectl.
    kubectl get clusters.cluster.x-k8s.io,llmclusters.llmstack.dev -A 2>/dev/null || true
  else
    printf '%s\n' "$out"
    # Exit 4: not every cluster is Ready yet, which is expected right after a --no-wait run.
    ((rc == 0 || rc == 4)) || warn "llmstack status exited $rc"
  fi
}

# ---------------------------------------------------------------- destroy

stop_background() {
  local f pid
  for f in "$STATE_DIR"/*.pid; do
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    # Only a process this script started (its pid file) that still runs the same program.
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && ps -p "$pid" -o command= 2>/dev/null | grep -qE 'ngrok|kubectl'; then
      run kill "$pid"
    fi
    [[ $DRY_RUN == 1 ]] || rm -f "$f"
  done
}

clusters_gone() {
  local left
  left=$(kubectl get clusters.cluster.x-k8s.io -A -l "$1" -o name 2>/dev/null || true)
  [[ -z $left ]] || {
    echo "still there: $(echo "$left" | tr '\n' ' ')"
    return 1
  }
}

destroy_main() {
  local selector stack clusters c ids
  setup_logging destroy
  trap 'on_error $? $LINENO' ERR
  CURRENT_STEP=destroy
  say "Destroying the llmstack kind cluster \"$CLUSTER_NAME\" and what this script saved in $STATE_DIR."
  stack=$(cat "$STATE_DIR/stack" 2>/dev/null || true)
  if [[ -n $stack ]]; then selector="llmstack.dev/stack=$stack"; else selector="app.kubernetes.io/managed-by=llmstack"; fi
  clusters=$(cat "$STATE_DIR/clusters" 2>/dev/null || true)
  say ""
  say "[1/4] background processes (ngrok, port-forwards) started by this script"
  stop_background
  say ""
  say "[2/4] workload clusters first, so CAPD removes their containers"
  if [[ $DRY_RUN == 1 ]] || { command -v kind >/dev/null 2>&1 && kind_cluster_exists; }; then
    kube_ready
    # Without its GitRepos Fleet stops re-applying the Clusters it would otherwise bring back.
    run kubectl delete gitrepos.fleet.cattle.io -A -l "$selector" --ignore-not-found --wait=false ||
      warn "could not delete the GitRepos; going on with the kind cluster"
    run kubectl delete clusters.cluster.x-k8s.io -A -l "$selector" --ignore-not-found --wait=false ||
      warn "could not delete the workload clusters; their containers are removed below"
    if [[ $DRY_RUN == 0 ]]; then
      wait_controller "CAPI Clusters ($selector) deleted" "${LLMSTACK_WAIT_TIMEOUT:-600}" clusters_gone "$selector" ||
        warn "the workload clusters did not go away in time; their containers are removed below"
    fi
    say ""
    say "[3/4] the kind management cluster"
    run kind delete cluster --name "$CLUSTER_NAME"
  else
    info "the kind cluster \"$CLUSTER_NAME\" does not exist: nothing to delete there"
    say ""
    say "[3/4] the kind management cluster: not there"
  fi
  say ""
  say "[4/4] leftovers: workload cluster containers and saved secrets"
  if [[ -n $clusters ]] && command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then
    for c in $clusters; do
      # CAPD labels every container of a workload cluster with its name.
      ids=$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=${c#*/}" 2>/dev/null || true)
      # shellcheck disable=SC2086 # one id per word
      [[ -z $ids ]] || run docker rm -f $ids
    done
  fi
  if [[ $DRY_RUN == 1 ]]; then
    info "would remove leftover containers of each workload cluster: docker ps -aq --filter label=io.x-k8s.kind.cluster=<name>, then docker rm -f"
    info "would remove from $STATE_DIR: kubeconfig, passwords, spec.yaml, gitops/, capi/ (logs stay)"
  else
    rm -rf "$STATE_DIR/kubeconfig" "$STATE_DIR/rancher-bootstrap-password" "$STATE_DIR/rancher-hostname" \
      "$STATE_DIR/git-password" "$STATE_DIR/git-secret-key" "$STATE_DIR/git-port-forward.out" \
      "$STATE_DIR/spec.yaml" "$STATE_DIR/stack" "$STATE_DIR/git-path" "$STATE_DIR/git-client-secret" "$STATE_DIR/clusters" \
      "$STATE_DIR/kind-cluster.yaml" "$STATE_DIR/gitops" "$STATE_DIR/capi"
    info "removed the saved kubeconfig, passwords and GitOps working copy; logs stay in $STATE_DIR/logs"
  fi
  say ""
  if [[ $DRY_RUN == 1 ]]; then say "Dry run: nothing was deleted."; else say "Destroyed.${LOG_FILE:+ Log: $LOG_FILE}"; fi
}

# ---------------------------------------------------------------- main

main() {
  parse_args "$@"
  trap cleanup EXIT
  if [[ $DESTROY == 1 ]]; then
    destroy_main
    return 0
  fi
  setup_logging deploy
  trap 'on_error $? $LINENO' ERR
  say "llmstack on kind: cluster \"$CLUSTER_NAME\", spec $(display_path "$SPEC"), state in $STATE_DIR"
  [[ -n $LOG_FILE ]] && say "log: $LOG_FILE"
  [[ $DRY_RUN == 1 ]] && say "dry run: every command and manifest is printed, nothing is changed"
  local step from_idx i
  from_idx=$(step_index "$FROM")
  for step in "${STEPS[@]}"; do
    i=$(step_index "$step")
    if [[ $step != preflight ]] && ((i < from_idx)); then
      say ""
      say "[$i/${#STEPS[@]}] $step: skipped (--from $FROM)"
      continue
    fi
    run_step "$step"
  done
  CURRENT_STEP=""
  summary
}

main "$@"
