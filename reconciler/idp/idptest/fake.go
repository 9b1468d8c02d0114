package idptest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultPageSize is the page size the fake servers use when the client
// asks for none or for more: small, so that tests cross page boundaries.
const DefaultPageSize = 2

// maxRequestBody bounds what a fake server reads of a request.
const maxRequestBody = 1 << 20

// faults is the misbehaviour a fake server can be told to show, shared by
// the three fakes.
type faults struct {
	mu sync.Mutex
	// rateLimit, when positive, answers the next API request with 429.
	rateLimit time.Duration
	// requests counts API requests by "METHOD path".
	requests map[string]int
}

// RateLimitNext makes the server answer the next API request (not a token
// request) with 429 Too Many Requests, asking the client to wait d.
func (f *faults) RateLimitNext(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateLimit = d
}

// takeRateLimit returns the wait of a pending rate limit and clears it.
func (f *faults) takeRateLimit() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.rateLimit
	f.rateLimit = 0
	return d
}

func (f *faults) count(r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.requests == nil {
		f.requests = map[string]int{}
	}
	f.requests[r.Method+" "+r.URL.Path]++
}

// Requests returns how many API requests the server has answered for
// method and path, for example Requests("GET", "/api/v1/groups").
func (f *faults) Requests(method, path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[method+" "+path]
}

// tokens issues and checks the bearer tokens of the OAuth fakes.
type tokens struct {
	mu     sync.Mutex
	issued map[string]bool
	total  int
}

func (ts *tokens) issue() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.issued == nil {
		ts.issued = map[string]bool{}
	}
	tok := "tok-" + randomID()
	ts.issued[tok] = true
	ts.total++
	return tok
}

// valid says whether the request carries a bearer token the server issued
// and has not revoked.
func (ts *tokens) valid(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ok && ts.issued[tok]
}

// RevokeTokens makes the server refuse every access token issued so far,
// as it does when they expire early or are revoked.
func (ts *tokens) RevokeTokens() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.issued = map[string]bool{}
}

// TokenRequests returns how many access tokens the server has issued.
func (ts *tokens) TokenRequests() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.total
}

// clientCredentials reads the client ID and secret of a token request from
// HTTP basic authentication (client_secret_basic) or the form
// (client_secret_post).
func clientCredentials(r *http.Request) (id, secret string) {
	if id, secret, ok := r.BasicAuth(); ok {
		return id, secret
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body into v.
func readJSON(r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxRequestBody)).Decode(v)
}

// page cuts items[first:first+size] out, with size capped by max.
func page[T any](items []T, first, size, maxSize int) []T {
	if size <= 0 || size > maxSize {
		size = maxSize
	}
	if first < 0 || first >= len(items) {
		return nil
	}
	end := min(first+size, len(items))
	return items[first:end]
}

// intParam reads an integer query parameter, def when absent or bad.
func intParam(r *http.Request, name string, def int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil {
		return def
	}
	return n
}

// seconds renders d in whole seconds for Retry-After.
func seconds(d time.Duration) string {
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
