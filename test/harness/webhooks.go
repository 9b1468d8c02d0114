package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// WebhookExamplesDir is where the GitHub webhook examples package
// (@octokit/webhooks-examples, npm) is installed, relative to the top of the
// repository.
const WebhookExamplesDir = "test/harness/webhookexamples"

// WebhookExamplesInstallCommand installs the webhook examples; CI runs it at
// the top of the repository.
const WebhookExamplesInstallCommand = "npm ci --prefix " + WebhookExamplesDir

// webhookExamplesIndex is the file of the package that holds the payloads
// recorded from github.com, grouped by event.
const webhookExamplesIndex = "node_modules/@octokit/webhooks-examples/api.github.com/index.json"

// WebhookExample is one real webhook payload that GitHub sent, as recorded
// in @octokit/webhooks-examples.
type WebhookExample struct {
	// Event is the X-GitHub-Event name, for example "pull_request".
	Event string
	// Action is the payload's action, for example "opened"; empty for
	// events without one, such as push.
	Action string
	// Payload is the request body GitHub sends.
	Payload json.RawMessage
}

// WebhookExamples holds the recorded payloads by event name, in the
// package's order.
type WebhookExamples map[string][]WebhookExample

// LoadWebhookExamples reads the github.com payloads of
// @octokit/webhooks-examples installed under root, the top of the
// repository. When the package is not installed the error says how to
// install it.
func LoadWebhookExamples(root string) (WebhookExamples, error) {
	path := filepath.Join(root, WebhookExamplesDir, webhookExamplesIndex)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read webhook examples (run %q at the top of the repository to install them): %w",
			WebhookExamplesInstallCommand, err)
	}
	var index []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("parse webhook examples %s: %w", path, err)
	}
	out := make(WebhookExamples, len(index))
	for _, event := range index {
		for i, payload := range event.Examples {
			var head struct {
				Action string `json:"action"`
			}
			if err := json.Unmarshal(payload, &head); err != nil {
				return nil, fmt.Errorf("parse webhook example %s[%d] in %s: %w", event.Name, i, path, err)
			}
			out[event.Name] = append(out[event.Name], WebhookExample{Event: event.Name, Action: head.Action, Payload: payload})
		}
	}
	return out, nil
}

// Find returns the payload of the first example of event with action; an
// empty action matches any.
func (e WebhookExamples) Find(event, action string) ([]byte, error) {
	for _, ex := range e[event] {
		if action == "" || ex.Action == action {
			return ex.Payload, nil
		}
	}
	return nil, fmt.Errorf("no webhook example for event %q with action %q in @octokit/webhooks-examples", event, action)
}
