package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// SCIMServerDir is where the SCIM test server's script and packages live,
// relative to the top of the repository.
const SCIMServerDir = "test/harness/scimserver"

// SCIMInstallCommand installs the SCIM test server's packages; CI runs it at
// the top of the repository.
const SCIMInstallCommand = "npm ci --prefix " + SCIMServerDir

// SCIMServerOptions tunes StartSCIMServer.
type SCIMServerOptions struct {
	// Token is the bearer token the server requires; empty means a random
	// one.
	Token string
	// MaxPageSize caps how many resources one list answer holds, whatever
	// count the client asks for, as real IdPs do; zero means no cap.
	MaxPageSize int
	// Log receives the server's standard error with one line per request;
	// nil discards it.
	Log io.Writer
	// StartTimeout bounds how long the server may take to answer; zero
	// means 30 seconds.
	StartTimeout time.Duration
}

// SCIMServer is a real SCIM 2.0 service provider — scimmy and
// scimmy-routers on express under Node.js, keeping users and groups in
// memory — on a random loopback port.
type SCIMServer struct {
	url   string
	token string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	// stderr keeps the end of the server's standard error for errors.
	stderr *scimTail

	closeOnce sync.Once
	closeErr  error
}

// StartSCIMServer starts `node server.js` from test/harness/scimserver and
// waits until it answers. It fails, saying what to install, when Node.js or
// the server's packages are missing. Stop it with Close.
func StartSCIMServer(opts SCIMServerOptions) (*SCIMServer, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("the SCIM test server needs Node.js: install it (apt-get install nodejs npm), then run `%s` at the top of the repository", SCIMInstallCommand)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, SCIMServerDir)
	for _, pkg := range []string{"scimmy", "scimmy-routers", "express"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			return nil, fmt.Errorf("the SCIM test server's package %s is not installed in %s/node_modules: run `%s` at the top of the repository", pkg, dir, SCIMInstallCommand)
		}
	}
	if opts.Token == "" {
		opts.Token = scimRandomToken()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}

	s := &SCIMServer{token: opts.Token, done: make(chan struct{}), stderr: &scimTail{max: 4096}}
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	// The token goes through the environment, not the command line that
	// ps shows.
	cmd.Env = append(os.Environ(), "SCIM_TOKEN="+opts.Token, "SCIM_HOST=127.0.0.1", "SCIM_PORT=0", fmt.Sprintf("SCIM_MAX_PAGE=%d", opts.MaxPageSize))
	var stderr io.Writer = s.stderr
	if opts.Log != nil {
		cmd.Env = append(cmd.Env, "SCIM_LOG=1")
		stderr = io.MultiWriter(s.stderr, opts.Log)
	}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The server exits when its standard input closes, so it dies with
	// this process even when Close is never called.
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the SCIM test server: %w", err)
	}
	s.cmd = cmd
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				started <- sc.Text()
				first = false
			}
		}
		close(started)
	}()
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()

	fail := func(format string, args ...any) (*SCIMServer, error) {
		_ = s.Close()
		msg := fmt.Sprintf(format, args...)
		if tail := strings.TrimSpace(s.stderr.String()); tail != "" {
			msg += "\n" + tail
		}
		return nil, errors.New(msg)
	}
	deadline := time.Now().Add(opts.StartTimeout)
	select {
	case line, ok := <-started:
		var hello struct {
			URL string `json:"url"`
		}
		if !ok || json.Unmarshal([]byte(line), &hello) != nil || hello.URL == "" {
			return fail("the SCIM test server did not say where it listens (got %q)", line)
		}
		s.url = hello.URL
	case <-time.After(opts.StartTimeout):
		return fail("the SCIM test server did not start within %s", opts.StartTimeout)
	}
	for {
		code, err := s.request(context.Background(), http.MethodGet, "/ServiceProviderConfig", nil, nil)
		if err == nil && code == http.StatusOK {
			return s, nil
		}
		if time.Now().After(deadline) {
			return fail("the SCIM test server at %s does not answer: %d %v", s.url, code, err)
		}
		select {
		case <-s.done:
			return fail("the SCIM test server exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the SCIM base URL, http://127.0.0.1:PORT/scim/v2, that /Users and
// /Groups are under.
func (s *SCIMServer) URL() string { return s.url }

// Token is the bearer token the server requires.
func (s *SCIMServer) Token() string { return s.token }

// Close stops the server and waits for it to exit.
func (s *SCIMServer) Close() error {
	s.closeOnce.Do(func() {
		if s.stdin != nil {
			_ = s.stdin.Close()
		}
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.closeErr = errors.New("the SCIM test server did not exit when asked; killed it")
		}
	})
	return s.closeErr
}

// CreateUser creates a user the way an administrator or an HR feed would,
// with POST /Users, and returns its id. userName is usually the e-mail.
func (s *SCIMServer) CreateUser(ctx context.Context, userName, email string) (string, error) {
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"active":   true,
	}
	if email != "" {
		body["emails"] = []map[string]any{{"value": email, "primary": true, "type": "work"}}
	}
	return s.create(ctx, "/Users", body)
}

// CreateGroup creates a group with POST /Groups, as a person or another
// tool would, holding the users with memberIDs. externalID may be empty.
func (s *SCIMServer) CreateGroup(ctx context.Context, displayName, externalID string, memberIDs ...string) (string, error) {
	members := []map[string]string{}
	for _, id := range memberIDs {
		members = append(members, map[string]string{"value": id})
	}
	body := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": displayName,
		"members":     members,
	}
	if externalID != "" {
		body["externalId"] = externalID
	}
	return s.create(ctx, "/Groups", body)
}

func (s *SCIMServer) create(ctx context.Context, path string, body any) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	code, err := s.request(ctx, http.MethodPost, path, body, &out)
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated || out.ID == "" {
		return "", fmt.Errorf("POST %s: %d", path, code)
	}
	return out.ID, nil
}

// request sends one authenticated SCIM request and decodes the answer into
// out when it succeeds.
func (s *SCIMServer) request(ctx context.Context, method, path string, body, out any) (int, error) {
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, reader)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil && len(data) > 0 {
		return resp.StatusCode, json.Unmarshal(data, out)
	}
	return resp.StatusCode, nil
}

// SCIMFault is a failure a SCIMProxy answers with instead of, or after,
// passing a request on.
type SCIMFault struct {
	// Method and Path select requests: Path is matched as a prefix of the
	// path under the SCIM base URL, such as "/Groups"; empty matches any.
	Method, Path string
	// Status is the HTTP status to answer, such as 429 or 503.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// AfterForward passes the request on first and then answers with
	// Status: the server did the work but its answer was lost.
	AfterForward bool
	// Times is how many matching requests fail; zero means one.
	Times int
}

// SCIMProxy is a reverse proxy in front of a SCIMServer that injects the
// failures an identity provider shows under load, with the real server
// behind it.
type SCIMProxy struct {
	srv    *httptest.Server
	prefix string

	mu       sync.Mutex
	faults   []*SCIMFault
	requests []string
}

// StartProxy starts a SCIMProxy in front of s. Stop it with Close.
func (s *SCIMServer) StartProxy() *SCIMProxy {
	target, err := url.Parse(s.url)
	if err != nil {
		panic(err) // s.url came from the server and parsed before
	}
	p := &SCIMProxy{prefix: target.Path}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.Out.URL.Scheme = target.Scheme
		r.Out.URL.Host = target.Host
		r.Out.Host = target.Host
	}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.take(r)
		if f == nil {
			rec := &scimStatusRecorder{ResponseWriter: w, code: http.StatusOK}
			rp.ServeHTTP(rec, r)
			p.log(r, rec.code, "")
			return
		}
		if f.AfterForward {
			rp.ServeHTTP(&scimDiscard{header: http.Header{}}, r)
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"injected by the test proxy"}`, f.Status)
		p.log(r, f.Status, " (injected)")
	}))
	return p
}

// URL is the SCIM base URL through the proxy.
func (p *SCIMProxy) URL() string { return p.srv.URL + p.prefix }

// Inject adds a fault; faults are used in the order they were added.
func (p *SCIMProxy) Inject(f SCIMFault) {
	if f.Times == 0 {
		f.Times = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// Pending is how many injected failures have not happened yet.
func (p *SCIMProxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.faults {
		n += f.Times
	}
	return n
}

// Requests lists the requests the proxy saw, as "METHOD /path STATUS",
// with " (injected)" after a failure it made up.
func (p *SCIMProxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Close stops the proxy.
func (p *SCIMProxy) Close() { p.srv.Close() }

func (p *SCIMProxy) take(r *http.Request) *SCIMFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, p.prefix)
	for i, f := range p.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(path, f.Path) {
			f.Times--
			if f.Times == 0 {
				p.faults = append(p.faults[:i], p.faults[i+1:]...)
			}
			return f
		}
	}
	return nil
}

func (p *SCIMProxy) log(r *http.Request, code int, note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, fmt.Sprintf("%s %s %d%s", r.Method, strings.TrimPrefix(r.URL.Path, p.prefix), code, note))
}

type scimStatusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *scimStatusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// scimDiscard is a ResponseWriter that drops the answer.
type scimDiscard struct{ header http.Header }

func (d *scimDiscard) Header() http.Header         { return d.header }
func (d *scimDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (d *scimDiscard) WriteHeader(int)             {}

// scimTail keeps the last max bytes written to it.
type scimTail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *scimTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *scimTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func scimRandomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
