package source

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/allot-dev/allot/internal/netaddr"
)

// Defaults for the zero values of Config.
const (
	// DefaultBranch is the branch read when Config.Branch is empty.
	DefaultBranch = "main"
	// DefaultTimeout bounds one Fetch when Config.Timeout is zero.
	DefaultTimeout = 2 * time.Minute
	// DefaultMaxFiles bounds the files of a checked-out commit when
	// Config.MaxFiles is zero.
	DefaultMaxFiles = 20000
	// DefaultMaxBytes bounds the bytes of a checked-out commit when
	// Config.MaxBytes is zero.
	DefaultMaxBytes = 256 << 20
	// DefaultHTTPUsername is the basic-auth user sent with Config.Token
	// when Config.Username is empty; GitHub and most hosts accept any
	// user with a token, and this is the one GitHub documents.
	DefaultHTTPUsername = "x-access-token"
)

// Config says where the requests repository is and how to read it.
type Config struct {
	// URL is the repository: a local path, file:///path,
	// https://host/org/repo.git, ssh://git@host/org/repo.git or
	// git@host:org/repo.git. Credentials in an https URL
	// (https://user:token@host/...) are moved to Username and Token.
	// Plain http:// is accepted only for loopback addresses, for tests:
	// whoever can change what allot reads can run workloads in its
	// clusters. git:// is refused for the same reason.
	URL string
	// Branch is the branch to read; empty means DefaultBranch.
	Branch string
	// Ref, when set, is a full reference name read instead of Branch, such
	// as refs/pull/7/head, the head of a GitHub pull request.
	Ref string

	// Username is the basic-auth user for https; empty means
	// DefaultHTTPUsername.
	Username string
	// Token is sent for https as the basic-auth password. It never
	// appears in errors.
	Token string

	// SSHKeyFile is an unencrypted private key (PEM or OpenSSH format),
	// required for ssh URLs.
	SSHKeyFile string
	// KnownHostsFile is an OpenSSH known_hosts file that must hold the
	// server's host key, required for ssh URLs. Host keys are always
	// checked.
	KnownHostsFile string

	// Dir is where the working copy lives between passes. It must be
	// empty, missing, or a working copy an earlier Fetch made; allot
	// refuses to take over any other folder, since it deletes files there.
	Dir string
	// Timeout bounds one Fetch, download included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// FullHistory fetches the whole history of the branch instead of only
	// its newest commit. Reconciling needs only the newest commit, and
	// Descends deepens a shallow working copy when it must. Turning it on
	// does not deepen a working copy made without it; use a new Dir.
	FullHistory bool

	// MaxFiles and MaxBytes bound the commit Fetch checks out, counted
	// over its tree before the working copy is touched; zero means
	// DefaultMaxFiles and DefaultMaxBytes. The download itself is bounded
	// only by Timeout.
	MaxFiles int
	MaxBytes int64
}

// Snapshot is the requests repository at one commit, checked out.
type Snapshot struct {
	// Dir is the working copy. Its files stay as they are until the next
	// Fetch on the same Git.
	Dir string
	// Commit is the full hash of the checked-out commit.
	Commit string
	// Branch is the branch the commit was read from.
	Branch string
	// Time is the commit's committer time.
	Time time.Time
}

// Git reads the requests repository with go-git, keeping a working copy in
// Config.Dir between passes so that each Fetch downloads only what changed.
//
// A Git is safe for concurrent use: Fetch calls run one at a time. The
// working copy belongs to one Git: two Git values, or two processes, must
// not share a Dir.
type Git struct {
	cfg      Config
	kind     urlKind
	url      string // what go-git connects to: no credentials
	shownURL string // what errors show
	auth     transport.AuthMethod
	secrets  []string

	mu   sync.Mutex // serialises Fetch
	last struct {
		sync.Mutex
		commit string
	}
}

// urlKind is the transport a URL selects.
type urlKind int

const (
	kindLocal urlKind = iota
	kindHTTP
	kindSSH
)

// New checks cfg and returns a Git for it. It reads the SSH key and the
// known_hosts file, but does not contact the server. Errors wrap
// ErrInvalidConfig.
func New(cfg Config) (*Git, error) {
	g, err := newGit(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return g, nil
}

func newGit(cfg Config) (*Git, error) {
	if cfg.Branch == "" {
		cfg.Branch = DefaultBranch
	}
	if err := plumbing.NewBranchReferenceName(cfg.Branch).Validate(); err != nil || strings.HasPrefix(cfg.Branch, "-") {
		return nil, fmt.Errorf("branch %q is not a valid branch name", cfg.Branch)
	}
	if cfg.Ref != "" {
		if err := plumbing.ReferenceName(cfg.Ref).Validate(); err != nil || !strings.HasPrefix(cfg.Ref, "refs/") {
			return nil, fmt.Errorf("ref %q is not a full reference name such as refs/pull/7/head", cfg.Ref)
		}
	}
	if cfg.Timeout < 0 || cfg.MaxFiles < 0 || cfg.MaxBytes < 0 {
		return nil, errors.New("timeout, max files and max bytes must not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxFiles == 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Dir == "" {
		return nil, errors.New("dir for the working copy is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("dir %s: %w", cfg.Dir, err)
	}
	cfg.Dir = dir

	g := &Git{cfg: cfg}
	switch {
	case cfg.URL == "":
		return nil, errors.New("url of the requests repository is required")
	case strings.HasPrefix(cfg.URL, "https://"), strings.HasPrefix(cfg.URL, "http://"):
		err = g.configureHTTP()
	case strings.HasPrefix(cfg.URL, "ssh://"), isSCPLike(cfg.URL):
		err = g.configureSSH()
	case strings.HasPrefix(cfg.URL, "file://"), !strings.Contains(cfg.URL, "://"):
		err = g.configureLocal()
	default:
		scheme, _, _ := strings.Cut(cfg.URL, "://")
		err = fmt.Errorf("url scheme %q is not supported; use https, ssh, file or a local path", scheme)
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// isSCPLike reports whether u is scp-style, user@host:path, which git reads
// as ssh.
func isSCPLike(u string) bool {
	if strings.Contains(u, "://") {
		return false
	}
	colon := strings.Index(u, ":")
	slash := strings.Index(u, "/")
	return colon > 1 && (slash < 0 || colon < slash)
}

func (g *Git) configureHTTP() error {
	u, err := url.Parse(g.cfg.URL)
	if err != nil {
		// url.Parse quotes its input, credentials included.
		return errors.New("url is not a valid http(s) URL")
	}
	if u.Host == "" {
		return errors.New("url has no host")
	}
	if u.User != nil {
		password, hasPassword := u.User.Password()
		if hasPassword && g.cfg.Token != "" {
			return errors.New("url holds a password and token is set too; give the token once")
		}
		if g.cfg.Username == "" {
			g.cfg.Username = u.User.Username()
		}
		if hasPassword {
			g.cfg.Token = password
		}
		u.User = nil
	}
	if u.Scheme == "http" && !netaddr.IsLoopback(u.Hostname()) {
		return fmt.Errorf("url %s uses plain http; use https (http is accepted only for loopback addresses)", u.Redacted())
	}
	if g.cfg.SSHKeyFile != "" || g.cfg.KnownHostsFile != "" {
		return errors.New("ssh key and known_hosts files are for ssh URLs, not http(s)")
	}
	g.kind = kindHTTP
	g.url = u.String()
	g.shownURL = g.url
	if g.cfg.Token != "" {
		if g.cfg.Username == "" {
			g.cfg.Username = DefaultHTTPUsername
		}
		g.auth = &githttp.BasicAuth{Username: g.cfg.Username, Password: g.cfg.Token}
		g.secrets = append(g.secrets, g.cfg.Token, url.QueryEscape(g.cfg.Token), url.PathEscape(g.cfg.Token))
	} else if g.cfg.Username != "" {
		return errors.New("username is set without a token")
	}
	return nil
}

func (g *Git) configureSSH() error {
	if g.cfg.Token != "" || g.cfg.Username != "" {
		return errors.New("username and token are for https URLs; ssh uses a key file")
	}
	ep, err := transport.NewEndpoint(g.cfg.URL)
	if err != nil || ep.Host == "" {
		return fmt.Errorf("url %s is not a valid ssh URL", g.cfg.URL)
	}
	if ep.Password != "" {
		return errors.New("ssh url must not hold a password; use a key file")
	}
	if g.cfg.SSHKeyFile == "" {
		return errors.New("ssh key file is required for ssh URLs")
	}
	if g.cfg.KnownHostsFile == "" {
		return errors.New("known_hosts file is required for ssh URLs; allot never skips host key checks")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	auth, err := gitssh.NewPublicKeysFromFile(user, g.cfg.SSHKeyFile, "")
	if err != nil {
		return fmt.Errorf("read ssh key file %s: %w", g.cfg.SSHKeyFile, err)
	}
	if _, err := os.Stat(g.cfg.KnownHostsFile); err != nil {
		return fmt.Errorf("read known_hosts file: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(g.cfg.KnownHostsFile)
	if err != nil {
		return fmt.Errorf("read known_hosts file %s: %w", g.cfg.KnownHostsFile, err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(port))
	algorithms := db.HostKeyAlgorithms(hostPort)
	if len(algorithms) == 0 {
		return fmt.Errorf("known_hosts file %s has no key for %s; add the server's host key (ssh-keyscan)", g.cfg.KnownHostsFile, hostPort)
	}
	auth.HostKeyCallback = db.HostKeyCallback()
	auth.HostKeyAlgorithms = algorithms
	g.kind = kindSSH
	g.url = g.cfg.URL
	g.shownURL = g.cfg.URL
	g.auth = auth
	return nil
}

func (g *Git) configureLocal() error {
	if g.cfg.Token != "" || g.cfg.Username != "" || g.cfg.SSHKeyFile != "" || g.cfg.KnownHostsFile != "" {
		return errors.New("credentials are for https and ssh URLs, not local paths")
	}
	p := g.cfg.URL
	if strings.HasPrefix(p, "file://") {
		u, err := url.Parse(p)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return fmt.Errorf("url %s is not a valid file URL; use file:///absolute/path", p)
		}
		p = u.Path
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return fmt.Errorf("path %s: %w", p, err)
	}
	if abs == g.cfg.Dir || strings.HasPrefix(g.cfg.Dir, abs+string(filepath.Separator)) {
		return fmt.Errorf("dir %s must not be inside the source repository %s", g.cfg.Dir, abs)
	}
	g.kind = kindLocal
	g.url = abs
	g.shownURL = abs
	return nil
}

// URL returns the repository address without credentials.
func (g *Git) URL() string { return g.shownURL }

// Branch returns the branch Fetch reads.
func (g *Git) Branch() string { return g.cfg.Branch }

// LastCommit returns the commit of the last successful Fetch, or "" before
// the first one.
func (g *Git) LastCommit() string {
	g.last.Lock()
	defer g.last.Unlock()
	return g.last.commit
}
