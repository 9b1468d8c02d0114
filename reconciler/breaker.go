package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// ErrClusterUnreachable means a pass stopped working on a cluster after
// repeated connection errors; what it did not reach is retried by the next
// pass.
var ErrClusterUnreachable = errors.New("cluster unreachable")

// breakerThreshold is how many environments in a row may fail to reach a
// cluster before a pass stops working on it.
const breakerThreshold = 3

// breaker stops a pass's work on one cluster once its API server cannot be
// reached, instead of failing each remaining environment on its own (and
// waiting out each request's timeout on a frozen server).
type breaker struct {
	mu      sync.Mutex
	inARow  int
	tripped error
	// skipped counts the environments not tried once it tripped.
	skipped int
}

// open reports whether work on the cluster has stopped; a caller that gets
// true skips its environment.
func (b *breaker) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tripped != nil {
		b.skipped++
		return true
	}
	return false
}

// record takes an environment's outcome.
func (b *breaker) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.tripped != nil:
	case !isConnectionError(err):
		b.inARow = 0
	default:
		b.inARow++
		if b.inARow >= breakerThreshold {
			b.tripped = err
		}
	}
}

// summarize, once the breaker tripped, takes the results that failed to
// reach the cluster out of results and returns the cluster's one error
// for them and the environments not tried; otherwise it returns results
// as they are and nil.
func (b *breaker) summarize(results []EnvResult) ([]EnvResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tripped == nil {
		return results, nil
	}
	kept := results[:0]
	failed := 0
	for _, e := range results {
		if isConnectionError(e.Err) {
			failed++
			continue
		}
		kept = append(kept, e)
	}
	return kept, fmt.Errorf("%w: stopped after %d environments in a row could not reach it; %d environments not reconciled this pass (%d failed, %d not tried): %w",
		ErrClusterUnreachable, breakerThreshold, failed+b.skipped, failed, b.skipped, b.tripped)
}

// isConnectionError reports whether err says the API server could not be
// reached or did not answer in time, rather than that it refused a
// request.
func isConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), strings.Contains(err.Error(), "http2: client connection lost"):
		// A response cut short (client-go wraps these).
		return true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EPIPE):
		return true
	case apierrors.IsServiceUnavailable(err):
		return true
	}
	return false
}
