package review

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
)

// DefaultDeliveryCacheSize is how many delivery IDs a DeliveryCache
// remembers unless told otherwise: far more than GitHub redelivers within
// its retry window on a busy repository.
const DefaultDeliveryCacheSize = 10000

// DeliveryCache remembers the most recent X-GitHub-Delivery IDs so that a
// delivery GitHub sends twice is processed once. It holds a bounded number
// of IDs and forgets the oldest first. It is safe for concurrent use; the
// zero value holds DefaultDeliveryCacheSize IDs.
type DeliveryCache struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string // IDs in arrival order, oldest at next once full
	next int
}

// NewDeliveryCache returns a cache that remembers size IDs; size <= 0 means
// DefaultDeliveryCacheSize.
func NewDeliveryCache(size int) *DeliveryCache {
	if size <= 0 {
		size = DefaultDeliveryCacheSize
	}
	return &DeliveryCache{seen: make(map[string]struct{}, size), ring: make([]string, 0, size)}
}

// Add records id and reports whether it was new, that is not among the IDs
// the cache remembers.
func (c *DeliveryCache) Add(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]struct{}, DefaultDeliveryCacheSize)
		c.ring = make([]string, 0, DefaultDeliveryCacheSize)
	}
	if _, ok := c.seen[id]; ok {
		return false
	}
	if len(c.ring) < cap(c.ring) {
		c.ring = append(c.ring, id)
	} else {
		delete(c.seen, c.ring[c.next])
		c.ring[c.next] = id
		c.next = (c.next + 1) % len(c.ring)
	}
	c.seen[id] = struct{}{}
	return true
}

// DefaultSerializerWorkers is how many events a Serializer runs at once
// unless told otherwise.
const DefaultSerializerWorkers = 4

// Serializer runs events through Handle so that two events for the same
// pull request (repository and number) never run at the same time, in the
// order they were dispatched, while events for different pull requests run
// in parallel on at most Workers goroutines. Events that are about no pull
// request (PR 0, such as push) are serialised per repository. Fill Handle
// before the first Dispatch; the other fields are optional.
type Serializer struct {
	// Handle processes one event.
	Handle func(Event)
	// Workers bounds how many events run at once; zero means
	// DefaultSerializerWorkers.
	Workers int
	// Log receives handler panics; nil discards them.
	Log *slog.Logger

	mu       sync.Mutex
	idle     *sync.Cond
	pending  map[string][]Event // per key, the events not started yet
	running  map[string]bool    // keys with an event being handled
	ready    []string           // keys not running with pending events
	workers  int                // goroutines started and not yet exited
	inflight int                // events dispatched and not yet finished
}

// Dispatch queues ev and returns at once.
func (s *Serializer) Dispatch(ev Event) {
	key := ev.Repo + "#" + strconv.Itoa(ev.PR)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending = make(map[string][]Event)
		s.running = make(map[string]bool)
	}
	s.inflight++
	s.pending[key] = append(s.pending[key], ev)
	if s.running[key] || len(s.pending[key]) > 1 {
		return // the key is running or already ready
	}
	s.ready = append(s.ready, key)
	limit := s.Workers
	if limit <= 0 {
		limit = DefaultSerializerWorkers
	}
	if s.workers < limit {
		s.workers++
		go s.work()
	}
}

// Wait blocks until every dispatched event has been handled, including
// events dispatched while it waits.
func (s *Serializer) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inflight > 0 {
		s.cond().Wait()
	}
}

// cond returns the condition Wait waits on; s.mu must be held.
func (s *Serializer) cond() *sync.Cond {
	if s.idle == nil {
		s.idle = sync.NewCond(&s.mu)
	}
	return s.idle
}

// work handles ready keys one event at a time until none is ready, then
// exits, so that no goroutine idles between bursts.
func (s *Serializer) work() {
	s.mu.Lock()
	for len(s.ready) > 0 {
		key := s.ready[0]
		s.ready = s.ready[1:]
		ev := s.pending[key][0]
		s.pending[key] = s.pending[key][1:]
		s.running[key] = true
		s.mu.Unlock()

		s.handle(ev)

		s.mu.Lock()
		delete(s.running, key)
		if len(s.pending[key]) > 0 {
			s.ready = append(s.ready, key)
		} else {
			delete(s.pending, key)
		}
		s.inflight--
		if s.inflight == 0 {
			s.cond().Broadcast()
		}
	}
	s.workers--
	s.mu.Unlock()
}

// handle runs Handle, turning a panic into a log line so that one bad event
// neither stops the server nor blocks its pull request for good.
func (s *Serializer) handle(ev Event) {
	defer func() {
		if r := recover(); r != nil && s.Log != nil {
			s.Log.Error("handle webhook event", "event", ev.Name, "delivery", ev.Delivery,
				"repo", ev.Repo, "pr", ev.PR, "panic", fmt.Sprint(r))
		}
	}()
	s.Handle(ev)
}
