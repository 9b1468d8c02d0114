package githubapi

import (
	"net/http"
	"strconv"
	"time"
)

// Limit is a kind of rate limit GitHub answers with.
type Limit string

// The rate limits GitHub's documentation describes.
const (
	// PrimaryLimit is the hourly budget spent: 403 with
	// X-RateLimit-Remaining: 0 and X-RateLimit-Reset.
	PrimaryLimit Limit = "primary"
	// SecondaryLimit is too many requests at once: 403 with Retry-After.
	SecondaryLimit Limit = "secondary"
	// SecondaryLimit429 is SecondaryLimit answered with 429.
	SecondaryLimit429 Limit = "secondary-429"
)

// fault is an answer the server gives instead of serving a request.
type fault struct {
	limit  Limit
	status int // for server errors
	wait   time.Duration
}

// RateLimitNext makes the next n API requests fail with limit. For
// PrimaryLimit, wait is the time from the server's clock to
// X-RateLimit-Reset; for the secondary limits it is Retry-After (zero
// leaves the header out, as GitHub sometimes does).
func (s *Server) RateLimitNext(n int, limit Limit, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{limit: limit, wait: wait})
	}
}

// FailNext makes the next n API requests answer status, a server error
// such as 502.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status})
	}
}

// fault answers the next injected fault, if any.
func (s *Server) fault(w http.ResponseWriter) bool {
	s.mu.Lock()
	if len(s.faults) == 0 {
		s.mu.Unlock()
		return false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	now := s.now
	s.mu.Unlock()
	h := w.Header()
	switch f.limit {
	case PrimaryLimit:
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(rateLimit))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(f.wait).Unix(), 10))
		writeError(w, http.StatusForbidden, "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.", docsPrimary)
	case SecondaryLimit, SecondaryLimit429:
		if f.wait > 0 {
			h.Set("Retry-After", strconv.Itoa(int(f.wait/time.Second)))
		}
		status := http.StatusForbidden
		if f.limit == SecondaryLimit429 {
			status = http.StatusTooManyRequests
		}
		writeError(w, status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", docsSecondary)
	default:
		writeError(w, f.status, http.StatusText(f.status), docsREST)
	}
	return true
}
