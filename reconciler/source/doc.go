// Package source reads the requests repository from git with go-git.
//
// Git keeps a working copy of one branch of the repository, from a local
// path or a remote over https or ssh, and each Fetch brings it to the
// branch's newest commit and reports that commit; a failed Fetch returns an
// *Error whose kind (ErrUnreachable, ErrAuth, ErrBranchNotFound, ...) the
// reconciler can test with errors.Is, and after which it must not prune.
//
// ChangedSince answers which files a change touches, for `allot validate
// --changed-from`.
package source
