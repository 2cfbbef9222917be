#!/usr/bin/env bash
# Unpacks Debian's nginx into a cache outside the repository, for the test that runs the auth proxy
# llmstack renders in front of an exposed Ollama. `apt-get download` + `dpkg -x`: no service is
# installed or started, nothing outside the cache changes. Prints the nginx binary on its last line.
set -euo pipefail

cache_root=${LLMSTACK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llmstack}
log() { echo "install-nginx: $*" >&2; }
command -v apt-get >/dev/null || { log "needs Debian's apt-get (or put an nginx binary on PATH as LLMSTACK_NGINX)"; exit 1; }

version=$(apt-cache policy nginx 2>/dev/null | sed -n 's/^ *Candidate: //p')
if [[ -z $version || $version == "(none)" ]]; then
  sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update >&2
  version=$(apt-cache policy nginx | sed -n 's/^ *Candidate: //p')
fi
[[ -n $version && $version != "(none)" ]] || { log "no nginx package in the apt sources"; exit 1; }

out="$cache_root/nginx-${version//[:+~]/_}"
if [[ -x $out/usr/sbin/nginx ]]; then
  echo "$out/usr/sbin/nginx"
  exit 0
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/llmstack-nginx.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "nginx=$version") >&2
mkdir -p "$out.tmp"
dpkg -x "$work"/nginx_*.deb "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
"$out/usr/sbin/nginx" -v >&2
echo "$out/usr/sbin/nginx"
