package source

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshKeyFile writes a new private key to dir and returns its path and its
// public key.
func sshKeyFile(t *testing.T, dir, name string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, sshPub
}

// knownHostsFile writes a known_hosts file trusting key for hosts.
func knownHostsFile(t *testing.T, dir string, key ssh.PublicKey, hosts ...string) string {
	t.Helper()
	p := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(p, []byte(knownhosts.Line(hosts, key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	keyFile, _ := sshKeyFile(t, dir, "id_ed25519")
	_, hostKey := sshKeyFile(t, dir, "host_key")
	knownHosts := knownHostsFile(t, dir, hostKey, "git.example.com", "[git.example.com]:2222")
	checkout := filepath.Join(dir, "checkout")

	t.Run("accepts", func(t *testing.T) {
		tests := []struct {
			name     string
			cfg      Config
			wantURL  string
			wantAuth string
		}{
			{"an https URL with a token", Config{URL: "https://git.example.com/org/requests.git", Token: "t0k"},
				"https://git.example.com/org/requests.git", "x-access-token"},
			{"an https URL with a token and a user", Config{URL: "https://git.example.com/org/requests.git", Username: "bot", Token: "t0k"},
				"https://git.example.com/org/requests.git", "bot"},
			{"an https URL holding the token, which it moves out", Config{URL: "https://bot:t0k@git.example.com/org/requests.git"},
				"https://git.example.com/org/requests.git", "bot"},
			{"an https URL without credentials", Config{URL: "https://git.example.com/org/requests.git"},
				"https://git.example.com/org/requests.git", ""},
			{"plain http to a loopback address", Config{URL: "http://127.0.0.1:8080/requests.git", Token: "t0k"},
				"http://127.0.0.1:8080/requests.git", "x-access-token"},
			{"an ssh URL with a key and known hosts", Config{URL: "ssh://git@git.example.com/org/requests.git", SSHKeyFile: keyFile, KnownHostsFile: knownHosts},
				"ssh://git@git.example.com/org/requests.git", "git"},
			{"an ssh URL with a port", Config{URL: "ssh://deploy@git.example.com:2222/org/requests.git", SSHKeyFile: keyFile, KnownHostsFile: knownHosts},
				"ssh://deploy@git.example.com:2222/org/requests.git", "deploy"},
			{"an scp-like URL", Config{URL: "git@git.example.com:org/requests.git", SSHKeyFile: keyFile, KnownHostsFile: knownHosts},
				"git@git.example.com:org/requests.git", "git"},
			{"an absolute path", Config{URL: "/srv/git/requests.git"}, "/srv/git/requests.git", ""},
			{"a file URL", Config{URL: "file:///srv/git/requests.git"}, "/srv/git/requests.git", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.cfg.Dir = checkout
				g, err := New(tt.cfg)
				if err != nil {
					t.Fatal(err)
				}
				if g.URL() != tt.wantURL {
					t.Errorf("URL() = %q, want %q", g.URL(), tt.wantURL)
				}
				if g.Branch() != DefaultBranch {
					t.Errorf("Branch() = %q, want %q", g.Branch(), DefaultBranch)
				}
				if user := authUser(g); user != tt.wantAuth {
					t.Errorf("auth user = %q, want %q", user, tt.wantAuth)
				}
				if strings.Contains(g.URL(), "t0k") {
					t.Errorf("URL() %q holds the token", g.URL())
				}
			})
		}
	})

	t.Run("refuses", func(t *testing.T) {
		tests := []struct {
			name    string
			cfg     Config
			wantMsg string
		}{
			{"a missing URL", Config{Dir: checkout}, "url of the requests repository is required"},
			{"a missing Dir", Config{URL: "/srv/git/requests.git"}, "dir for the working copy is required"},
			{"an invalid branch", Config{URL: "/srv/git/requests.git", Dir: checkout, Branch: "a..b"}, "not a valid branch name"},
			{"a negative timeout", Config{URL: "/srv/git/requests.git", Dir: checkout, Timeout: -1}, "must not be negative"},
			{"a git:// URL", Config{URL: "git://git.example.com/requests.git", Dir: checkout}, `url scheme "git" is not supported`},
			{"plain http to another host", Config{URL: "http://git.example.com/requests.git", Dir: checkout}, "uses plain http; use https"},
			{"a token given twice", Config{URL: "https://bot:t0k@git.example.com/requests.git", Token: "t0k", Dir: checkout}, "give the token once"},
			{"a user without a token", Config{URL: "https://git.example.com/requests.git", Username: "bot", Dir: checkout}, "username is set without a token"},
			{"ssh files with https", Config{URL: "https://git.example.com/requests.git", SSHKeyFile: keyFile, Dir: checkout}, "are for ssh URLs"},
			{"a token with ssh", Config{URL: "git@git.example.com:org/requests.git", Token: "t0k", SSHKeyFile: keyFile, KnownHostsFile: knownHosts, Dir: checkout}, "are for https URLs"},
			{"ssh without a key file", Config{URL: "ssh://git@git.example.com/requests.git", KnownHostsFile: knownHosts, Dir: checkout}, "ssh key file is required"},
			{"ssh without a known_hosts file", Config{URL: "ssh://git@git.example.com/requests.git", SSHKeyFile: keyFile, Dir: checkout}, "known_hosts file is required"},
			{"ssh with a missing known_hosts file", Config{URL: "ssh://git@git.example.com/requests.git", SSHKeyFile: keyFile, KnownHostsFile: filepath.Join(dir, "nope"), Dir: checkout}, "read known_hosts file"},
			{"ssh with known_hosts lacking the host", Config{URL: "ssh://git@other.example.com/requests.git", SSHKeyFile: keyFile, KnownHostsFile: knownHosts, Dir: checkout}, "has no key for other.example.com:22"},
			{"ssh with known_hosts lacking the port", Config{URL: "ssh://git@git.example.com:2200/requests.git", SSHKeyFile: keyFile, KnownHostsFile: knownHosts, Dir: checkout}, "has no key for git.example.com:2200"},
			{"ssh with a missing key file", Config{URL: "ssh://git@git.example.com/requests.git", SSHKeyFile: filepath.Join(dir, "nope"), KnownHostsFile: knownHosts, Dir: checkout}, "read ssh key file"},
			{"ssh with a file that is no key", Config{URL: "ssh://git@git.example.com/requests.git", SSHKeyFile: knownHosts, KnownHostsFile: knownHosts, Dir: checkout}, "read ssh key file"},
			{"credentials with a local path", Config{URL: "/srv/git/requests.git", Token: "t0k", Dir: checkout}, "not local paths"},
			{"a Dir inside the local repository", Config{URL: "/srv/git/requests", Dir: "/srv/git/requests/.allot"}, "must not be inside the source repository"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := New(tt.cfg)
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("error = %v, want %v", err, ErrInvalidConfig)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error = %q, want it to say %q", err, tt.wantMsg)
				}
				if strings.Contains(err.Error(), "t0k") {
					t.Errorf("error %q holds the token", err)
				}
			})
		}
	})
}

// authUser returns the user g authenticates as, or "" without credentials.
func authUser(g *Git) string {
	switch a := g.auth.(type) {
	case *githttp.BasicAuth:
		return a.Username
	case *gitssh.PublicKeys:
		return a.User
	}
	return ""
}
