// Package idptest holds what the identity-provider backends are tested
// with: Run, a conformance suite every idp.Provider must pass, and
// in-process stand-ins for the Keycloak admin API, the Okta Groups API and
// Microsoft Graph (Entra ID) that serve exactly the endpoints the backends
// call, with the request and response shapes those services document,
// their pagination (with pages forced small), their error bodies, 401 for
// a bad credential and 429 with the services' rate-limit headers.
//
// LDAP needs no stand-in: its backend is tested against a real slapd that
// test/harness starts.
package idptest
