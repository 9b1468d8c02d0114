package review

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeliveryCache(t *testing.T) {
	t.Run("reports an ID once", func(t *testing.T) {
		c := NewDeliveryCache(10)
		if !c.Add("a") {
			t.Error("first Add(a) = false, want true")
		}
		if c.Add("a") {
			t.Error("second Add(a) = true, want false")
		}
	})

	t.Run("forgets the oldest ID when full", func(t *testing.T) {
		c := NewDeliveryCache(3)
		for _, id := range []string{"a", "b", "c", "d"} {
			c.Add(id)
		}
		// In this order: a seen ID leaves the cache as it is, a new one
		// evicts.
		for _, tc := range []struct {
			id   string
			want bool
		}{{"b", false}, {"c", false}, {"d", false}, {"a", true}, {"b", true}} {
			if got := c.Add(tc.id); got != tc.want {
				t.Errorf("Add(%s) = %v, want %v", tc.id, got, tc.want)
			}
		}
	})

	t.Run("the zero value works", func(t *testing.T) {
		var c DeliveryCache
		if !c.Add("a") || c.Add("a") {
			t.Error("zero DeliveryCache does not de-duplicate")
		}
	})

	t.Run("admits each ID once under concurrent use", func(t *testing.T) {
		c := NewDeliveryCache(0)
		var added atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range 1000 {
					if c.Add(fmt.Sprint(i)) {
						added.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if added.Load() != 1000 {
			t.Errorf("%d IDs admitted, want 1000", added.Load())
		}
	})
}

func TestSerializer(t *testing.T) {
	t.Run("never overlaps two events of one pull request and keeps their order", func(t *testing.T) {
		var active, overlaps atomic.Int32
		var mu sync.Mutex
		var order []string
		s := &Serializer{Workers: 4, Handle: func(ev Event) {
			if active.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(time.Millisecond) // give an overlap the chance to happen
			mu.Lock()
			order = append(order, ev.Delivery)
			mu.Unlock()
			active.Add(-1)
		}}
		var want []string
		for i := range 30 {
			id := fmt.Sprint(i)
			want = append(want, id)
			s.Dispatch(Event{Delivery: id, Repo: "o/r", PR: 7})
		}
		s.Wait()
		if n := overlaps.Load(); n != 0 {
			t.Errorf("%d events ran while another of the same PR was running", n)
		}
		if diff := cmp.Diff(want, order); diff != "" {
			t.Errorf("order (-want +got):\n%s", diff)
		}
	})

	t.Run("runs different pull requests in parallel", func(t *testing.T) {
		var started sync.WaitGroup
		started.Add(2)
		both := make(chan struct{})
		go func() { started.Wait(); close(both) }()
		var together atomic.Int32
		s := &Serializer{Workers: 2, Handle: func(Event) {
			started.Done()
			select {
			case <-both:
				together.Add(1)
			case <-time.After(10 * time.Second): // a serialised run would deadlock here
			}
		}}
		s.Dispatch(Event{Repo: "o/r", PR: 1})
		s.Dispatch(Event{Repo: "o/r", PR: 2})
		s.Wait()
		if together.Load() != 2 {
			t.Error("events for PR 1 and PR 2 did not run at the same time")
		}
	})

	t.Run("tells the same number in two repositories apart", func(t *testing.T) {
		var started sync.WaitGroup
		started.Add(2)
		both := make(chan struct{})
		go func() { started.Wait(); close(both) }()
		var together atomic.Int32
		s := &Serializer{Workers: 2, Handle: func(Event) {
			started.Done()
			select {
			case <-both:
				together.Add(1)
			case <-time.After(10 * time.Second):
			}
		}}
		s.Dispatch(Event{Repo: "o/a", PR: 1})
		s.Dispatch(Event{Repo: "o/b", PR: 1})
		s.Wait()
		if together.Load() != 2 {
			t.Error("o/a#1 and o/b#1 did not run at the same time")
		}
	})

	t.Run("runs at most Workers events at once", func(t *testing.T) {
		var active, peak atomic.Int32
		var handled atomic.Int32
		s := &Serializer{Workers: 3, Handle: func(Event) {
			n := active.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			active.Add(-1)
			handled.Add(1)
		}}
		for pr := range 40 {
			s.Dispatch(Event{Repo: "o/r", PR: pr + 1})
		}
		s.Wait()
		if handled.Load() != 40 {
			t.Errorf("handled %d events, want 40", handled.Load())
		}
		if p := peak.Load(); p > 3 {
			t.Errorf("%d events ran at once, want at most 3", p)
		}
	})

	t.Run("goes on after a handler panics", func(t *testing.T) {
		var handled atomic.Int32
		s := &Serializer{Handle: func(ev Event) {
			if ev.Delivery == "bad" {
				panic("boom")
			}
			handled.Add(1)
		}}
		s.Dispatch(Event{Delivery: "bad", Repo: "o/r", PR: 1})
		s.Dispatch(Event{Delivery: "good", Repo: "o/r", PR: 1})
		s.Wait()
		if handled.Load() != 1 {
			t.Errorf("handled %d events after the panic, want 1", handled.Load())
		}
	})
}
