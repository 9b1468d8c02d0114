package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/allot-dev/allot/test/harness"
)

func TestFetchOverSSH(t *testing.T) {
	s := newSource(t, requests())
	keys := t.TempDir()
	keyFile, pub := sshKeyFile(t, keys, "id_ed25519")
	strangerKey, _ := sshKeyFile(t, keys, "id_stranger")
	_, otherHostKey := sshKeyFile(t, keys, "other_host_key")
	srv, err := harness.StartGitSSHServer(s.root, harness.GitSSHServerOptions{AuthorizedKeys: []ssh.PublicKey{pub}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	knownHosts := filepath.Join(keys, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.Fields(srv.KnownHostsLine())[0]
	wrongKnownHosts := knownHostsFile(t, t.TempDir(), otherHostKey, host)

	t.Run("clones with a known host key and follows the branch", func(t *testing.T) {
		g := mustNew(t, Config{URL: srv.URL("requests.git"), SSHKeyFile: keyFile, KnownHostsFile: knownHosts})
		snap := mustFetch(t, g)
		if snap.Commit != s.head {
			t.Errorf("commit = %s, want %s", snap.Commit, s.head)
		}
		if diff := cmp.Diff(requests(), readTree(t, snap.Dir)); diff != "" {
			t.Errorf("working copy (-want +got):\n%s", diff)
		}
		head := s.commit(t, "qa goes", map[string]string{"environments/team-b/qa.yaml": ""})
		snap = mustFetch(t, g)
		if snap.Commit != head {
			t.Errorf("commit = %s, want %s", snap.Commit, head)
		}
		want := requests()
		delete(want, "environments/team-b/qa.yaml")
		if diff := cmp.Diff(want, readTree(t, snap.Dir)); diff != "" {
			t.Errorf("working copy (-want +got):\n%s", diff)
		}
	})

	tests := []struct {
		name       string
		key        string
		knownHosts string
		wantKind   error
	}{
		{"fails with ErrAuth on a key the server does not know", strangerKey, knownHosts, ErrAuth},
		{"fails with ErrHostKey when the host key differs from known_hosts", keyFile, wrongKnownHosts, ErrHostKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustNew(t, Config{URL: srv.URL("requests.git"), SSHKeyFile: tt.key, KnownHostsFile: tt.knownHosts})
			_, err := g.Fetch(context.Background())
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.wantKind) {
				t.Fatalf("error = %v, want %v", err, tt.wantKind)
			}
			var gitErr *Error
			if !errors.As(err, &gitErr) || gitErr.Op != OpFetch {
				t.Errorf("error = %#v, want an *Error of op %s", err, OpFetch)
			}
		})
	}
}
