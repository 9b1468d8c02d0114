// Package restapi holds what the HTTP identity-provider backends share: a
// bounded read of an answer, Retry-After parsing, and the OAuth 2.0
// client-credentials grant with a token kept until shortly before it
// expires.
package restapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
)

// MaxResponse bounds every answer the backends read.
const MaxResponse = 8 << 20

// DefaultRetryAfter is the wait after a 429 that names none.
const DefaultRetryAfter = time.Minute

// ReadBody reads an answer of at most MaxResponse bytes.
func ReadBody(resp *http.Response) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if len(data) > MaxResponse {
		return nil, fmt.Errorf("the answer is larger than %d bytes", MaxResponse)
	}
	return data, nil
}

// RetryAfter reads Retry-After as seconds or an HTTP date (measured from
// the answer's Date, so that clock skew does not matter), or
// DefaultRetryAfter when there is none.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			now = date
		}
		return max(at.Sub(now), 0)
	}
	return DefaultRetryAfter
}

// TokenSource keeps one access token until shortly before it expires.
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

// ClientCredentials runs the OAuth 2.0 client-credentials grant against
// tokenURL, sending the client's credentials in the form
// (client_secret_post); scope is left out when empty. The secret never
// appears in an error.
func ClientCredentials(ctx context.Context, client *http.Client, tokenURL, clientID, secret, scope string) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
	}
	if scope != "" {
		form.Set("scope", scope)
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
	data, err := ReadBody(resp)
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
		return "", 0, fmt.Errorf("%s: %w", op, &idp.RateLimitError{RetryAfter: RetryAfter(resp.Header, time.Now())})
	case resp.StatusCode == http.StatusUnauthorized || body.Error == "invalid_client" ||
		body.Error == "unauthorized_client" || body.Error == "invalid_grant":
		return "", 0, fmt.Errorf("%s: %s: %s (%s): %w", op, resp.Status, body.Error, body.Description, idp.ErrUnauthorized)
	case resp.StatusCode != http.StatusOK:
		msg := body.Error
		if body.Description != "" {
			msg += ": " + body.Description
		}
		return "", 0, fmt.Errorf("%s: %s: %s", op, resp.Status, msg)
	case body.AccessToken == "" || !strings.EqualFold(body.TokenType, "bearer"):
		return "", 0, fmt.Errorf("%s: the answer holds no bearer token", op)
	}
	lifetime := time.Duration(body.ExpiresIn) * time.Second
	if lifetime <= 0 {
		lifetime = time.Minute
	}
	return body.AccessToken, lifetime, nil
}
