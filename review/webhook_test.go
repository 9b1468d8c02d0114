package review

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/allot-dev/allot/test/harness"
)

var testSecret = []byte("It's a Secret to Everybody")

// webhookExamples loads @octokit/webhooks-examples once for the package.
var webhookExamples = sync.OnceValues(func() (harness.WebhookExamples, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	return harness.LoadWebhookExamples(root)
})

// examplePayload returns a real payload GitHub sent for event and action.
func examplePayload(t *testing.T, event, action string) []byte {
	t.Helper()
	examples, err := webhookExamples()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := examples.Find(event, action)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// onPullRequest turns a real issue_comment payload into one for a comment
// on a pull request: GitHub then links the issue to its pull request.
func onPullRequest(t *testing.T, payload []byte) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	issue := p["issue"].(map[string]any)
	repo := p["repository"].(map[string]any)["full_name"].(string)
	issue["pull_request"] = map[string]any{
		"url":      fmt.Sprintf("https://api.github.com/repos/%s/pulls/%v", repo, issue["number"]),
		"html_url": fmt.Sprintf("https://github.com/%s/pull/%v", repo, issue["number"]),
	}
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var deliveryID atomic.Int64

// newDelivery returns a unique X-GitHub-Delivery value.
func newDelivery() string {
	return fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", deliveryID.Add(1))
}

// delivery is one webhook request as GitHub sends it.
type delivery struct {
	method      string
	event       string
	id          string
	body        []byte
	contentType string
	headers     map[string]string // set last; an empty value removes the header
}

// signedDelivery returns a request GitHub would send for event with body.
func signedDelivery(event string, body []byte) delivery {
	return delivery{
		method:      http.MethodPost,
		event:       event,
		id:          newDelivery(),
		body:        body,
		contentType: "application/json",
		headers:     map[string]string{"X-Hub-Signature-256": sign(testSecret, body)},
	}
}

// send makes the request over real HTTP and returns the status and body.
func send(t *testing.T, url string, d delivery) (int, string) {
	t.Helper()
	req, err := http.NewRequest(d.method, url, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	req.Header.Set("Content-Type", d.contentType)
	req.Header.Set("X-GitHub-Event", d.event)
	req.Header.Set("X-GitHub-Delivery", d.id)
	for k, v := range d.headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(text)
}

// webhookServer is a Handler behind a real HTTP server that records what
// it dispatches.
type webhookServer struct {
	*Handler
	url    string
	mu     sync.Mutex
	events []Event
}

func startWebhookServer(t *testing.T) *webhookServer {
	t.Helper()
	s := &webhookServer{}
	h, err := NewHandler(testSecret, func(ev Event) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.events = append(s.events, ev)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Handler = h
	s.url = startLimitServer(t, h).URL
	return s
}

// dispatched waits for the handler's dispatches and returns them.
func (s *webhookServer) dispatched() []Event {
	s.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

func TestWebhookDispatchesRealPayloads(t *testing.T) {
	for _, tc := range []struct {
		name    string
		event   string
		payload []byte
		want    Event
	}{
		{
			name:    "pull_request opened",
			event:   "pull_request",
			payload: examplePayload(t, "pull_request", "opened"),
			want:    Event{Name: "pull_request", Action: "opened", Repo: "Codertocat/Hello-World", PR: 2},
		},
		{
			name:    "pull_request synchronize",
			event:   "pull_request",
			payload: examplePayload(t, "pull_request", "synchronize"),
			want:    Event{Name: "pull_request", Action: "synchronize", Repo: "Codertocat/Hello-World", PR: 2},
		},
		{
			name:    "issue_comment created on a pull request",
			event:   "issue_comment",
			payload: onPullRequest(t, examplePayload(t, "issue_comment", "created")),
			want:    Event{Name: "issue_comment", Action: "created", Repo: "Codertocat/Hello-World", PR: 1},
		},
		{
			name:    "issue_comment created on an issue has no PR",
			event:   "issue_comment",
			payload: examplePayload(t, "issue_comment", "created"),
			want:    Event{Name: "issue_comment", Action: "created", Repo: "Codertocat/Hello-World", PR: 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startWebhookServer(t)
			d := signedDelivery(tc.event, tc.payload)
			code, body := send(t, s.url, d)
			if code != http.StatusAccepted {
				t.Fatalf("status = %d %q, want 202", code, body)
			}
			want := tc.want
			want.Delivery = d.id
			want.Payload = tc.payload
			if diff := cmp.Diff([]Event{want}, s.dispatched()); diff != "" {
				t.Errorf("dispatched events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhookRejects(t *testing.T) {
	payload := examplePayload(t, "pull_request", "opened")
	sha1Sig := func() string {
		mac := hmac.New(sha1.New, testSecret)
		mac.Write(payload)
		return "sha1=" + hex.EncodeToString(mac.Sum(nil))
	}()
	tooLarge := bytes.Repeat([]byte(" "), int(DefaultMaxBody)+1)

	for _, tc := range []struct {
		name   string
		change func(d *delivery)
		want   int
	}{
		{"a signature made with another secret", func(d *delivery) {
			d.headers["X-Hub-Signature-256"] = sign([]byte("not the secret"), d.body)
		}, http.StatusUnauthorized},
		{"a signature of another body", func(d *delivery) {
			d.body = append(bytes.Clone(d.body), ' ')
		}, http.StatusUnauthorized},
		{"a missing signature", func(d *delivery) {
			d.headers["X-Hub-Signature-256"] = ""
		}, http.StatusUnauthorized},
		{"a SHA-1 signature only", func(d *delivery) {
			d.headers["X-Hub-Signature-256"] = ""
			d.headers["X-Hub-Signature"] = sha1Sig
		}, http.StatusUnauthorized},
		{"a signature that is not hex", func(d *delivery) {
			d.headers["X-Hub-Signature-256"] = "sha256=" + strings.Repeat("zz", sha256.Size)
		}, http.StatusUnauthorized},
		{"a signature without its algorithm", func(d *delivery) {
			d.headers["X-Hub-Signature-256"] = strings.TrimPrefix(sign(testSecret, d.body), "sha256=")
		}, http.StatusUnauthorized},
		{"a body over the limit", func(d *delivery) {
			d.body = tooLarge
			d.headers["X-Hub-Signature-256"] = sign(testSecret, tooLarge)
		}, http.StatusRequestEntityTooLarge},
		{"a GET", func(d *delivery) {
			d.method = http.MethodGet
		}, http.StatusMethodNotAllowed},
		{"a missing event header", func(d *delivery) {
			d.event = ""
		}, http.StatusBadRequest},
		{"a missing delivery header", func(d *delivery) {
			d.id = ""
		}, http.StatusBadRequest},
		{"a form-encoded body", func(d *delivery) {
			d.contentType = "application/x-www-form-urlencoded"
		}, http.StatusUnsupportedMediaType},
		{"a body that is not JSON", func(d *delivery) {
			d.body = []byte("{not json")
			d.headers["X-Hub-Signature-256"] = sign(testSecret, d.body)
		}, http.StatusBadRequest},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			s := startWebhookServer(t)
			d := signedDelivery("pull_request", payload)
			tc.change(&d)
			code, body := send(t, s.url, d)
			if code != tc.want {
				t.Errorf("status = %d %q, want %d", code, body, tc.want)
			}
			if strings.Contains(body, string(testSecret)) {
				t.Errorf("response %q reveals the secret", body)
			}
			if got := s.dispatched(); len(got) != 0 {
				t.Errorf("dispatched %d events, want none", len(got))
			}
		})
	}
}

func TestWebhookReplayedDelivery(t *testing.T) {
	s := startWebhookServer(t)
	d := signedDelivery("pull_request", examplePayload(t, "pull_request", "synchronize"))

	t.Run("processes a delivery once", func(t *testing.T) {
		if code, body := send(t, s.url, d); code != http.StatusAccepted {
			t.Fatalf("first: status = %d %q, want 202", code, body)
		}
		code, body := send(t, s.url, d)
		if code != http.StatusOK || !strings.Contains(body, "duplicate delivery") {
			t.Errorf("replay: status = %d %q, want 200 duplicate delivery", code, body)
		}
		if got := s.dispatched(); len(got) != 1 {
			t.Errorf("dispatched %d events, want 1", len(got))
		}
	})

	t.Run("a forged delivery does not use up its ID", func(t *testing.T) {
		genuine := signedDelivery("pull_request", examplePayload(t, "pull_request", "opened"))
		forged := genuine
		forged.headers = map[string]string{"X-Hub-Signature-256": sign([]byte("guess"), genuine.body)}
		if code, _ := send(t, s.url, forged); code != http.StatusUnauthorized {
			t.Fatalf("forged: status = %d, want 401", code)
		}
		if code, body := send(t, s.url, genuine); code != http.StatusAccepted {
			t.Errorf("genuine: status = %d %q, want 202", code, body)
		}
	})
}

func TestWebhookAnswersBeforeDispatchReturns(t *testing.T) {
	release := make(chan struct{})
	var done atomic.Bool
	h, err := NewHandler(testSecret, func(Event) {
		<-release
		done.Store(true)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	code, _ := send(t, srv.URL, signedDelivery("pull_request", examplePayload(t, "pull_request", "opened")))
	if code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202 while Dispatch is still blocked", code)
	}
	if done.Load() {
		t.Fatal("Dispatch finished before it was released")
	}
	close(release)
	h.Wait()
	if !done.Load() {
		t.Error("Wait returned before Dispatch did")
	}
}

func TestWebhookSecretRequired(t *testing.T) {
	t.Run("NewHandler refuses an empty secret", func(t *testing.T) {
		for _, secret := range [][]byte{nil, {}} {
			if _, err := NewHandler(secret, func(Event) {}, nil); !errors.Is(err, ErrNoSecret) {
				t.Errorf("NewHandler(%q) error = %v, want ErrNoSecret", secret, err)
			}
		}
	})
	t.Run("a Handler without a secret accepts nothing", func(t *testing.T) {
		var dispatched atomic.Int32
		srv := httptest.NewServer(&Handler{Dispatch: func(Event) { dispatched.Add(1) }})
		defer srv.Close()
		body := examplePayload(t, "pull_request", "opened")
		d := signedDelivery("pull_request", body)
		d.headers["X-Hub-Signature-256"] = sign(nil, body)
		if code, _ := send(t, srv.URL, d); code != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", code)
		}
		if dispatched.Load() != 0 {
			t.Error("dispatched an event")
		}
	})
}

func TestWebhookFeedsSerializer(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	ser := &Serializer{Handle: func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ev)
	}}
	h, err := NewHandler(testSecret, ser.Dispatch, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	var want []Event
	for _, action := range []string{"opened", "synchronize", "reopened"} {
		d := signedDelivery("pull_request", examplePayload(t, "pull_request", action))
		if code, body := send(t, srv.URL, d); code != http.StatusAccepted {
			t.Fatalf("%s: status = %d %q", action, code, body)
		}
		want = append(want, Event{Name: "pull_request", Action: action, Delivery: d.id, Repo: "Codertocat/Hello-World", PR: 2})
	}
	srv.Close()
	h.Wait()
	ser.Wait()
	sortEvents := cmpopts.SortSlices(func(a, b Event) bool { return a.Delivery < b.Delivery })
	if diff := cmp.Diff(want, got, sortEvents, cmpopts.IgnoreFields(Event{}, "Payload")); diff != "" {
		t.Errorf("handled events (-want +got):\n%s", diff)
	}
}
