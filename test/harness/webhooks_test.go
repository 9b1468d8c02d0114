package harness

import (
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestWebhookExamples(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	examples, err := LoadWebhookExamples(root)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ event, action string }{
		{"pull_request", "opened"},
		{"pull_request", "synchronize"},
		{"pull_request", "reopened"},
		{"issue_comment", "created"},
		{"push", ""},
	} {
		t.Run(strings.TrimSpace("has "+tc.event+" "+tc.action), func(t *testing.T) {
			payload, err := examples.Find(tc.event, tc.action)
			if err != nil {
				t.Fatal(err)
			}
			var p struct {
				Action     string `json:"action"`
				Repository struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
			}
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatal(err)
			}
			if tc.action != "" && p.Action != tc.action {
				t.Errorf("action = %q, want %q", p.Action, tc.action)
			}
			if p.Repository.FullName == "" {
				t.Error("payload has no repository.full_name")
			}
		})
	}

	t.Run("reports an unknown action", func(t *testing.T) {
		if _, err := examples.Find("pull_request", "no-such-action"); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestWebhookExamplesMissing(t *testing.T) {
	_, err := LoadWebhookExamples(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want one wrapping fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), WebhookExamplesInstallCommand) {
		t.Errorf("error %q does not tell to run %q", err, WebhookExamplesInstallCommand)
	}
}
