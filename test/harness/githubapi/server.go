package githubapi

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// defaultStart is when a Server's clock starts unless WithClock says
// otherwise.
var defaultStart = time.Date(2024, time.May, 1, 9, 0, 0, 0, time.UTC)

// Documentation links GitHub puts in error bodies.
const (
	docsREST    = "https://docs.github.com/rest"
	docsMerge   = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"
	docsPrimary = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
	// go-github recognises secondary limits by this suffix.
	docsSecondary = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// rateLimit is the hourly budget of every token.
const rateLimit = 5000

// Server is a fake GitHub REST API on a loopback port.
type Server struct {
	// OnMerge, when set, performs the merge of a pull request whose merge
	// GitHub accepted, for example in a real git repository, and returns
	// the merge commit; an error fails the merge request with 500. It runs
	// without the server's lock, so it may call the Server's methods, such
	// as SetFiles to give the files of the push event that follows. Set it
	// before the first request.
	OnMerge func(repo string, number int, sha, method string) (mergeSHA string, err error)

	srv  *httptest.Server
	mux  *http.ServeMux
	tmpl *templates

	mu       sync.Mutex
	now      time.Time
	nextID   int64
	userIDs  map[string]int64
	tokens   map[string]actor
	apps     map[int64]*rsa.PublicKey
	installs map[int64]*installation
	repos    map[string]*repo
	teams    map[string]map[string]string // "org/team" → login → state
	emails   map[string]string            // login → public e-mail address
	merges   []Merge
	requests []Request
	faults   []fault
	used     map[string]int // requests per token, for X-RateLimit-*

	hookURL    string
	hookSecret []byte
	deliveries []Delivery
	// pending counts deliveries that follow API answers; idle signals
	// when it drops, and closing stops new ones once the test ends.
	pending int
	idle    *sync.Cond
	closing bool
}

// Option tunes New.
type Option func(*Server)

// WithClock starts the server's clock at start instead of
// 2024-05-01T09:00:00Z.
func WithClock(start time.Time) Option {
	return func(s *Server) { s.now = start.UTC().Truncate(time.Second) }
}

// New starts a Server on 127.0.0.1 that stops when the test ends. It fails
// the test, saying what to install, when @octokit/webhooks-examples is
// missing.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("githubapi: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server outside a test, for the demo; Close stops it.
func Start(opts ...Option) (*Server, error) {
	tmpl, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		tmpl:     tmpl,
		now:      defaultStart,
		nextID:   1000,
		userIDs:  map[string]int64{},
		tokens:   map[string]actor{},
		apps:     map[int64]*rsa.PublicKey{},
		installs: map[int64]*installation{},
		repos:    map[string]*repo{},
		teams:    map[string]map[string]string{},
		used:     map[string]int{},
	}
	s.idle = sync.NewCond(&s.mu)
	for _, o := range opts {
		o(s)
	}
	s.routes()
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s, nil
}

// Close waits for the deliveries under way and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.Wait()
	s.srv.Close()
}

// URL is the API's base URL, like https://api.github.com/, with the
// trailing slash.
func (s *Server) URL() string { return s.srv.URL + "/" }

// EnterpriseURL is the API's base URL as GitHub Enterprise Server has it,
// under /api/v3/.
func (s *Server) EnterpriseURL() string { return s.srv.URL + "/api/v3/" }

// Now is the server's clock.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the server's clock forward by d, rounded to seconds.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.now.Add(d).Truncate(time.Second)
}

// tick advances the clock by one second for a write and returns the new
// time. Callers hold s.mu.
func (s *Server) tick() time.Time {
	s.now = s.now.Add(time.Second)
	return s.now
}

// id returns a new object ID. Callers hold s.mu.
func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// Request is one API request the server answered.
type Request struct {
	Method string
	// Path is the request path without the /api/v3 prefix and query.
	Path  string
	Query string
	// Enterprise is set when the request came under /api/v3/.
	Enterprise bool
	// Actor is who the credentials named: a login, or "app:ID" for a
	// GitHub App's JWT; empty when they were refused.
	Actor  string
	Status int
}

// Requests returns the requests answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// CountRequests counts the requests with method whose path matches
// pattern, as path.Match reads it ("/repos/*/*/issues/*/comments").
func (s *Server) CountRequests(method, pattern string) int {
	n := 0
	for _, r := range s.Requests() {
		if ok, _ := path.Match(pattern, r.Path); ok && r.Method == method {
			n++
		}
	}
	return n
}

// reqInfo is what the front of the server learned about a request.
type reqInfo struct {
	actor  actor
	prefix string // "/api/v3" or ""
}

type ctxKey struct{}

func info(r *http.Request) reqInfo {
	ri, _ := r.Context().Value(ctxKey{}).(reqInfo)
	return ri
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveHTTP strips the Enterprise prefix, authenticates, applies injected
// faults and rate-limit headers, routes, and logs the request.
func (s *Server) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &statusWriter{ResponseWriter: rw}
	ri := reqInfo{}
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/api/v3/"); ok {
		ri.prefix, p = "/api/v3", "/"+rest
	}
	r = r.Clone(r.Context())
	r.URL.Path, r.URL.RawPath = p, ""
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: p, Query: r.URL.RawQuery, Enterprise: ri.prefix != "",
			Actor: ri.actor.name(), Status: w.status,
		})
	}()
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.Header().Set("X-GitHub-Request-Id", fmt.Sprintf("%08X", uint32(time.Now().UnixNano())))

	who, status, msg := s.authenticate(r)
	if status != 0 {
		writeError(w, status, msg, docsREST)
		return
	}
	ri.actor = who
	s.mu.Lock()
	s.rateHeaders(w, who)
	s.mu.Unlock()
	if s.fault(w) {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, http.StatusNotFound, "Not Found", docsREST)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// rateHeaders counts a request against who's budget and sets the
// X-RateLimit headers; the window resets on the hour of the server's
// clock. Callers hold s.mu.
func (s *Server) rateHeaders(w http.ResponseWriter, who actor) {
	key := who.name()
	s.used[key]++
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(rateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(rateLimit-s.used[key], 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.used[key]))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now.Truncate(time.Hour).Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "githubapi: "+err.Error(), docsREST)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers GitHub's error body.
func writeError(w http.ResponseWriter, status int, message, docs string) {
	writeJSON(w, status, map[string]any{"message": message, "documentation_url": docs})
}

// validationFailed answers 422 as GitHub does for invalid fields.
func validationFailed(w http.ResponseWriter, resource, field, message, docs string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []any{map[string]any{"resource": resource, "code": "custom", "field": field, "message": message}},
		"documentation_url": docs,
	})
}

// readBody decodes a JSON request body of at most 1 MiB into v.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON", docsREST)
		return false
	}
	return true
}

// page cuts n items into the page the query asks for (per_page at most
// 100, 30 by default) and sets the Link header, as GitHub does. It
// returns the bounds of the page.
func (s *Server) page(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	pg, err := strconv.Atoi(q.Get("page"))
	if err != nil || pg <= 0 {
		pg = 1
	}
	last := max((n+per-1)/per, 1)
	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		u := url.URL{Scheme: "http", Host: r.Host, Path: info(r).prefix + r.URL.Path, RawQuery: q.Encode()}
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if pg > 1 {
		links = append(links, link(pg-1, "prev"))
	}
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((pg-1)*per, n)
	return lo, min(lo+per, n)
}

// stamp formats a time as GitHub does.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// stampOrNil is stamp, or JSON null for the zero time.
func stampOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return stamp(t)
}
