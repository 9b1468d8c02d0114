// Package review is allot's pull-request workflow: it receives GitHub
// webhooks, and validates, plans, approves and merges the pull requests of
// the requests repository.
//
// Handler is the webhook endpoint `allot serve` exposes. It accepts a
// delivery only with a valid HMAC-SHA256 signature (X-Hub-Signature-256)
// made with the configured secret, bounds the body size, drops deliveries it
// has seen before (DeliveryCache), answers 202 at once and hands the parsed
// Event on asynchronously. Serializer runs those events so that two events
// for the same pull request never run at the same time, while different
// pull requests proceed in parallel.
//
// The bot meets GitHub through interfaces split by role (PullRequests,
// Conversation, Checks, Merger, People, RepoWriter), which package
// review/ghclient implements; what it posts is rendered by package
// review/comment from plain data.
package review
