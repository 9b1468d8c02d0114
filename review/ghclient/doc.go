// Package ghclient is allot's client of the GitHub REST API. It implements
// the roles that package review's bot consumes (review.GitHub and
// review.RepoWriter) over go-github, for one token (TokenClients, which
// report checks as commit statuses) or a GitHub App (AppClients: an
// installation token each, minted and renewed by ghinstallation, and check
// runs).
//
// Every client waits out GitHub's rate limits and retries idempotent calls
// after server errors, within its Retry; a limit that resets too late fails
// the call with a *RateLimitedError. Lists are read page by page up to fixed
// bounds, and files up to MaxFileRead bytes.
//
// The tests run it against test/harness/githubapi, the in-process fake of
// the same API.
package ghclient
