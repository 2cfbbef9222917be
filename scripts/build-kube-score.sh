#!/usr/bin/env bash
# Builds kube-score from its Go module into a cache outside the repository, once per version. The
# kube-score test runs it; it is a no-op when the binary is cached. Prints the binary's path last.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/testbin-versions.env
source "$here/testbin-versions.env"
: "${KUBE_SCORE_VERSION:?scripts/testbin-versions.env must set KUBE_SCORE_VERSION}"

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
out="$cache_root/tools/kube-score-${KUBE_SCORE_VERSION}"

if [[ -x "$out/kube-score" ]]; then
  echo "$out/kube-score"
  exit 0
fi

command -v go >/dev/null || { echo "build-kube-score: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }
mkdir -p "$out"
echo "build-kube-score: building github.com/zegl/kube-score ${KUBE_SCORE_VERSION}" >&2
# GOBIN install of the released module version: go.sum checks come from the module proxy's checksum DB.
GOBIN="$out" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "github.com/zegl/kube-score/cmd/kube-score@${KUBE_SCORE_VERSION}"
"$out/kube-score" version >&2 || true
echo "$out/kube-score"
