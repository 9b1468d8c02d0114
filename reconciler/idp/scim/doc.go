// Package scim is an idp.Provider for identity providers that speak SCIM 2.0
// (RFC 7643 and RFC 7644) over HTTP with a bearer token: Okta, Entra ID,
// OneLogin, JumpCloud, Keycloak with a SCIM extension, and others.
//
// The choices it makes, for a platform engineer pointing it at an IdP:
//
//   - Users are found by e-mail with the filter `userName eq "<e-mail>"`
//     first, because most IdPs make the e-mail the user name; when that finds
//     nobody, with `emails.value eq "<e-mail>"`. More than one match is an
//     error rather than a guess.
//   - Groups are listed with `displayName sw "<prefix>"`, page by page
//     (startIndex, count, totalResults) until totalResults is reached, so a
//     server that caps a page below the count asked for is followed too.
//     Names are then compared exactly, whatever the server's case rules.
//   - allot's marker is the group's externalId, `allot:<name>`. A group with
//     any other externalId, or none, is not managed, and AddMembers,
//     RemoveMembers and DeleteGroup refuse it.
//   - Group members are listed with their e-mails: each member's user is
//     read once (GET /Users/{id}) and remembered for the Provider's life.
//   - Members are added and removed with PATCH, at most MembersPerPatch
//     (default 20, Entra ID's limit) per request; a remove uses the path
//     `members[value eq "<id>"]`.
//   - Requests go through restapi, the one HTTP client of allot's HTTP
//     backends: answers map to idp's errors (401 and 403 to
//     ErrUnauthorized, 404 to ErrNotFound, 409 to ErrConflict, 429 to
//     *idp.RateLimitError, 5xx or a failed connection to
//     idp.ErrTransient); rate limits and transient failures are retried
//     with Provider.Retry, a create only after a 429; every answer is read
//     through restapi.MaxResponse. The token is sent only in the
//     Authorization header and is masked in every error. Plain http is
//     refused except to a loopback address, so the token is never sent in
//     clear over a network.
package scim
