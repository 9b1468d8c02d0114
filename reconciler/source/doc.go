// Package source reads the requests repository from git with go-git. For
// now it answers which files a change touches, for `allot validate
// --changed-from`; the reconciler's checkout of a commit builds on it.
package source
