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

// The failures an identity provider shows under load, injected by a proxy
// in front of the real server.
func TestFailuresMapToIdPErrors(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{})
	ctx := context.Background()
	s.user(t, "ada@example.com")
	proxy := s.StartProxy()
	defer proxy.Close()
	p := newProvider(t, proxy.URL(), s.Token())

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
		_, err := newProvider(t, dead.URL(), s.Token()).FindUser(ctx, "ada@example.com")
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
	t.Run("an answer over the limit is refused", func(t *testing.T) {
		small := newProvider(t, s.URL(), s.Token())
		small.MaxResponseBytes = 64
		_, err := small.FindUser(ctx, "ada@example.com")
		if err == nil || !strings.Contains(err.Error(), "larger than 64 bytes") {
			t.Errorf("FindUser with a 64-byte limit: %v", err)
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
	retry := idp.Retry{Sleep: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}

	proxy.Inject(harness.SCIMFault{Path: "/Users", Status: http.StatusServiceUnavailable, Times: 2})
	proxy.Inject(harness.SCIMFault{Path: "/Users", Status: http.StatusTooManyRequests, RetryAfter: "3"})
	u, err := idp.Retrying(ctx, retry, func(ctx context.Context) (idp.User, error) { return p.FindUser(ctx, "ada@example.com") })
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
		proxy.Inject(harness.SCIMFault{Status: http.StatusBadGateway, Times: 10})
		defer func() {
			for proxy.Pending() > 0 { // leave no fault to the next test
				_, _ = p.ListGroups(ctx, "allot-")
			}
		}()
		_, err := idp.Retrying(ctx, idp.Retry{Attempts: 3, Sleep: retry.Sleep}, func(ctx context.Context) ([]idp.Group, error) { return p.ListGroups(ctx, "allot-") })
		if !errors.Is(err, idp.ErrTransient) || !strings.Contains(err.Error(), "after 3 attempts") {
			t.Errorf("ListGroups failing ten times with three attempts: %v", err)
		}
	})
	t.Run("does not retry a refusal", func(t *testing.T) {
		before := len(proxy.Requests())
		_, err := idp.Retrying(ctx, retry, func(ctx context.Context) (idp.User, error) { return p.FindUser(ctx, "nobody@example.com") })
		if !errors.Is(err, idp.ErrNotFound) {
			t.Errorf("FindUser(nobody): %v", err)
		}
		if n := len(proxy.Requests()) - before; n != 2 { // userName, then emails.value
			t.Errorf("%d requests for a user that is not there, want 2", n)
		}
	})
}
