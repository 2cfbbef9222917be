#!/usr/bin/env bash
# Fails when a test control plane, LiteLLM proxy or Ollama outlived its run: etcd, kube-apiserver, a
# process it started (the Cluster API managers), litellm, nginx or ollama, or a temp dir, whose owning
# process (the pid in the llmstack-cp-<pid>-XXXXXX, llmstack-litellm-<pid>-XXXXXX or
# llmstack-ollama-<pid>-XXXXXX name) is gone. Control planes of runs
# still in progress are left alone. Waits a little first: a crashed owner's watchdog needs a few seconds.
set -euo pipefail

tmp=${TMPDIR:-/tmp}
tmp=${tmp%/}
deadline=$((SECONDS + ${1:-15}))

leftovers() {
  local d pid cmd comm
  for d in "$tmp"/llmstack-cp-*-* "$tmp"/llmstack-k3s-*-* "$tmp"/llmstack-litellm-*-* "$tmp"/llmstack-ollama-*-*; do
    [[ -e "$d" ]] || continue
    pid=${d##*/llmstack-}
    pid=${pid#*-}
    pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || echo "temp dir $d (owner $pid gone)"
  done
  # Every process of a control plane or a LiteLLM test names its temp dir in its arguments; Ollama
  # runs from a copy of its binary in its test's temp dir.
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    cmd="$cmd $(readlink "$p/exe" 2>/dev/null || true)"
    [[ "$cmd" =~ llmstack-(cp|litellm|ollama)-([0-9]+)- ]] || continue
    kill -0 "${BASH_REMATCH[2]}" 2>/dev/null || echo "process ${p#/proc/} $comm (owner ${BASH_REMATCH[2]} gone)"
  done
}

while :; do
  found=$(leftovers)
  [[ -z "$found" ]] && { echo "check-no-leftovers: no test control plane, LiteLLM proxy or Ollama left behind"; exit 0; }
  ((SECONDS < deadline)) || break
  sleep 1
done
echo "check-no-leftovers: left behind by a test run:" >&2
echo "$found" >&2
exit 1
