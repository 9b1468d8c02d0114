#!/usr/bin/env bash
# system-deps.sh — install the Debian packages the tests and the demo need
# and a bare machine lacks: git, make, gcc, a real LDAP server (slapd,
# ldap-utils) for the ldap backend's tests, and Node.js for the real SCIM
# server and GitHub fixtures. `make test` and `make demo` run it; it does
# nothing when everything is there.
set -euo pipefail

need() { command -v "$1" >/dev/null 2>&1; }
# Overridable for the script's own test.
slapd=${ALLOT_SLAPD:-/usr/sbin/slapd}
policy_rc=${ALLOT_POLICY_RC:-/usr/sbin/policy-rc.d}

missing=()
need git || missing+=(git)
need make || missing+=(make)
need gcc || missing+=(gcc)
[[ -x $slapd ]] || missing+=(slapd)
need ldapsearch || missing+=(ldap-utils)
need node || missing+=(nodejs)
need npm || missing+=(npm)
((${#missing[@]})) || exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if need sudo; then
		sudo=(sudo)
	else
		echo "missing ${missing[*]}: run as root or install them with apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
fi
if ! need apt-get; then
	echo "missing ${missing[*]} and no apt-get to install them" >&2
	exit 1
fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Install without starting the packages' services (slapd would start a
# system LDAP server; the tests run their own).
policy=""
if [[ ! -e $policy_rc ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy_rc" >/dev/null
	"${sudo[@]}" chmod +x "$policy_rc"
	policy=$policy_rc
fi
"${sudo[@]}" apt-get update -y >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
[[ -z "$policy" ]] || "${sudo[@]}" rm -f "$policy"
