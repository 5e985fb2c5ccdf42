#!/usr/bin/env bash
# Makes sure the servers the integration tests run (redis-server, memcached)
# and redis-cli (the near-cache tests' outside writer) are installed. As root on Debian/Ubuntu it installs what is missing;
# otherwise it says what to install and exits 1.
set -euo pipefail

# have NAME: an executable NAME on PATH or in the usual daemon directories
# (the same places the Go tests look).
have() {
	local d
	local IFS=:
	for d in $PATH /usr/sbin /usr/bin /usr/local/bin /usr/local/sbin; do
		if [ -n "$d" ] && [ -f "$d/$1" ] && [ -x "$d/$1" ]; then
			return 0
		fi
	done
	return 1
}

missing=()
have redis-server || missing+=(redis-server)
have redis-cli || missing+=(redis-tools)
have memcached || missing+=(memcached)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

hint="apt-get install -y redis-server redis-tools memcached"
if [ "$(id -u)" -ne 0 ]; then
	echo "test-deps: missing: ${missing[*]}" >&2
	echo "test-deps: install them as root, e.g.: sudo $hint" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing: ${missing[*]}, and apt-get is not available; install redis-server and memcached with your package manager" >&2
	exit 1
fi

echo "test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The packages would start system services; the tests start their own
# servers, so forbid service starts during the install (policy-rc.d exit
# 101) unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
fi
cleanup() { if [ "$own_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server redis-tools memcached >/dev/null

for b in redis-server redis-cli memcached; do
	if ! have "$b"; then
		echo "test-deps: $b still missing after install" >&2
		exit 1
	fi
done
echo "test-deps: $(redis-server --version | head -n1)" >&2
echo "test-deps: $(memcached --version)" >&2
