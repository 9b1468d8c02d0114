package restapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
)

// script is a server that answers the requests it gets with its steps in
// turn (the last one again when it runs out) and counts them.
type script struct {
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	got   []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.got = append(s.got, r.Method+" "+r.URL.Path)
	step := s.steps[min(len(s.got), len(s.steps))-1]
	s.mu.Unlock()
	step(w, r)
}

func (s *script) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d}`, code)
	}
}

var ok = status(http.StatusOK)

// newClient starts srv and returns a Client for it whose retries record
// their waits.
func newClient(t *testing.T, srv http.Handler) (*Client, *[]time.Duration) {
	t.Helper()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	base, err := url.Parse(ts.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	waits := new([]time.Duration)
	return &Client{
		Backend: "test",
		Base:    base,
		Retry: idp.Retry{Sleep: func(_ context.Context, d time.Duration) error {
			*waits = append(*waits, d)
			return nil
		}},
	}, waits
}

func TestClientRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("retries a GET after 5xx answers, with backoff", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(500), status(502), ok}}
		c, waits := newClient(t, s)
		if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); err != nil {
			t.Fatal(err)
		}
		if len(s.requests()) != 3 || len(*waits) != 2 {
			t.Errorf("requests %v, waits %v; want 3 requests and 2 waits", s.requests(), *waits)
		}
	})
	t.Run("waits the Retry-After of a 429, and of a 503 that has one", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){
			status(429, "Retry-After", "3"), status(503, "Retry-After", "5"), ok,
		}}
		c, waits := newClient(t, s)
		if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]time.Duration{3 * time.Second, 5 * time.Second}, *waits); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
	t.Run("waits DefaultRetryAfter after a 429 that says nothing", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(429), ok}}
		c, waits := newClient(t, s)
		if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]time.Duration{DefaultRetryAfter}, *waits); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
	t.Run("sends a POST once after a 5xx, unmarked so the caller may look and retry", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(503), ok}}
		c, _ := newClient(t, s)
		_, err := c.Do(ctx, Request{Method: "POST", Target: "/x", JSON: map[string]string{"a": "b"}}, nil)
		if !errors.Is(err, idp.ErrTransient) || errors.Is(err, idp.ErrGaveUp) || len(s.requests()) != 1 {
			t.Errorf("POST answered 503: %v after %d requests; want ErrTransient, unmarked, after 1", err, len(s.requests()))
		}
	})
	t.Run("sends a POST again after a 429, or when it says it is idempotent", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "1"), status(503), ok}}
		c, _ := newClient(t, s)
		if _, err := c.Do(ctx, Request{Method: "POST", Target: "/x", Idempotent: true}, nil); err != nil || len(s.requests()) != 3 {
			t.Errorf("idempotent POST: %v after %d requests, want success after 3", err, len(s.requests()))
		}
	})
	t.Run("gives up after the attempts, marked so no outer loop retries", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(503)}}
		c, _ := newClient(t, s)
		c.Retry.Attempts = 3
		_, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil)
		if !errors.Is(err, idp.ErrGaveUp) || !errors.Is(err, idp.ErrTransient) || idp.Retryable(err) || len(s.requests()) != 3 {
			t.Errorf("%v after %d requests", err, len(s.requests()))
		}
	})
	t.Run("gives up when the waits would pass the total bound", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "50")}}
		c, waits := newClient(t, s)
		c.Retry.MaxTotalWait = 2 * time.Minute
		_, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil)
		if !errors.Is(err, idp.ErrGaveUp) || len(*waits) != 2 || len(s.requests()) != 3 {
			t.Errorf("%v after %d requests and waits %v; want 3 requests, 2 waits", err, len(s.requests()), *waits)
		}
	})
	t.Run("stops waiting when the context ends", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(503)}}
		c, _ := newClient(t, s)
		cctx, cancel := context.WithCancel(ctx)
		c.Retry.Sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
		_, err := c.Do(cctx, Request{Method: "GET", Target: "/x"}, nil)
		if !errors.Is(err, context.Canceled) || len(s.requests()) != 1 {
			t.Errorf("%v after %d requests", err, len(s.requests()))
		}
	})
	t.Run("does not retry a refusal", func(t *testing.T) {
		for _, code := range []int{400, 403, 404, 409} {
			s := &script{steps: []func(http.ResponseWriter, *http.Request){status(code)}}
			c, _ := newClient(t, s)
			if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); err == nil || len(s.requests()) != 1 {
				t.Errorf("%d: %v after %d requests", code, err, len(s.requests()))
			}
		}
	})
}

func TestClientMapsStatuses(t *testing.T) {
	for _, tc := range []struct {
		code int
		want error
	}{
		{401, idp.ErrUnauthorized}, {403, idp.ErrUnauthorized}, {404, idp.ErrNotFound},
		{409, idp.ErrConflict}, {429, idp.ErrRateLimited}, {500, idp.ErrTransient}, {503, idp.ErrTransient},
	} {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(tc.code)}}
		c, _ := newClient(t, s)
		c.Retry.Attempts = 1
		_, err := c.Do(context.Background(), Request{Method: "GET", Target: "/groups/1"}, nil)
		var se *StatusError
		if !errors.Is(err, tc.want) || !errors.As(err, &se) || se.StatusCode != tc.code {
			t.Errorf("%d: %v, want a StatusError wrapping %v", tc.code, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("test GET /groups/1: %d", tc.code)) {
			t.Errorf("%d: %q does not name the backend, request and status", tc.code, err)
		}
	}
}

func TestClientBoundsAnswers(t *testing.T) {
	ctx := context.Background()
	big := func(n int, code int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(strings.Repeat(" ", n)))
		}
	}
	t.Run("reads an answer of MaxResponse bytes", func(t *testing.T) {
		c, _ := newClient(t, &script{steps: []func(http.ResponseWriter, *http.Request){big(MaxResponse, 200)}})
		if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); err != nil {
			t.Error(err)
		}
	})
	t.Run("refuses one byte more, naming the backend and the limit", func(t *testing.T) {
		c, _ := newClient(t, &script{steps: []func(http.ResponseWriter, *http.Request){big(MaxResponse+1, 200)}})
		_, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "test GET /x") || !strings.Contains(err.Error(), "16 MiB") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("shows a bounded start of a large error answer", func(t *testing.T) {
		c, _ := newClient(t, &script{steps: []func(http.ResponseWriter, *http.Request){func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(400)
			_, _ = w.Write([]byte("<html>" + strings.Repeat("error page ", MaxResponse/5)))
		}}})
		_, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil)
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != 400 || len(se.Detail) > MaxErrorDetail+40 {
			t.Errorf("error of %d bytes: %.400v", len(fmt.Sprint(err)), err)
		}
	})
}

func TestClientMasksSecrets(t *testing.T) {
	const secret = "s3cr3t/value+1"
	// A server that echoes what it was sent, as some error pages do, with
	// the secret across the point where the detail is cut.
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, "%s bad request from %s with client_secret=%s",
			strings.Repeat("x", MaxErrorDetail-30), r.Header.Get("Authorization"), url.QueryEscape(secret))
	}
	for _, auth := range []Auth{Static("Bearer " + secret), Static("SSWS other-token-value")} {
		c, _ := newClient(t, &script{steps: []func(http.ResponseWriter, *http.Request){echo}})
		c.Auth, c.Secrets = auth, []string{secret}
		_, err := c.Do(context.Background(), Request{Method: "GET", Target: "/x"}, nil)
		if err == nil {
			t.Fatal("no error")
		}
		for _, leak := range []string{"s3cr3t", "other-token-value", "value%2B1"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("the error shows %q: %v", leak, err)
			}
		}
	}
	if got := Bound(Mask("a "+secret+" b", secret)); got != "a [redacted] b" {
		t.Errorf("Mask = %q", got)
	}
}

func TestClientRenewsTokenOnce(t *testing.T) {
	ctx := context.Background()
	tokens := func(fetches *int) *TokenSource {
		return &TokenSource{Fetch: func(context.Context) (string, time.Duration, error) {
			*fetches++
			return fmt.Sprintf("token-%d", *fetches), time.Hour, nil
		}}
	}
	t.Run("gets a new token after a 401 and succeeds", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(401), ok}}
		c, _ := newClient(t, s)
		fetches := 0
		c.Auth = tokens(&fetches)
		if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); err != nil || fetches != 2 || len(s.requests()) != 2 {
			t.Errorf("%v after %d fetches and %d requests, want success after 2 and 2", err, fetches, len(s.requests()))
		}
	})
	t.Run("fails clearly when the new token is refused too", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(401)}}
		c, _ := newClient(t, s)
		c.UnauthorizedHint = "check the secret"
		fetches := 0
		c.Auth = tokens(&fetches)
		_, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil)
		if !errors.Is(err, idp.ErrUnauthorized) || fetches != 2 || len(s.requests()) != 2 {
			t.Errorf("%v after %d fetches and %d requests, want ErrUnauthorized after 2 and 2", err, fetches, len(s.requests()))
		}
		if err != nil && (!strings.Contains(err.Error(), "refused a new token as well") || !strings.Contains(err.Error(), "check the secret")) {
			t.Errorf("error %q does not say the new token was refused too and what to check", err)
		}
	})
	t.Run("does not send a static credential twice", func(t *testing.T) {
		s := &script{steps: []func(http.ResponseWriter, *http.Request){status(401), ok}}
		c, _ := newClient(t, s)
		c.Auth = Static("SSWS t")
		if _, err := c.Do(ctx, Request{Method: "GET", Target: "/x"}, nil); !errors.Is(err, idp.ErrUnauthorized) || len(s.requests()) != 1 {
			t.Errorf("%v after %d requests", err, len(s.requests()))
		}
	})
}

func TestClientRefusesAnotherOrigin(t *testing.T) {
	s := &script{steps: []func(http.ResponseWriter, *http.Request){ok}}
	c, _ := newClient(t, s)
	for _, target := range []string{"https://elsewhere.example/api/x", "http://" + strings.Replace(c.Base.Host, "127.0.0.1", "localhost", 1) + "/api/x"} {
		if _, err := c.Do(context.Background(), Request{Method: "GET", Target: target}, nil); err == nil {
			t.Errorf("Do(%s) succeeded", target)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	if _, err := c.Do(context.Background(), Request{Method: "GET", Target: c.Base.String() + "/next?page=2"}, nil); err != nil {
		t.Errorf("a next link on the same origin: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw, want string // want is the error's text, or the URL
	}{
		{"https://idp.example/scim/v2/", "https://idp.example/scim/v2"},
		{"http://127.0.0.2:8080/x", "http://127.0.0.2:8080/x"},
		{"http://LOCALHOST/x", "http://LOCALHOST/x"},
		{"http://[::1]:80/x", "http://[::1]:80/x"},
		{"ftp://idp.example/scim", "must be https"},
		{"https:///path", "must be https"},
		{"http://idp.example/scim", "plain http"},
		{"https://user:pw@idp.example/", "no user"},
		{"https://idp.example/?token=x", "no user, query"},
		{"https://idp.example/%zz", "does not parse"},
	} {
		u, err := ParseURL("test", "URL", tc.raw)
		got := ""
		if err != nil {
			got = err.Error()
			if strings.Contains(got, "pw") {
				t.Errorf("ParseURL(%q) shows the password: %v", tc.raw, err)
			}
		} else {
			got = u.String()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("ParseURL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}
