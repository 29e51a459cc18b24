#!/usr/bin/env bash
# Install the Debian packages the tests drive (a real Chromium, coturn, nginx, and iproute2
# with nftables for the network-namespace tests).
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]}. Install them with:"
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  [ "${CI:-}" = "true" ] && exit 1
  echo "(Tests that need them will be skipped.)"
  exit 0
fi
echo "Installing system packages: ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
# coturn's package starts nothing by default; the tests start their own relay on loopback.
# nginx's package may start a default site where an init system runs: the tests start their
# own nginx from deploy/nginx.conf on a free loopback port and never use the default one.
