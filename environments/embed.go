// Package environments holds allot's built-in environment templates —
// namespace, vcluster and ecs — embedded in the binary: each is a
// <type>/template.yaml with the charts its sources name beside it. A requests
// repository's templates/<type>/ overrides the built-in template of the same
// name.
package environments

import (
	"embed"
	"io/fs"
)

// The all: prefix keeps Helm's _helpers-style files, which embed would skip.
//
//go:embed all:namespace all:vcluster all:ecs
var builtin embed.FS

// Templates returns the built-in templates as <type>/template.yaml and the
// files beside each.
func Templates() fs.FS { return builtin }
