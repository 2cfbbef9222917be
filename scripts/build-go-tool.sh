#!/usr/bin/env bash
# Builds a command-line tool the tests run from its released Go module, into a cache outside the
# repository, once per version (pinned in scripts/testbin-versions.env); a no-op when cached. Prints
# the binary's path last.
#   build-go-tool.sh kube-score   the manifest linter of the kube-score test
#   build-go-tool.sh helm         Helm at the version whose SDK Fleet's agent renders bundles with
#                                 (the ServiceMonitor test)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/testbin-versions.env
source "$here/testbin-versions.env"

tool=${1:?usage: build-go-tool.sh kube-score|helm}
case "$tool" in
  kube-score) module=github.com/zegl/kube-score/cmd/kube-score version=${KUBE_SCORE_VERSION:?} check=(version) ;;
  helm) module=helm.sh/helm/v4/cmd/helm version=${HELM_VERSION:?} check=(version) ;;
  *) echo "build-go-tool: unknown tool \"$tool\" (kube-score or helm)" >&2; exit 2 ;;
esac

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
out="$cache_root/tools/$tool-$version"

if [[ -x "$out/$tool" ]]; then
  echo "$out/$tool"
  exit 0
fi

command -v go >/dev/null || { echo "build-go-tool: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }
mkdir -p "$out"
# Two test runs starting at once must not build into the same folder at the same time.
exec 9>"$out.lock"
if command -v flock >/dev/null; then flock 9; fi
if [[ -x "$out/$tool" ]]; then
  echo "$out/$tool"
  exit 0
fi
echo "build-go-tool: building $module $version (a few minutes the first time)" >&2
# Into a temporary folder first: an interrupted build leaves no half-written binary behind.
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# GOBIN install of the released module version: go.sum checks come from the module proxy's checksum DB.
GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$module@$version"
mv "$tmp/$tool" "$out/$tool"
"$out/$tool" "${check[@]}" >&2 || true
echo "$out/$tool"
