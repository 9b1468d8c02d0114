package review

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// filler is an endless body that costs its sender no memory.
type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// forgedSignature is well-formed but made without the secret.
var forgedSignature = "sha256=" + strings.Repeat("ab", 32)

// startLimitServer serves h through NewServer on loopback, as allot serve
// does.
func startLimitServer(t *testing.T, h *Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config = NewServer(h)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// rawRequest opens a connection and sends the headers of a delivery whose
// body is length bytes, and the first sent bytes of that body.
func rawRequest(t *testing.T, addr string, length, sent int) net.Conn {
	t.Helper()
	return rawHeaders(t, addr, map[string]string{"Content-Length": strconv.Itoa(length)}, strings.Repeat("{", sent))
}

// rawHeaders opens a connection and sends the headers of a forged
// delivery, changed by change (an empty value leaves a header out), and
// then start.
func rawHeaders(t *testing.T, addr string, change map[string]string, start string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	header := map[string]string{
		"Host":             addr,
		"User-Agent":       "GitHub-Hookshot/044aadd",
		"Content-Type":     "application/json",
		HeaderEvent:        "pull_request",
		HeaderDelivery:     newDelivery(),
		HeaderSignature256: forgedSignature,
	}
	maps.Copy(header, change)
	var b strings.Builder
	b.WriteString("POST / HTTP/1.1\r\n")
	for _, k := range slices.Sorted(maps.Keys(header)) {
		if header[k] != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, header[k])
		}
	}
	b.WriteString("\r\n" + start)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readAnswer reads the response on conn.
func readAnswer(t *testing.T, conn net.Conn) (*http.Response, string) {
	t.Helper()
	// Only a guard against a hanging test: the server answers long before.
	if err := conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return resp, string(text)
}

func TestWebhookBoundsMemoryOfUnsignedBodies(t *testing.T) {
	const (
		senders = 40
		size    = 24 << 20
		// bound is what the flood may add to the heap: the body budget
		// and what the garbage collector leaves behind it (about 75 MiB
		// measured). Buffering every body adds senders*size, 960 MiB.
		bound = 4 * DefaultBodyBudget
	)
	h, err := NewHandler(testSecret, func(Event) { t.Error("dispatched an unsigned body") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startLimitServer(t, h)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		failed   int
	)
	for range senders {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, srv.URL, io.LimitReader(filler{}, size))
			if err != nil {
				t.Error(err)
				return
			}
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(HeaderEvent, "pull_request")
			req.Header.Set(HeaderDelivery, newDelivery())
			req.Header.Set(HeaderSignature256, forgedSignature)
			resp, err := client.Do(req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// The server may answer 503 and close before the body
				// is sent; the sender then sees its write fail.
				failed++
				return
			}
			statuses[resp.StatusCode]++
			_ = resp.Body.Close()
		})
	}
	wg.Wait()

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// HeapSys never shrinks: it is the most the heap has held.
	growth := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("%d unsigned bodies of %d MiB: heap grew by %d MiB (bound %d MiB); statuses %v, %d sends cut short",
		senders, size>>20, growth>>20, bound>>20, statuses, failed)
	if growth > bound {
		t.Errorf("heap grew by %d bytes, want at most %d", growth, bound)
	}
	for code, n := range statuses {
		if code != http.StatusUnauthorized && code != http.StatusServiceUnavailable {
			t.Errorf("%d deliveries answered %d, want 401 or 503", n, code)
		}
	}
	if statuses[http.StatusUnauthorized] == 0 {
		t.Error("no body was read and checked")
	}
	h.Wait()
}

func TestWebhookClosesSlowUploads(t *testing.T) {
	h, err := NewHandler(testSecret, func(Event) { t.Error("dispatched a slow upload") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.BodyTimeout = 200 * time.Millisecond
	srv := startLimitServer(t, h)
	addr := srv.Listener.Addr().String()

	const uploads = 50
	conns := make([]net.Conn, uploads)
	for i := range conns {
		conns[i] = rawRequest(t, addr, 64<<10, 10)
	}
	for i, conn := range conns {
		resp, text := readAnswer(t, conn)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("upload %d: status = %d %q, want 408", i, resp.StatusCode, text)
		}
		// The server closes the connection: a read finds its end, not
		// the guard's deadline.
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Errorf("upload %d: connection still open after the response: %v", i, err)
		}
	}
	h.Wait()
}

// isReset reports a connection the peer reset, which also closes it.
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestWebhookBodyBudget(t *testing.T) {
	payload := examplePayload(t, "pull_request", "opened")
	var dispatched sync.WaitGroup
	h, err := NewHandler(testSecret, func(Event) { dispatched.Done() }, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.MaxBody = int64(len(payload))
	h.BodyBudget = int64(len(payload))
	h.BodyWait = 0
	srv := startLimitServer(t, h)

	// A slow upload of the largest size takes the whole budget.
	slow := rawRequest(t, srv.Listener.Addr().String(), len(payload), 1)
	waitFor(t, "the slow upload to take the budget", func() bool { return !budgetFree(h) })

	t.Run("a delivery beyond the budget is answered 503 with Retry-After", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(string(payload)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(HeaderEvent, "pull_request")
		req.Header.Set(HeaderDelivery, newDelivery())
		req.Header.Set(HeaderSignature256, sign(testSecret, payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("status = %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})

	t.Run("the budget is free again once the slow upload is gone", func(t *testing.T) {
		_ = slow.Close()
		waitFor(t, "the budget to be released", func() bool { return budgetFree(h) })
		dispatched.Add(1)
		if code, body := send(t, srv.URL, signedDelivery("pull_request", payload)); code != http.StatusAccepted {
			t.Errorf("status = %d %q, want 202", code, body)
		}
		dispatched.Wait()
	})
	h.Wait()
}

// budgetFree reports whether h's body budget has a byte to spare.
func budgetFree(h *Handler) bool {
	if !h.bodyBudget().TryAcquire(1) {
		return false
	}
	h.bodyBudget().Release(1)
	return true
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-tick.C:
		}
	}
}

func TestWebhookRefusesBeforeReading(t *testing.T) {
	h, err := NewHandler(testSecret, func(Event) { t.Error("dispatched") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startLimitServer(t, h)
	for _, tc := range []struct {
		name   string
		change map[string]string
		want   int
	}{
		{"no signature", map[string]string{HeaderSignature256: ""}, http.StatusUnauthorized},
		{"no event", map[string]string{HeaderEvent: ""}, http.StatusBadRequest},
		{"no delivery ID", map[string]string{HeaderDelivery: ""}, http.StatusBadRequest},
		{"a body that is not JSON", map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"a body over the limit", map[string]string{}, http.StatusRequestEntityTooLarge},
		{"no Content-Length", map[string]string{"Content-Length": "", "Transfer-Encoding": "chunked"}, http.StatusLengthRequired},
	} {
		t.Run("refuses a delivery with "+tc.name, func(t *testing.T) {
			// Only headers are sent: the answer must come from them.
			change := map[string]string{"Content-Length": strconv.FormatInt(DefaultMaxBody+1, 10)}
			if tc.want != http.StatusRequestEntityTooLarge {
				change["Content-Length"] = "1048576"
			}
			maps.Copy(change, tc.change)
			resp, text := readAnswer(t, rawHeaders(t, srv.Listener.Addr().String(), change, ""))
			if resp.StatusCode != tc.want {
				t.Errorf("status = %d %q, want %d", resp.StatusCode, text, tc.want)
			}
		})
	}
}

func TestNewServerSetsTimeouts(t *testing.T) {
	srv := NewServer(http.NotFoundHandler())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s is not set: a client could hold a connection for ever", name)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want a bound below the default 1 MiB", srv.MaxHeaderBytes)
	}
}
