package githubapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// FixturesDir is where @octokit/fixtures (npm), exchanges recorded with
// api.github.com, is installed, relative to the top of the repository.
const FixturesDir = "test/harness/githubfixtures"

// FixturesInstallCommand installs the recorded exchanges; CI runs it at
// the top of the repository.
const FixturesInstallCommand = "npm ci --prefix " + FixturesDir

// Exchange is one recorded request to api.github.com and its answer.
type Exchange struct {
	// Method is upper-case; Path includes the query.
	Method      string
	Path        string
	RequestBody json.RawMessage
	Status      int
	Response    json.RawMessage
	Header      http.Header
}

// LoadFixture reads the exchanges of an api.github.com scenario of
// @octokit/fixtures installed under root, the top of the repository, for
// example "create-status". When the package is not installed the error
// says how to install it.
func LoadFixture(root, scenario string) ([]Exchange, error) {
	path := filepath.Join(root, FixturesDir, "node_modules/@octokit/fixtures/scenarios/api.github.com", scenario, "normalized-fixture.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read recorded GitHub exchanges (run %q at the top of the repository to install them): %w", FixturesInstallCommand, err)
	}
	var raw []struct {
		Method   string          `json:"method"`
		Path     string          `json:"path"`
		Body     json.RawMessage `json:"body"`
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
		Headers  map[string]any  `json:"headers"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	out := make([]Exchange, 0, len(raw))
	for _, x := range raw {
		h := http.Header{}
		for k, v := range x.Headers {
			h.Set(k, fmt.Sprint(v))
		}
		out = append(out, Exchange{
			Method: strings.ToUpper(x.Method), Path: x.Path, RequestBody: x.Body,
			Status: x.Status, Response: x.Response, Header: h,
		})
	}
	return out, nil
}

// Replay answers requests with recorded exchanges, in order, whatever
// they ask: the test maps its requests to the recording and checks them
// with Requests.
type Replay struct {
	srv *httptest.Server

	mu        sync.Mutex
	exchanges []Exchange
	requests  []ReplayedRequest
}

// ReplayedRequest is a request a Replay answered.
type ReplayedRequest struct {
	Method string
	// Path includes the query.
	Path string
	Body []byte
}

// NewReplay starts a Replay of exchanges on 127.0.0.1 that stops when the
// test ends. Its URL is an API base like Server.URL.
func NewReplay(t testing.TB, exchanges []Exchange) *Replay {
	rp := &Replay{exchanges: slices.Clone(exchanges)}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	return rp
}

// URL is the API's base URL, with the trailing slash.
func (rp *Replay) URL() string { return rp.srv.URL + "/" }

// Requests returns the requests answered so far.
func (rp *Replay) Requests() []ReplayedRequest {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return slices.Clone(rp.requests)
}

func (rp *Replay) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rp.mu.Lock()
	rp.requests = append(rp.requests, ReplayedRequest{Method: r.Method, Path: r.URL.RequestURI(), Body: body})
	if len(rp.exchanges) == 0 {
		rp.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "replay: no recorded exchange left", docsREST)
		return
	}
	x := rp.exchanges[0]
	rp.exchanges = rp.exchanges[1:]
	rp.mu.Unlock()
	for k, v := range x.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding":
		default:
			w.Header()[http.CanonicalHeaderKey(k)] = v
		}
	}
	out := []byte(x.Response)
	var text string
	if json.Unmarshal(x.Response, &text) == nil { // recorded as a string, such as an empty 204
		out = []byte(text)
	}
	w.WriteHeader(x.Status)
	_, _ = w.Write(out)
}
