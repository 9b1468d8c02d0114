// Package environments holds allot's built-in environment templates —
// namespace, vcluster and ecs — embedded in the binary. A requests
// repository's templates/<type>/ overrides the built-in template of the same
// name.
package environments

import (
	"embed"
	"io/fs"
)

//go:embed */template.yaml
var builtin embed.FS

// Templates returns the built-in templates as <type>/template.yaml.
func Templates() fs.FS { return builtin }
