package keycloak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
)

// tokenSource keeps one access token until shortly before it expires.
type tokenSource struct {
	fetch func(ctx context.Context) (token string, lifetime time.Duration, err error)
	now   func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

// get returns the current token, fetching a new one when there is none
// or it is about to expire. Concurrent callers wait for one fetch.
func (s *tokenSource) get(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.expiry) {
		return s.token, nil
	}
	token, lifetime, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	// Renew a little early so that a token does not expire in flight:
	// 30s before, or halfway through a short lifetime.
	early := min(30*time.Second, lifetime/2)
	s.token, s.expiry = token, s.now().Add(lifetime-early)
	return token, nil
}

// invalidate drops token, if it is still the current one, after the
// server refused it.
func (s *tokenSource) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == token {
		s.token = ""
	}
}

// fetchToken runs the client-credentials grant against tokenURL, sending
// the client's credentials in the form (client_secret_post).
func fetchToken(ctx context.Context, client *http.Client, tokenURL, clientID, secret string) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	op := fmt.Sprintf("get a token for client %s from %s", clientID, tokenURL)
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", op, err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(data, &body)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", 0, fmt.Errorf("%s: %w", op, &idp.RateLimitError{RetryAfter: retryAfter(resp.Header, time.Now())})
	case resp.StatusCode == http.StatusUnauthorized || body.Error == "invalid_client" ||
		body.Error == "unauthorized_client" || body.Error == "invalid_grant":
		return "", 0, fmt.Errorf("%s: %s: %s (%s): %w", op, resp.Status, body.Error, body.Description, idp.ErrUnauthorized)
	case resp.StatusCode != http.StatusOK:
		return "", 0, fmt.Errorf("%s: %s: %s", op, resp.Status, errorText(data))
	case body.AccessToken == "" || !strings.EqualFold(body.TokenType, "bearer"):
		return "", 0, fmt.Errorf("%s: the answer holds no bearer token", op)
	}
	lifetime := time.Duration(body.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = time.Minute
	}
	return body.AccessToken, lifetime, nil
}
