package harness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxChunkedBody bounds a chunked request body the git server buffers,
// since CGI needs a length up front.
const maxChunkedBody = 256 << 20

// GitServerOptions tunes StartGitServer.
type GitServerOptions struct {
	// Token, when set, is required on every request, either as a bearer
	// token (Authorization: Bearer TOKEN) or as the basic-auth password;
	// any other request gets 401. Empty lets anyone read.
	Token string
	// Username, when set with Token, is the only basic-auth user accepted.
	Username string
	// Push lets clients push (git-receive-pack) once they pass the token
	// check.
	Push bool
	// ErrorLog receives git http-backend's standard error and the CGI
	// host's errors; nil discards them.
	ErrorLog io.Writer
}

// GitServer serves the bare repositories under a folder over git's smart
// HTTP protocol, with the real `git http-backend` behind net/http/cgi, on a
// random loopback port.
type GitServer struct {
	root string
	base string
	srv  *http.Server
	done chan error
}

// StartGitServer serves the bare repositories under root. Stop it with
// Close.
func StartGitServer(root string, opts GitServerOptions) (*GitServer, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("git server root %s is not a folder", root)
	}
	backend, err := gitHTTPBackend()
	if err != nil {
		return nil, err
	}
	errorLog := opts.ErrorLog
	if errorLog == nil {
		errorLog = io.Discard
	}
	receivePack := "false"
	if opts.Push {
		receivePack = "true"
	}
	handler := &cgi.Handler{
		Path: backend,
		Root: "/",
		Env: append(gitConfigEnv(),
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0="+receivePack,
		),
		Stderr: errorLog,
		Logger: log.New(errorLog, "git http-backend: ", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the git server: %w", err)
	}
	s := &GitServer{
		root: root,
		base: "http://" + ln.Addr().String(),
		srv: &http.Server{
			Handler:           authorize(opts, withLength(handler)),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          log.New(errorLog, "git server: ", 0),
		},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the address of the repository at root/repo, for example
// URL("requests.git").
func (s *GitServer) URL(repo string) string {
	return s.base + "/" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
}

// Root returns the folder the server serves.
func (s *GitServer) Root() string { return s.root }

// Close stops the server, waiting a little for requests under way.
func (s *GitServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// authorize lets a request through only with the token of opts.
func authorize(opts GitServerOptions, next http.Handler) http.Handler {
	if opts.Token == "" {
		return next
	}
	want := []byte(opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got []byte
		if user, password, ok := r.BasicAuth(); ok {
			if opts.Username == "" || user == opts.Username {
				got = []byte(password)
			}
		} else if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			got = []byte(token)
		}
		if got == nil || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="allot test git server"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withLength buffers a chunked request body, which CGI cannot pass on;
// git sends one for requests over its post buffer (1 MiB).
func withLength(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxChunkedBody+1))
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			if len(body) > maxChunkedBody {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.TransferEncoding = nil
		}
		next.ServeHTTP(w, r)
	})
}

// gitHTTPBackend finds the git-http-backend program next to git's other
// programs.
func gitHTTPBackend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("find git's programs with `git --exec-path`: %w; is git installed?", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return "", fmt.Errorf("git http-backend is missing: %w", err)
	}
	return backend, nil
}

// hermeticGitEnv is the environment for git commands the harness runs:
// no user or system configuration, no prompts, and none of the GIT_*
// variables of the calling process (a hook's GIT_DIR, say).
func hermeticGitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env, gitConfigEnv()...)
}

// gitConfigEnv keeps git from reading user or system configuration and
// from prompting.
func gitConfigEnv() []string {
	return []string{
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
	}
}

// RunGit runs git in dir with a hermetic environment and a fixed author,
// and returns its standard output without the trailing newline. The error
// holds git's standard error.
func RunGit(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{
		"-c", "user.name=allot test",
		"-c", "user.email=test@allot.invalid",
		"-c", "init.defaultBranch=main",
		"-c", "commit.gpgSign=false",
		"-c", "protocol.file.allow=always",
	}, args...)...)
	cmd.Dir = dir
	cmd.Env = hermeticGitEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}

// GitRepo is a bare repository and a work tree whose commits go to it:
// a source repository for tests, which a GitServer can serve when the bare
// repository lies under its root.
type GitRepo struct {
	// Bare is the bare repository.
	Bare string
	// Work is the work tree.
	Work string
	// Branch is the branch Commit pushes.
	Branch string
}

// NewGitRepo makes a bare repository at bare and a work tree at work that
// pushes to it on branch.
func NewGitRepo(bare, work, branch string) (*GitRepo, error) {
	for _, dir := range []string{bare, work} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if _, err := RunGit(bare, "init", "--quiet", "--bare", "--initial-branch="+branch); err != nil {
		return nil, err
	}
	if _, err := RunGit(work, "init", "--quiet", "--initial-branch="+branch); err != nil {
		return nil, err
	}
	if _, err := RunGit(work, "remote", "add", "origin", bare); err != nil {
		return nil, err
	}
	return &GitRepo{Bare: bare, Work: work, Branch: branch}, nil
}

// WriteFile writes content to the file at rel (slash-separated) in the
// work tree, making its folders.
func (r *GitRepo) WriteFile(rel, content string) error {
	p := filepath.Join(r.Work, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

// Remove deletes the file or folder at rel from the work tree.
func (r *GitRepo) Remove(rel string) error {
	return os.RemoveAll(filepath.Join(r.Work, filepath.FromSlash(rel)))
}

// Commit commits everything in the work tree, pushes it to the bare
// repository (forcing, so a rewritten history goes too) and returns the
// commit's hash.
func (r *GitRepo) Commit(message string) (string, error) {
	if _, err := RunGit(r.Work, "add", "--all"); err != nil {
		return "", err
	}
	if _, err := RunGit(r.Work, "commit", "--quiet", "--allow-empty", "-m", message); err != nil {
		return "", err
	}
	if _, err := RunGit(r.Work, "push", "--quiet", "--force", "origin", "HEAD:refs/heads/"+r.Branch); err != nil {
		return "", err
	}
	return RunGit(r.Work, "rev-parse", "HEAD")
}

// Git runs git in the work tree, like RunGit.
func (r *GitRepo) Git(args ...string) (string, error) {
	return RunGit(r.Work, args...)
}

// GitSSHServerOptions tunes StartGitSSHServer.
type GitSSHServerOptions struct {
	// AuthorizedKeys are the client keys let in; others are refused.
	AuthorizedKeys []ssh.PublicKey
	// Push lets clients push (git-receive-pack).
	Push bool
	// ErrorLog receives the server's errors; nil discards them. git's own
	// standard error goes to the client.
	ErrorLog io.Writer
}

// GitSSHServer serves the bare repositories under a folder over ssh, running
// the real git-upload-pack (and git-receive-pack) for each request, on a
// random loopback port with a fresh host key.
type GitSSHServer struct {
	root     string
	execPath string
	push     bool
	hostKey  ssh.PublicKey
	config   *ssh.ServerConfig
	ln       net.Listener
	log      *log.Logger

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// StartGitSSHServer serves the bare repositories under root over ssh. Stop
// it with Close.
func StartGitSSHServer(root string, opts GitSSHServerOptions) (*GitSSHServer, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("git server root %s is not a folder", root)
	}
	backend, err := gitHTTPBackend()
	if err != nil {
		return nil, err
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	authorized := make([]ssh.PublicKey, len(opts.AuthorizedKeys))
	copy(authorized, opts.AuthorizedKeys)
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		},
	}
	config.AddHostKey(signer)
	errorLog := opts.ErrorLog
	if errorLog == nil {
		errorLog = io.Discard
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the git ssh server: %w", err)
	}
	s := &GitSSHServer{
		root:     root,
		execPath: filepath.Dir(backend),
		push:     opts.Push,
		hostKey:  signer.PublicKey(),
		config:   config,
		ln:       ln,
		log:      log.New(errorLog, "git ssh server: ", 0),
		conns:    map[net.Conn]bool{},
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// URL returns the address of the repository at root/repo, for example
// URL("requests.git").
func (s *GitSSHServer) URL(repo string) string {
	return "ssh://git@" + s.ln.Addr().String() + "/" + strings.TrimPrefix(filepath.ToSlash(repo), "/")
}

// HostKey returns the server's host key.
func (s *GitSSHServer) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsLine returns a known_hosts line that trusts the server.
func (s *GitSSHServer) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.ln.Addr().String())}, s.hostKey)
}

// Close stops the server and ends the connections under way.
func (s *GitSSHServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *GitSSHServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *GitSSHServer) handleConn(c net.Conn) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		s.log.Printf("handshake: %v", err)
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	var sessions sync.WaitGroup
	defer sessions.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			s.log.Printf("accept channel: %v", err)
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			s.handleSession(ch, chReqs)
		}()
	}
}

// handleSession runs the one git command a session asks for.
func (s *GitSSHServer) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var protocol string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL" {
				protocol = kv.Value
			}
			_ = req.Reply(true, nil)
		case "exec":
			var execReq struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &execReq); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			cmd, err := s.gitCommand(execReq.Command, protocol)
			if err != nil {
				s.log.Printf("refuse %q: %v", execReq.Command, err)
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			status := s.run(cmd, ch)
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// gitCommand turns "git-upload-pack '/requests.git'" into a command that
// serves a repository under the root.
func (s *GitSSHServer) gitCommand(line, protocol string) (*exec.Cmd, error) {
	name, arg, ok := strings.Cut(line, " ")
	if !ok || (name != "git-upload-pack" && (!s.push || name != "git-receive-pack")) {
		return nil, errors.New("not a git command this server runs")
	}
	repo := strings.TrimSuffix(strings.TrimPrefix(arg, "'"), "'")
	if strings.ContainsAny(repo, "'\\") {
		return nil, errors.New("quoted repository paths are not supported")
	}
	dir := filepath.Join(s.root, filepath.Clean("/"+repo))
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(s.execPath, name), dir)
	cmd.Env = hermeticGitEnv()
	if protocol != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+protocol)
	}
	return cmd, nil
}

// run runs cmd with its standard streams on ch and returns its exit status.
func (s *GitSSHServer) run(cmd *exec.Cmd, ch ssh.Channel) uint32 {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 255
	}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	if err := cmd.Start(); err != nil {
		s.log.Printf("start %s: %v", cmd.Path, err)
		return 255
	}
	// Not waited for: the client sends EOF only after the exit status.
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && exitErr.ExitCode() > 0 {
			return uint32(exitErr.ExitCode())
		}
		return 255
	}
	return 0
}
