// Package schemas defines the three kinds a requests repository holds —
// Platform (allot.yaml), EnvironmentTemplate (templates/<type>/template.yaml)
// and Environment (environments/<team>/<name>.yaml) — as Go types and as JSON
// Schemas (draft 2020-12).
//
// The schemas are embedded in the binary and are also the files editors use:
// put
//
//	# yaml-language-server: $schema=https://raw.githubusercontent.com/allot-dev/allot/main/schemas/environment.schema.json
//
// on the first line of a request, or write them locally with
// `allot schema environment > environment.schema.json`.
package schemas
