// Package validate checks a loaded requests repository against the rules a
// platform team relies on: names, uniqueness, types, sizes, placement, owner
// domains, expiry, per-owner limits and add-on sources and paths. It is the
// engine of `allot validate`, the CI check of a requests repository.
//
// Repository-wide rules (unique names, per-owner limits, allot.yaml itself)
// are always checked; per-environment rules can be limited to the requests a
// change touches.
package validate
