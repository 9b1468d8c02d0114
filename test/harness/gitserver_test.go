package harness

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// startGitServer serves a fresh root holding requests.git with one commit.
func startGitServer(t *testing.T, opts GitServerOptions) (*GitServer, *GitRepo) {
	t.Helper()
	root := t.TempDir()
	repo, err := NewGitRepo(filepath.Join(root, "requests.git"), t.TempDir(), "main")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteFile("allot.yaml", "kind: Platform\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit("platform"); err != nil {
		t.Fatal(err)
	}
	srv, err := StartGitServer(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, repo
}

// withUser puts user and password into an http URL.
func withUser(t *testing.T, raw, user, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func TestGitServerClones(t *testing.T) {
	const token = "s3cret-token"
	srv, repo := startGitServer(t, GitServerOptions{Token: token})
	head, err := repo.Git("rev-parse", "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   func() []string
		wantOK bool
	}{
		{
			name:   "with the token as basic-auth password",
			args:   func() []string { return []string{"clone", withUser(t, srv.URL("requests.git"), "anyone", token)} },
			wantOK: true,
		},
		{
			name: "with the token as bearer token",
			args: func() []string {
				return []string{"-c", "http.extraHeader=Authorization: Bearer " + token, "clone", srv.URL("requests.git")}
			},
			wantOK: true,
		},
		{
			name:   "not with a wrong token",
			args:   func() []string { return []string{"clone", withUser(t, srv.URL("requests.git"), "anyone", "wrong")} },
			wantOK: false,
		},
		{
			name:   "not without credentials",
			args:   func() []string { return []string{"clone", srv.URL("requests.git")} },
			wantOK: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := RunGit(dir, append(tt.args(), "copy")...)
			if !tt.wantOK {
				if err == nil {
					t.Fatal("clone succeeded, want it refused")
				}
				if !strings.Contains(err.Error(), "Authentication failed") && !strings.Contains(err.Error(), "could not read Username") {
					t.Errorf("clone error = %v, want an authentication failure", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := RunGit(filepath.Join(dir, "copy"), "rev-parse", "HEAD")
			if err != nil {
				t.Fatal(err)
			}
			if got != head {
				t.Errorf("cloned HEAD = %s, want %s", got, head)
			}
		})
	}
}

func TestGitServerAnswers401(t *testing.T) {
	srv, _ := startGitServer(t, GitServerOptions{Token: "right", Username: "bot"})
	tests := []struct {
		name       string
		setAuth    func(*http.Request)
		wantStatus int
	}{
		{"to a request without credentials", func(*http.Request) {}, http.StatusUnauthorized},
		{"to a wrong basic-auth password", func(r *http.Request) { r.SetBasicAuth("bot", "wrong") }, http.StatusUnauthorized},
		{"to a wrong basic-auth user", func(r *http.Request) { r.SetBasicAuth("someone", "right") }, http.StatusUnauthorized},
		{"to a wrong bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }, http.StatusUnauthorized},
		{"but not to the right basic auth", func(r *http.Request) { r.SetBasicAuth("bot", "right") }, http.StatusOK},
		{"but not to the right bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer right") }, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL("requests.git")+"/info/refs?service=git-upload-pack", nil)
			if err != nil {
				t.Fatal(err)
			}
			tt.setAuth(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.wantStatus == http.StatusOK && resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
				t.Errorf("content type = %q, want git's smart-HTTP advertisement", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestGitServerPush(t *testing.T) {
	tests := []struct {
		name   string
		push   bool
		wantOK bool
	}{
		{"is refused by default", false, false},
		{"works when enabled, with a body over git's post buffer", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, repo := startGitServer(t, GitServerOptions{Token: "tok", Push: tt.push})
			work := t.TempDir()
			remote := withUser(t, srv.URL("requests.git"), "bot", "tok")
			if _, err := RunGit(work, "clone", "--quiet", remote, "."); err != nil {
				t.Fatal(err)
			}
			// Random bytes do not compress, so the pack is over 1 MiB and
			// git sends it chunked.
			big := make([]byte, 2<<20)
			if _, err := rand.Read(big); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := RunGit(work, "add", "big.bin"); err != nil {
				t.Fatal(err)
			}
			if _, err := RunGit(work, "commit", "--quiet", "-m", "big"); err != nil {
				t.Fatal(err)
			}
			_, err := RunGit(work, "push", "--quiet", "origin", "HEAD:main")
			if !tt.wantOK {
				if err == nil {
					t.Fatal("push succeeded, want it refused")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := RunGit(work, "rev-parse", "HEAD")
			if err != nil {
				t.Fatal(err)
			}
			got, err := RunGit(repo.Bare, "rev-parse", "main")
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("bare repository main = %s, want the pushed %s", got, want)
			}
		})
	}
}

func TestGitServerWithoutToken(t *testing.T) {
	t.Run("lets anyone clone", func(t *testing.T) {
		srv, _ := startGitServer(t, GitServerOptions{})
		if _, err := RunGit(t.TempDir(), "clone", "--quiet", srv.URL("requests.git"), "copy"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("answers 404 for a missing repository", func(t *testing.T) {
		srv, _ := startGitServer(t, GitServerOptions{})
		resp, err := http.Get(srv.URL("missing.git") + "/info/refs?service=git-upload-pack")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status = %d, want 404", resp.StatusCode)
		}
	})
}

// sshKey writes a new private key to dir and returns its path and public
// key.
func sshKey(t *testing.T, dir string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, sshPub
}

func TestGitSSHServerClones(t *testing.T) {
	root := t.TempDir()
	repo, err := NewGitRepo(filepath.Join(root, "requests.git"), t.TempDir(), "main")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.WriteFile("allot.yaml", "kind: Platform\n"); err != nil {
		t.Fatal(err)
	}
	head, err := repo.Commit("platform")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pub := sshKey(t, t.TempDir())
	strangerKey, _ := sshKey(t, t.TempDir())
	srv, err := StartGitSSHServer(root, GitSSHServerOptions{AuthorizedKeys: []ssh.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, otherHostKey := sshKey(t, t.TempDir())
	wrongKnownHosts := filepath.Join(dir, "wrong_known_hosts")
	line := strings.Fields(srv.KnownHostsLine())[0] + " " + string(ssh.MarshalAuthorizedKey(otherHostKey))
	if err := os.WriteFile(wrongKnownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		key        string
		knownHosts string
		wantErr    string
	}{
		{"with an authorized key and the host key known", keyFile, knownHosts, ""},
		{"not with a key it does not know", strangerKey, knownHosts, "Permission denied"},
		{"not when the host key differs from known_hosts", keyFile, wrongKnownHosts, "Host key verification failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sshCommand := "ssh -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes" +
				" -o UserKnownHostsFile=" + tt.knownHosts + " -i " + tt.key
			work := t.TempDir()
			_, err := RunGit(work, "-c", "core.sshCommand="+sshCommand, "clone", "--quiet", srv.URL("requests.git"), "copy")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("clone error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := RunGit(filepath.Join(work, "copy"), "rev-parse", "HEAD")
			if err != nil {
				t.Fatal(err)
			}
			if got != head {
				t.Errorf("cloned HEAD = %s, want %s", got, head)
			}
		})
	}
}
