#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from Go modules into a cache outside the repository, once per
# version pair. The test harness runs it when no other control plane source is available; users can
# run it by hand too. Prints the folder that holds the binaries on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/testbin-versions.env
source "$here/testbin-versions.env"

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
out="$cache_root/testbin/kubernetes-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "build-testbin: Go is needed (https://go.dev/doc/install)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/llmstack-testbin.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
log() { echo "build-testbin: $*" >&2; }

# Kubernetes' own go.mod points every k8s.io/* staging module at ./staging/src/...; a consumer must pin
# them to the published v0.<minor>.<patch> tags instead. Derive that list from the module's go.mod.
k8s_build() {
  local dir="$work/kubernetes" staging_version="v0.${KUBERNETES_VERSION#v1.}"
  mkdir -p "$dir"
  cd "$dir"
  go mod init llmstack.dev/testbin/kubernetes >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [[ -f "$gomod" ]] || { log "could not download k8s.io/kubernetes@${KUBERNETES_VERSION}"; exit 1; }
  {
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | sort -u |
      while read -r m; do echo "replace $m => $m ${staging_version}"; done
  } >>go.mod
  log "pinned $(grep -c '^replace' go.mod) staging modules to ${staging_version}"
  printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n' >tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  local major=1 minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  local ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=${KUBERNETES_VERSION} -X $p.gitMajor=${major} -X $p.gitMinor=${minor}"
    ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  log "building kube-apiserver ${KUBERNETES_VERSION} (the first build takes several minutes)"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  log "building kubectl ${KUBERNETES_VERSION}"
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
  mv "$out/kubectl.tmp" "$out/kubectl"
}

etcd_build() {
  local dir="$work/etcd"
  mkdir -p "$dir"
  cd "$dir"
  go mod init llmstack.dev/testbin/etcd >/dev/null 2>&1
  printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
  go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
  go mod tidy >/dev/null 2>&1 || go mod tidy
  log "building etcd ${ETCD_VERSION}"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$out/etcd.tmp" "$out/etcd"
}

[[ -x "$out/etcd" ]] || etcd_build
[[ -x "$out/kube-apiserver" && -x "$out/kubectl" ]] || k8s_build
"$out/kube-apiserver" --version >&2
"$out/etcd" --version | head -1 >&2
echo "$out"
