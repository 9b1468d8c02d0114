//go:build tools

// Package tools pins the vcluster release whose chart allot's built-in
// vcluster template installs; test/tools/vcluster.sh downloads its module
// (the chart is its chart/ folder) and builds vcluster-config from it.
package tools

import _ "github.com/loft-sh/vcluster/config"
