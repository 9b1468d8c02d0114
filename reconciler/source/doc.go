// Package source reads the requests repository from git with go-git.
//
// Git keeps a working copy of one branch of the repository, from a local
// path or a remote over https or ssh, and each Fetch brings it to the
// branch's newest commit and reports that commit; a failed Fetch returns an
// *Error whose kind (ErrUnreachable, ErrAuth, ErrBranchNotFound,
// ErrPermission, ...) the reconciler can test with errors.Is, and after
// which it must not prune.
//
// Fetch never hands back a tree that is not exactly the commit: after each
// checkout it verifies every file against the commit's tree. A working copy
// whose git data is damaged (truncated packs, missing objects, malformed
// references, as a disk error leaves them) is discarded and cloned again
// within the same Fetch; only when that fails too does Fetch fail, with
// ErrCorrupt or the kind of the new failure, and an error that says both.
//
// Descends says whether one commit descends from another, for the
// reconciler's guard against a branch force-pushed back to an older
// commit; it deepens a shallow working copy as far as it needs.
//
// ChangedSince answers which files a change touches, for `allot validate
// --changed-from`.
package source
