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
package review
