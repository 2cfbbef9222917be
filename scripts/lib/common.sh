# shellcheck shell=bash disable=SC2034 # sourced: the scripts that source it use these variables
# Shared by scripts/deploy-infra.sh and scripts/portforward.sh (sourced, not run).
# Written for bash 3.2 too (macOS): no associative arrays, no mapfile, guarded empty arrays.

LLMSTACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_NAME=${LLMSTACK_CLUSTER_NAME:-llmstack}
# Everything a run keeps (kubeconfig, generated passwords, the GitOps working copy, logs) lives here,
# outside the repository, readable only by you.
STATE_DIR=${LLMSTACK_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/llmstack/$CLUSTER_NAME}
APPS_NAMESPACE=llm
DRY_RUN=${DRY_RUN:-0}
RUN_COUNT=0

say() { printf '%s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '    ! %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# A command as it would be typed, for the log and for --dry-run.
quote_cmd() {
  local out="" a
  for a in "$@"; do
    case $a in
      *[!A-Za-z0-9_./:=@%+,-]* | '') out+=" $(printf '%q' "$a")" ;;
      *) out+=" $a" ;;
    esac
  done
  printf '%s' "${out# }"
}

# Prints the command, then runs it; with --dry-run only prints it. RUN_COUNT tells a step whether
# it changed anything.
run() {
  printf '    $ %s\n' "$(quote_cmd "$@")"
  [[ $DRY_RUN == 1 ]] && return 0
  RUN_COUNT=$((RUN_COUNT + 1))
  "$@"
}

# Prints a file the run applies or hands to a tool, indented, under a header.
show_file() {
  local file=$1 label=${2:-$1}
  printf '    --- %s\n' "$label"
  sed 's/^/    | /' "$file"
}

# First x.y.z in the input (tools print versions in many shapes: v1.2.3, 1.2.3+g1, "version 1.2.3").
extract_version() {
  grep -Eo '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n 1
}

# version_ge HAVE WANT: numeric comparison of dotted versions, missing parts count as 0.
version_ge() {
  local IFS=.
  # shellcheck disable=SC2206 # splitting on dots is the point
  local have=($1) want=($2) i h w
  for i in 0 1 2; do
    h=${have[i]:-0}
    w=${want[i]:-0}
    ((10#$h > 10#$w)) && return 0
    ((10#$h < 10#$w)) && return 1
  done
  return 0
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

fmt_duration() {
  local s=$1
  if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

# A random secret from the kernel (hex, no shell-special characters).
random_secret() {
  od -An -N18 -tx1 /dev/urandom | tr -d ' \n'
}

# Writes stdin to FILE, readable only by you, without a moment where it is readable by others.
write_private() {
  local file=$1
  (umask 077 && cat >"$file.tmp") && mv "$file.tmp" "$file"
}

kind_cluster_exists() {
  kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"
}

# Points KUBECONFIG at the kind management cluster (a file of our own, so the user's current
# context never matters).
use_kind_kubeconfig() {
  export KUBECONFIG="$STATE_DIR/kubeconfig"
  [[ $DRY_RUN == 1 ]] && return 0
  mkdir -p "$STATE_DIR"
  kind get kubeconfig --name "$CLUSTER_NAME" | write_private "$KUBECONFIG"
}

# The workload clusters of the stack as "namespace/name" lines, from the GitOps working copy
# (management/clusters/<namespace>/<name>/cluster.yaml, as `llmstack generate` writes them).
workload_clusters() {
  local wc="$STATE_DIR/gitops" f d
  [[ -d $wc ]] || return 0
  find "$wc" -path "$wc/.git" -prune -o -type f -path '*/management/clusters/*/*/cluster.yaml' -print 2>/dev/null |
    sort | while IFS= read -r f; do
      d=$(dirname "$f")
      printf '%s/%s\n' "$(basename "$(dirname "$d")")" "$(basename "$d")"
    done
}
