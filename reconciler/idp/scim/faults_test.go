package scim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/test/harness"
)

// recordWaits is a Retry that records its waits instead of spending them.
func recordWaits(waits *[]time.Duration) idp.Retry {
	return idp.Retry{Sleep: func(_ context.Context, d time.Duration) error {
		*waits = append(*waits, d)
		return nil
	}}
}

// The failures an identity provider shows under load, injected by a proxy
// in front of the real server, as one request sees them.
func TestFailuresMapToIdPErrors(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{})
	ctx := context.Background()
	s.user(t, "ada@example.com")
	proxy := s.StartProxy()
	defer proxy.Close()
	p := newProvider(t, proxy.URL(), s.Token())
	p.Retry = idp.Retry{Attempts: 1}

	t.Run("429 with Retry-After in seconds", func(t *testing.T) {
		proxy.Inject(harness.SCIMFault{Status: http.StatusTooManyRequests, RetryAfter: "4"})
		_, err := p.FindUser(ctx, "ada@example.com")
		var rl *idp.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter != 4*time.Second || !errors.Is(err, idp.ErrRateLimited) {
			t.Errorf("FindUser when rate limited: %v, want a RateLimitError of 4s", err)
		}
	})
	t.Run("429 with Retry-After as a date", func(t *testing.T) {
		at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
		proxy.Inject(harness.SCIMFault{Status: http.StatusTooManyRequests, RetryAfter: at})
		_, err := p.ListGroups(ctx, "allot-")
		var rl *idp.RateLimitError
		if !errors.As(err, &rl) || rl.RetryAfter < 80*time.Second || rl.RetryAfter > 90*time.Second {
			t.Errorf("ListGroups when rate limited until %s: %v, want about 90s", at, err)
		}
	})
	t.Run("5xx is transient", func(t *testing.T) {
		for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable} {
			proxy.Inject(harness.SCIMFault{Status: code})
			_, err := p.CreateGroup(ctx, "allot-x")
			if !errors.Is(err, idp.ErrTransient) {
				t.Errorf("CreateGroup answered %d: %v, want ErrTransient", code, err)
			}
		}
	})
	t.Run("a refused connection is transient", func(t *testing.T) {
		dead := s.StartProxy()
		dead.Close()
		gone := newProvider(t, dead.URL(), s.Token())
		gone.Retry = idp.Retry{Attempts: 1}
		_, err := gone.FindUser(ctx, "ada@example.com")
		if !errors.Is(err, idp.ErrTransient) {
			t.Errorf("FindUser with the server gone: %v, want ErrTransient", err)
		}
	})
	t.Run("a cancelled context is not transient", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := p.FindUser(cctx, "ada@example.com")
		if !errors.Is(err, context.Canceled) || errors.Is(err, idp.ErrTransient) {
			t.Errorf("FindUser with a cancelled context: %v", err)
		}
	})
}

func TestRetryRidesOutFailures(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{})
	ctx := context.Background()
	s.user(t, "ada@example.com")
	proxy := s.StartProxy()
	defer proxy.Close()
	p := newProvider(t, proxy.URL(), s.Token())
	var waits []time.Duration
	p.Retry = recordWaits(&waits)

	proxy.Inject(harness.SCIMFault{Path: "/Users", Status: http.StatusServiceUnavailable, Times: 2})
	proxy.Inject(harness.SCIMFault{Path: "/Users", Status: http.StatusTooManyRequests, RetryAfter: "3"})
	u, err := p.FindUser(ctx, "ada@example.com")
	if err != nil || u.ID == "" {
		t.Fatalf("FindUser with retries: %+v, %v", u, err)
	}
	want := []string{"GET /Users 503 (injected)", "GET /Users 503 (injected)", "GET /Users 429 (injected)", "GET /Users 200"}
	if diff := cmp.Diff(want, proxy.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if len(waits) != 3 || waits[2] != 3*time.Second {
		t.Errorf("waits %v, want two backoffs and then the 3s the server asked for", waits)
	}

	t.Run("gives up after the attempts", func(t *testing.T) {
		p := newProvider(t, proxy.URL(), s.Token())
		p.Retry = recordWaits(new([]time.Duration))
		p.Retry.Attempts = 3
		proxy.Inject(harness.SCIMFault{Status: http.StatusBadGateway, Times: 10})
		defer func() {
			for proxy.Pending() > 0 { // leave no fault to the next test
				_, _ = p.ListGroups(ctx, "allot-")
			}
		}()
		before := len(proxy.Requests())
		_, err := p.ListGroups(ctx, "allot-")
		if !errors.Is(err, idp.ErrTransient) || !errors.Is(err, idp.ErrGaveUp) || !strings.Contains(err.Error(), "after 3 attempts") {
			t.Errorf("ListGroups failing ten times with three attempts: %v", err)
		}
		if n := len(proxy.Requests()) - before; n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
	t.Run("does not retry a refusal", func(t *testing.T) {
		before := len(proxy.Requests())
		_, err := p.FindUser(ctx, "nobody@example.com")
		if !errors.Is(err, idp.ErrNotFound) {
			t.Errorf("FindUser(nobody): %v", err)
		}
		if n := len(proxy.Requests()) - before; n != 2 { // userName, then emails.value
			t.Errorf("%d requests for a user that is not there, want 2", n)
		}
	})
	t.Run("does not send a create again after a 5xx", func(t *testing.T) {
		// The server may have made the group; the Syncer looks before it
		// tries again, so the error stays one worth retrying.
		proxy.Inject(harness.SCIMFault{Method: http.MethodPost, Path: "/Groups", Status: http.StatusServiceUnavailable, AfterForward: true})
		before := len(proxy.Requests())
		_, err := p.CreateGroup(ctx, "allot-once")
		if !errors.Is(err, idp.ErrTransient) || errors.Is(err, idp.ErrGaveUp) {
			t.Errorf("CreateGroup answered 503: %v, want ErrTransient not marked ErrGaveUp", err)
		}
		if n := count(proxy.Requests()[before:], "POST /Groups"); n != 1 {
			t.Errorf("%d POST requests, want 1", n)
		}
	})
	t.Run("sends a create again after a 429", func(t *testing.T) {
		proxy.Inject(harness.SCIMFault{Method: http.MethodPost, Path: "/Groups", Status: http.StatusTooManyRequests, RetryAfter: "1"})
		before := len(proxy.Requests())
		if _, err := p.CreateGroup(ctx, "allot-later"); err != nil {
			t.Errorf("CreateGroup after a 429: %v", err)
		}
		if n := count(proxy.Requests()[before:], "POST /Groups"); n != 2 {
			t.Errorf("%d POST requests, want 2", n)
		}
	})
}
