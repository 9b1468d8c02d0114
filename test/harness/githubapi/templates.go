package githubapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/allot-dev/allot/test/harness"
)

// templates are real objects GitHub sent, from @octokit/webhooks-examples,
// that the server copies and fills with its state, so that what it
// answers has GitHub's shapes. Each is JSON, decoded afresh for each use.
type templates struct {
	// Whole webhook payloads, by "event.action".
	payloads map[string][]byte
	// REST objects: pull_request, repository, user, comment, issue,
	// check_run, and push_repository (a push event's repository, whose
	// owner and times differ).
	objects map[string][]byte
}

// Template strings that name the example repository and hosts; the
// server rewrites them to its own.
const (
	exampleRepo = "Codertocat/Hello-World"
	exampleUser = "Codertocat"
	githubAPI   = "https://api.github.com/"
	githubWeb   = "https://github.com/"
)

// loadTemplates reads the examples once per test binary: they never
// change, and the file is large.
var loadTemplates = sync.OnceValues(func() (*templates, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	examples, err := harness.LoadWebhookExamples(root)
	if err != nil {
		return nil, err
	}
	t := &templates{payloads: map[string][]byte{}, objects: map[string][]byte{}}
	for _, ea := range []string{"pull_request.opened", "pull_request.synchronize", "pull_request.closed", "issue_comment.created", "issue_comment.edited"} {
		event, action, _ := strings.Cut(ea, ".")
		payload, err := examples.Find(event, action)
		if err != nil {
			return nil, err
		}
		t.payloads[ea] = payload
	}
	// A push to a branch, with commits, rather than a tag.
	for _, ex := range examples["push"] {
		var p struct {
			Ref     string            `json:"ref"`
			Commits []json.RawMessage `json:"commits"`
		}
		if json.Unmarshal(ex.Payload, &p) == nil && strings.HasPrefix(p.Ref, "refs/heads/") && len(p.Commits) > 0 {
			t.payloads["push"] = ex.Payload
			break
		}
	}
	if t.payloads["push"] == nil {
		return nil, errors.New("no push to a branch with commits in @octokit/webhooks-examples")
	}
	checkRun, err := examples.Find("check_run", "created")
	if err != nil {
		return nil, err
	}
	for name, src := range map[string]struct {
		payload []byte
		key     string
	}{
		"pull_request":    {t.payloads["pull_request.synchronize"], "pull_request"},
		"repository":      {t.payloads["pull_request.synchronize"], "repository"},
		"user":            {t.payloads["pull_request.synchronize"], "sender"},
		"comment":         {t.payloads["issue_comment.created"], "comment"},
		"issue":           {t.payloads["issue_comment.created"], "issue"},
		"check_run":       {checkRun, "check_run"},
		"push_repository": {t.payloads["push"], "repository"},
	} {
		var whole map[string]json.RawMessage
		if err := json.Unmarshal(src.payload, &whole); err != nil || len(whole[src.key]) == 0 {
			return nil, fmt.Errorf("webhook example has no %s object", src.key)
		}
		t.objects[name] = whole[src.key]
	}
	return t, nil
})

// object returns a fresh copy of a template object.
func (t *templates) object(name string) map[string]any {
	return decode(t.objects[name])
}

// payload returns a fresh copy of a template payload.
func (t *templates) payload(name string) map[string]any {
	return decode(t.payloads[name])
}

func decode(data []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		panic(fmt.Sprintf("githubapi: template: %v", err))
	}
	return m
}

// rewrite replaces, in every string of v, the example's names and hosts.
func rewrite(v any, r *strings.Replacer) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = rewrite(x, r)
		}
	case []any:
		for i, x := range v {
			v[i] = rewrite(x, r)
		}
	case string:
		return r.Replace(v)
	}
	return v
}

// set assigns fields of a template object, and fails loudly when the
// template lacks one: the server only fills fields GitHub sends.
func set(obj map[string]any, fields map[string]any) {
	for k, v := range fields {
		if _, ok := obj[k]; !ok {
			panic(fmt.Sprintf("githubapi: template object has no field %q", k))
		}
		obj[k] = v
	}
}
