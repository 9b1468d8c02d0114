// Package renderer turns a request — an Environment, its template, the
// platform and a target cluster — into a Bundle: the Kubernetes objects to
// apply, grouped by phase (init, install, postInstall, preDelete), the
// identity-provider groups the environment needs, and for a vcluster a second
// bundle to apply inside it.
//
// Rendering is pure: it reads the requests repository and the built-in
// templates, and fetches remote charts (cached by digest), but never talks to
// a cluster. The same inputs give byte-identical bundles and the same digest.
// Rendering also enforces tenancy: an environment's objects stay in its own
// namespace, and what a template or add-on may create beyond that is an
// explicit allow-list.
package renderer
