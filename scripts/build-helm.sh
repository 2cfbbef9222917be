#!/usr/bin/env bash
# Builds the Helm CLI from its Go module into a cache outside the repository, once per version: the
# version whose SDK Fleet's agent renders bundles with. The ServiceMonitor test runs it; it is a no-op
# when the binary is cached. Prints the binary's path last.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/testbin-versions.env
source "$here/testbin-versions.env"
: "${HELM_VERSION:?scripts/testbin-versions.env must set HELM_VERSION}"

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
out="$cache_root/tools/helm-${HELM_VERSION}"

if [[ -x "$out/helm" ]]; then
  echo "$out/helm"
  exit 0
fi

command -v go >/dev/null || { echo "build-helm: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }
mkdir -p "$out"
# Two test runs starting at once must not build into the same folder at the same time.
exec 9>"$out.lock"
if command -v flock >/dev/null; then flock 9; fi
if [[ -x "$out/helm" ]]; then
  echo "$out/helm"
  exit 0
fi
echo "build-helm: building helm.sh/helm/v4 ${HELM_VERSION} (a few minutes the first time)" >&2
# Into a temporary folder first: an interrupted build leaves no half-written binary behind.
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# GOBIN install of the released module version: go.sum checks come from the module proxy's checksum DB.
GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}"
mv "$tmp/helm" "$out/helm"
"$out/helm" version >&2 || true
echo "$out/helm"
