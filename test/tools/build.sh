#!/usr/bin/env bash
# build.sh builds the control-plane binaries the tests run against
# (kube-apiserver, kubectl, etcd) from the Go module proxy and caches them under
# .cache/controlplane/<versions>/ at the repository root. A second run finds them
# and returns at once. It prints the folder, which is what KUBEBUILDER_ASSETS
# must point at.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version() { # version GO_MOD MODULE: the version GO_MOD requires of MODULE
	grep -oE "$2 v[0-9][^ ]*" "$1" | head -1 | awk '{print $2}'
}
kube_version="$(version "$here/kube/go.mod" k8s.io/kubernetes)"
etcd_version="$(version "$here/etcd/go.mod" go.etcd.io/etcd/server/v3)"
dir="$root/.cache/controlplane/kube-${kube_version}_etcd-${etcd_version}"
mkdir -p "$dir"
# One build at a time: concurrent test runs wait for the first to finish
# instead of building (and writing) the same binaries side by side.
exec 9>"$dir/.lock"
flock 9

build() { # build MODULE_DIR PACKAGE NAME
	local mod="$1" pkg="$2" name="$3"
	if [[ -x "$dir/$name" ]]; then
		return
	fi
	echo "building $name from $pkg (first run only; kube-apiserver takes about 5 minutes on 2 cores)" >&2
	(cd "$here/$mod" && CGO_ENABLED=0 go build -trimpath -o "$dir/$name.tmp.$$" "$pkg")
	# Two runs at once (worktrees sharing .cache) each build their own copy;
	# the rename is atomic, so either one wins whole.
	mv "$dir/$name.tmp.$$" "$dir/$name"
}

build etcd go.etcd.io/etcd/server/v3 etcd
build kube k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
build kube k8s.io/kubernetes/cmd/kubectl kubectl
echo "$dir"
