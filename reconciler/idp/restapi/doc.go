// Package restapi is the one HTTP client of allot's HTTP identity-provider
// backends (scim, okta, entra, keycloak). What those backends would
// otherwise each write again, and then write differently, lives here once:
//
//   - Client sends a request with the backend's credentials (Auth), reads
//     at most MaxResponse bytes of the answer, decodes JSON, and maps a
//     refusal to a *StatusError wrapping idp's errors: 401 and 403 to
//     idp.ErrUnauthorized, 404 to idp.ErrNotFound, 409 to idp.ErrConflict,
//     429 (and a 503 that says Retry-After) to *idp.RateLimitError, other
//     5xx and failed connections to idp.ErrTransient.
//   - It retries with the backend's idp.Retry: rate limits always, other
//     transient failures only for requests that may be sent twice (GET,
//     HEAD, PUT, DELETE, or Request.Idempotent), so a create is never sent
//     again after a server may have acted on it. The retries are bounded
//     in count and in total wait and end with the context; what they gave
//     up on is marked idp.ErrGaveUp, so that a Syncer around the backend
//     does not retry it once more.
//   - RetryAfter is the one reading of Retry-After: seconds or an HTTP
//     date, capped at MaxRetryAfter, DefaultRetryAfter when the answer
//     says nothing.
//   - A 401 to a token from a TokenSource drops that token and tries once
//     more with a new one; a second 401 fails with an error that says so.
//   - An error shows at most MaxErrorDetail bytes of the server's message,
//     with the backend's secrets and the credential sent masked.
//   - ParseURL is the one check of an endpoint's URL: https, or plain http
//     to a loopback address only (netaddr.IsLoopback).
package restapi
