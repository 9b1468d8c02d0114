#!/usr/bin/env bash
# vcluster.sh makes ready the vcluster release that test/tools/vcluster/go.mod
# pins, for the tests and the demo: it downloads the module through the Go
# module proxy (the chart is its chart/ folder) and builds vcluster-config,
# vcluster's own config check, once, under .cache/vcluster/<version>/. A
# second run finds both and returns at once. It prints three lines:
#   version=0.36.1
#   chart=<module cache>/github.com/loft-sh/vcluster@v0.36.1/chart
#   checker=<repository>/.cache/vcluster/0.36.1/vcluster-config
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mod="$here/vcluster"
version="$(grep -oE 'github.com/loft-sh/vcluster v[0-9][^ ]*' "$mod/go.mod" | head -1 | awk '{print $2}')"
dir="$root/.cache/vcluster/${version#v}"
mkdir -p "$dir"

module_dir="$(cd "$mod" && go mod download -json github.com/loft-sh/vcluster | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [[ ! -f "$module_dir/chart/Chart.yaml" ]]; then
	echo "vcluster.sh: no chart in $module_dir" >&2
	exit 1
fi
if [[ ! -x "$dir/vcluster-config" ]]; then
	echo "building vcluster-config from github.com/loft-sh/vcluster $version (first run only)" >&2
	(cd "$mod" && CGO_ENABLED=0 go build -trimpath -o "$dir/vcluster-config.tmp.$$" ./vcluster-config)
	# A run beside it builds its own copy; the rename is atomic.
	mv "$dir/vcluster-config.tmp.$$" "$dir/vcluster-config"
fi
printf 'version=%s\nchart=%s\nchecker=%s\n' "${version#v}" "$module_dir/chart" "$dir/vcluster-config"
