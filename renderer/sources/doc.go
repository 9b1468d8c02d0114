// Package sources turns one source of a development environment into the
// Kubernetes objects it describes.
//
// There are three kinds of source:
//
//   - a Helm chart, rendered with `helm template` semantics by [Helm.Render],
//     either from a directory of the requests repository or from a remote
//     HTTP(S) or OCI chart repository;
//   - a kustomization, built by [Kustomize] with the repository held in memory;
//   - a directory of plain manifests, read by [Manifests].
//
// Every source returns the objects as the source wrote them: nothing adds
// labels or defaults namespaces, because that is the caller's job. Every
// source reads only what it is given (an [io/fs.FS] rooted at the repository,
// or for remote charts the network and a cache directory) and bounds what it
// reads, so a hostile repository cannot exhaust memory or escape its root.
//
// What a source produces is bounded too: YAML anchors and aliases are
// refused in every YAML input (manifests, the files kustomize reads, chart
// values and metadata, rendered charts), subchart archives count against a
// chart's size limit as they unpack, and a [Budget] caps the objects and
// bytes of one bundle as they are decoded. Chart templates can run without
// end; a [Sandbox] renders them in a child process with a deadline and a
// memory limit.
package sources
