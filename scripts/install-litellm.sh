#!/usr/bin/env bash
# Installs LiteLLM's proxy (`litellm[proxy]` from PyPI) into a virtualenv cached outside the
# repository, once per version, for the tests that run the real proxy. The version is the one the
# shipped LiteLLM image carries (image ghcr.io/berriai/litellm:main-vX.Y.Z-stable is PyPI X.Y.Z);
# the test harness passes it. Prints the virtualenv's folder on its last line.
#
#   scripts/install-litellm.sh 1.77.7
set -euo pipefail

version=${1:?usage: install-litellm.sh VERSION (e.g. 1.77.7)}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(\.post[0-9]+)?$ ]] || { echo "install-litellm: not a PyPI version: $version" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
out="$cache_root/litellm-$version"
# Written last: a folder without it is a broken or interrupted install and is made again.
marker="$out/.llmstack-installed"
log() { echo "install-litellm: $*" >&2; }
# What the image has besides litellm[proxy]: its Dockerfile installs the repository's
# requirements.txt, which pins prometheus_client (the /metrics endpoint) at 0.20.0.
extras=(prometheus_client==0.20.0)
# The marker names the version and the extras, so a cached install of fewer extras gets them added.
recipe="$version ${extras[*]}"

if [[ -f $marker && $(<"$marker") == "$recipe" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache_root"
# Two test runs starting at once must not install into the same folder at the same time.
exec 9>"$cache_root/litellm-$version.lock"
if command -v flock >/dev/null; then flock 9; fi
if [[ -f $marker && $(<"$marker") == "$recipe" ]]; then
  echo "$out"
  exit 0
fi
if [[ -f $marker && -x $out/bin/python ]]; then
  log "adding ${extras[*]} to $out"
  "$out/bin/python" -m pip install --quiet --disable-pip-version-check "${extras[@]}" >&2
  echo "$recipe" >"$marker"
  echo "$out"
  exit 0
fi

command -v python3 >/dev/null || { log "python3 is needed (Debian: apt-get install python3)"; exit 1; }
# Debian splits venv and ensurepip out of python3; install them the way .ci/run installs git.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  pkg="python3-venv"
  log "python3 has no venv/ensurepip: installing $pkg"
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "$pkg" >&2
fi

rm -rf "$out"
log "installing litellm[proxy]==$version into $out (the first install downloads about 150 MB)"
python3 -m venv "$out"
constraints="$here/litellm-constraints-$version.txt"
args=()
# The constraints pin every transitive dependency to the set the tests were last run with.
[[ -f $constraints ]] && args+=(--constraint "$constraints")
"$out/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$out/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" "litellm[proxy]==$version" "${extras[@]}" >&2
"$out/bin/litellm" --version >&2 || true
echo "$recipe" >"$marker"
echo "$out"
