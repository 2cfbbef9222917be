#!/usr/bin/env bash
# Builds the test binaries from Go modules into a cache outside the repository, once per version:
#   build-testbin.sh              kube-apiserver, kubectl and etcd (the test control plane)
#   build-testbin.sh capi VERSION the Cluster API managers (core, kubeadm control plane, kubeadm
#                                 bootstrap) with the CRDs and webhook manifests of that release
#   build-testbin.sh knative      the Knative checker (test/tools/knative-check) over knative.dev/serving
#   build-testbin.sh ollama       Ollama at OLLAMA_VERSION (the image the Ollama bundle pins), for the
#                                 model cache tests and benchmark
# The test harness runs it when a binary is missing; users can run it by hand too. Prints the folder
# that holds the binaries on its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/testbin-versions.env
source "$here/testbin-versions.env"

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
log() { echo "build-testbin: $*" >&2; }
need_go() { command -v go >/dev/null || { log "Go is needed (https://go.dev/doc/install)"; exit 1; }; }
work=
new_work() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/llmstack-testbin.XXXXXX")
  trap 'rm -rf "$work"' EXIT
}

# Cluster API managers of one release. From v1.11 the core manager's main package is core/ and the API
# types are their own module: the root module's `replace ./api` does not apply to a dependent, so the
# api module is required at the same version here. The CRDs and webhook manifests are copied from
# the module next to the binaries: the harness installs them as CAPI's own kustomize install would.
capi_build() {
  local version=$1
  [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { log "capi: not a release version: '$version'"; exit 2; }
  local cout="$cache_root/testbin/cluster-api-${version}"
  if [[ -x "$cout/bin/core" && -x "$cout/bin/kubeadm-control-plane" && -x "$cout/bin/kubeadm-bootstrap" && -f "$cout/config/.complete" ]]; then
    echo "$cout"
    return
  fi
  need_go
  new_work
  local minor=${version#v1.}
  minor=${minor%%.*}
  local core_pkg=sigs.k8s.io/cluster-api/core core_config=core/config
  if ((minor < 11)); then core_pkg=sigs.k8s.io/cluster-api core_config=config; fi
  cd "$work"
  go mod init llmstack.dev/testbin/cluster-api >/dev/null 2>&1
  {
    echo "require sigs.k8s.io/cluster-api ${version}"
    ((minor < 11)) || echo "require sigs.k8s.io/cluster-api/api ${version}"
  } >>go.mod
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "%s"\n\t_ "sigs.k8s.io/cluster-api/controlplane/kubeadm"\n\t_ "sigs.k8s.io/cluster-api/bootstrap/kubeadm"\n)\n' "$core_pkg" >tools.go
  go mod tidy >/dev/null 2>&1 || go mod tidy
  mkdir -p "$cout/bin"
  local ldflags="-s -w -X sigs.k8s.io/cluster-api/version.gitVersion=${version} -X sigs.k8s.io/cluster-api/version.gitTreeState=clean"
  local name pkg
  for name in core kubeadm-control-plane kubeadm-bootstrap; do
    case $name in
      core) pkg=$core_pkg ;;
      kubeadm-control-plane) pkg=sigs.k8s.io/cluster-api/controlplane/kubeadm ;;
      kubeadm-bootstrap) pkg=sigs.k8s.io/cluster-api/bootstrap/kubeadm ;;
    esac
    log "building Cluster API ${version} ${name} manager"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cout/bin/${name}.tmp" "$pkg"
    mv "$cout/bin/${name}.tmp" "$cout/bin/${name}"
  done
  local mod
  mod=$(go list -m -f '{{.Dir}}' sigs.k8s.io/cluster-api)
  rm -rf "$cout/config"
  mkdir -p "$cout/config"
  local src dst
  for pair in "${core_config}:core" "controlplane/kubeadm/config:kubeadm-control-plane" "bootstrap/kubeadm/config:kubeadm-bootstrap"; do
    src=$mod/${pair%%:*}
    dst=$cout/config/${pair##*:}
    mkdir -p "$dst"
    cp -R "$src/crd" "$src/webhook" "$dst/"
  done
  # CAPD's CRDs of the same release (its own module): no CAPD controller runs, but the topology
  # controller creates DockerClusters and DockerMachineTemplates and reads their contract labels.
  local capd
  capd=$(go mod download -json "sigs.k8s.io/cluster-api/test@${version}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -d "$capd/infrastructure/docker/config/crd" ]] || { log "capi: no CAPD CRDs in sigs.k8s.io/cluster-api/test@${version}"; exit 1; }
  mkdir -p "$cout/config/docker"
  cp -R "$capd/infrastructure/docker/config/crd" "$cout/config/docker/"
  chmod -R u+w "$cout/config"
  touch "$cout/config/.complete"
  echo "$cout"
}

# The Knative checker: our own program in test/tools/knative-check over Knative Serving's admission
# code at KNATIVE_SERVING_VERSION, which its go.mod must require. Cached per version and hash of the
# checker's source, so an edit rebuilds it.
knative_build() {
  local src="$here/../test/tools/knative-check" pinned hash kout
  pinned=$(sed -n 's#^[[:space:]]*knative.dev/serving \(v[^[:space:]]*\).*#\1#p' "$src/go.mod")
  if [[ "$pinned" != "$KNATIVE_SERVING_VERSION" ]]; then
    log "test/tools/knative-check/go.mod requires knative.dev/serving ${pinned:-nothing}, but" \
      "scripts/testbin-versions.env pins ${KNATIVE_SERVING_VERSION}; in test/tools/knative-check run" \
      "go get knative.dev/serving@${KNATIVE_SERVING_VERSION} && go mod tidy"
    exit 1
  fi
  hash=$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
  kout="$cache_root/testbin/knative-check-${KNATIVE_SERVING_VERSION}-${hash}"
  if [[ ! -x "$kout/knative-check" ]]; then
    need_go
    mkdir -p "$kout"
    log "building knative-check over knative.dev/serving ${KNATIVE_SERVING_VERSION}"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$kout/knative-check.tmp.$$" .)
    mv "$kout/knative-check.tmp.$$" "$kout/knative-check"
  fi
  log "knative-check over knative.dev/serving $("$kout/knative-check" -version)"
  echo "$kout"
}

# Ollama itself (the model cache tests and benchmark run its pull, serve and show): the released Go
# module at OLLAMA_VERSION, built with cgo for its bundled llama.cpp (CPU only). Go module zips leave
# out every vendor/ folder, so the three single-header libraries llama.cpp vendors are supplied here:
# nlohmann/json and stb_image from Debian, miniaudio.h from the PyPI sdist of the `miniaudio`
# bindings (MINIAUDIO_PYPI_VERSION), which carries it at the include path llama.cpp expects.
ollama_build() {
  local oout="$cache_root/testbin/ollama-${OLLAMA_VERSION}"
  if [[ ! -x "$oout/ollama" ]]; then
    need_go
    local pkgs=() sudo=()
    command -v g++ >/dev/null || pkgs+=(g++)
    python3 -m pip --version >/dev/null 2>&1 || pkgs+=(python3-pip)
    [[ -f /usr/include/nlohmann/json_fwd.hpp ]] || pkgs+=(nlohmann-json3-dev)
    [[ -f /usr/include/stb/stb_image.h ]] || pkgs+=(libstb-dev)
    if ((${#pkgs[@]})); then
      ((EUID == 0)) || sudo=(sudo)
      log "ollama: installing Debian ${pkgs[*]} (the compiler, pip for miniaudio.h, headers llama.cpp includes)"
      "${sudo[@]}" apt-get update >&2
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${pkgs[@]}" >&2
    fi
    new_work
    log "ollama: miniaudio.h from PyPI miniaudio==${MINIAUDIO_PYPI_VERSION} (sdist)"
    python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" "miniaudio==${MINIAUDIO_PYPI_VERSION}" >&2
    tar -xzf "$work/miniaudio-${MINIAUDIO_PYPI_VERSION}.tar.gz" -C "$work" "miniaudio-${MINIAUDIO_PYPI_VERSION}/miniaudio/miniaudio.h"
    mkdir -p "$oout"
    log "building github.com/ollama/ollama ${OLLAMA_VERSION} (cgo, about 5 minutes on 2 cores)"
    (cd "$work" && CGO_ENABLED=1 CGO_CPPFLAGS="-I$work/miniaudio-${MINIAUDIO_PYPI_VERSION}" GOFLAGS=-buildvcs=false GOBIN="$work/bin" \
      go install -trimpath -ldflags "-s -w -X github.com/ollama/ollama/version.Version=${OLLAMA_VERSION#v}" "github.com/ollama/ollama@${OLLAMA_VERSION}")
    mv "$work/bin/ollama" "$oout/ollama"
  fi
  log "ollama $("$oout/ollama" --version 2>&1 | sed -n 's/.*client version is //p')"
  echo "$oout"
}

if [[ "${1:-}" == knative ]]; then
  knative_build
  exit 0
fi

if [[ "${1:-}" == ollama ]]; then
  ollama_build
  exit 0
fi

if [[ "${1:-}" == capi ]]; then
  capi_build "${2:?usage: build-testbin.sh capi VERSION}"
  exit 0
fi

out="$cache_root/testbin/kubernetes-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
  echo "$out"
  exit 0
fi

need_go
new_work
mkdir -p "$out"

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
