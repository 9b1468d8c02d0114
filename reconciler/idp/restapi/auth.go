package restapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
)

// Auth knows how to put credentials on a request.
type Auth interface {
	// Authorization returns the value of the next request's
	// Authorization header.
	Authorization(ctx context.Context) (string, error)
	// Refused is told the value a server answered 401 to, and reports
	// whether a new value is worth one more try.
	Refused(value string) bool
}

// Static is an Authorization header that never changes, such as an API
// token: "Bearer TOKEN" or Okta's "SSWS TOKEN".
type Static string

// Authorization returns s.
func (s Static) Authorization(context.Context) (string, error) { return string(s), nil }

// Refused reports false: there is no other value to try.
func (Static) Refused(string) bool { return false }

var (
	_ Auth = Static("")
	_ Auth = (*TokenSource)(nil)
)

// TokenSource keeps one bearer token until shortly before it expires.
type TokenSource struct {
	// Fetch gets a new token and its lifetime.
	Fetch func(ctx context.Context) (token string, lifetime time.Duration, err error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

func (s *TokenSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Get returns the current token, fetching a new one when there is none or
// it is about to expire. Concurrent callers wait for one fetch.
func (s *TokenSource) Get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expiry) {
		return s.token, nil
	}
	token, lifetime, err := s.Fetch(ctx)
	if err != nil {
		return "", err
	}
	// Renew a little early so that a token does not expire in flight:
	// 30s before, or halfway through a short lifetime.
	early := min(30*time.Second, lifetime/2)
	s.token, s.expiry = token, s.now().Add(lifetime-early)
	return token, nil
}

// Invalidate drops token, if it is still the current one, after the
// server refused it.
func (s *TokenSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

// Authorization returns "Bearer TOKEN" with the current token.
func (s *TokenSource) Authorization(ctx context.Context) (string, error) {
	token, err := s.Get(ctx)
	if err != nil {
		return "", err
	}
	return "Bearer " + token, nil
}

// Refused drops the refused token and reports true: the next
// Authorization fetches a new one.
func (s *TokenSource) Refused(value string) bool {
	s.Invalidate(strings.TrimPrefix(value, "Bearer "))
	return true
}

// ClientCredentials returns a TokenSource whose tokens come from the OAuth
// 2.0 client-credentials grant (RFC 6749 section 4.4) at tokenURL, with
// the client's credentials in the form (client_secret_post) and scope
// left out when empty. The token requests share api's backend name, HTTP
// client, retries, clock and hint; the secret never appears in an error.
func ClientCredentials(api *Client, tokenURL *url.URL, clientID, secret, scope string) *TokenSource {
	token := &Client{
		Backend:          api.Backend,
		Base:             tokenURL,
		HTTP:             api.HTTP,
		Retry:            api.Retry,
		Now:              api.Now,
		Secrets:          append([]string{secret}, api.Secrets...),
		UnauthorizedHint: api.UnauthorizedHint,
		ErrorBody:        oauthError,
		Classify: func(e *StatusError) {
			switch e.Code {
			case "invalid_client", "unauthorized_client", "invalid_grant":
				e.Kind = idp.ErrUnauthorized
			}
		},
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	return &TokenSource{
		Now: api.Now,
		Fetch: func(ctx context.Context) (string, time.Duration, error) {
			var body struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
				ExpiresIn   int    `json:"expires_in"`
			}
			// Asking for a token twice does no harm.
			req := Request{Method: http.MethodPost, Form: form, Idempotent: true}
			if _, err := token.Do(ctx, req, &body); err != nil {
				return "", 0, fmt.Errorf("get a token for client %s: %w", clientID, err)
			}
			if body.AccessToken == "" || !strings.EqualFold(body.TokenType, "bearer") {
				return "", 0, fmt.Errorf("get a token for client %s from %s: %w", clientID, tokenURL.Redacted(), errNoBearer)
			}
			lifetime := time.Duration(body.ExpiresIn) * time.Second
			if lifetime <= 0 {
				lifetime = time.Minute
			}
			return body.AccessToken, lifetime, nil
		},
	}
}

var errNoBearer = errors.New("the answer holds no bearer token")

// oauthError reads an OAuth 2.0 error answer (RFC 6749 section 5.2).
func oauthError(data []byte) (code, message string) {
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(data, &body)
	return body.Error, body.Description
}
