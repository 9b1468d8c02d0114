package fleet

import (
	"context"
	"sync"
	"time"

	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// hold is this replica's claim on one cluster: the elector that renews its
// Lease, and the work that may run while it leads.
type hold struct {
	cluster string
	s       *Share
	// stopElector ends the elector, which then gives the Lease up.
	stopElector context.CancelFunc
	// ended is closed when the elector has returned.
	ended   chan struct{}
	started time.Time

	mu       sync.Mutex
	work     context.Context
	stopWork context.CancelFunc
	leading  bool
	stopped  bool
	// event is why the hold ends: released or lost.
	event string
	// renewed is when the last successful renewal was sent.
	renewed  time.Time
	deadline *time.Timer
	busy     sync.WaitGroup
	settled  sync.Once
}

// start runs the cluster's elector over lock, a guardedLock of h; the
// Lease already names this replica, so the elector leads at its first try.
func (h *hold) start(ctx context.Context, lock *guardedLock) {
	// Run ends the hold itself when its context ends, work first.
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stopElector = cancel
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock,
		// Given up only after the work ended: guardedLock waits for it.
		ReleaseOnCancel: true,
		LeaseDuration:   h.s.o.LeaseDuration,
		RenewDeadline:   h.s.o.RenewDeadline,
		RetryPeriod:     h.s.o.RetryPeriod,
		Name:            h.cluster,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: h.lead,
			OnStoppedLeading: func() { h.settle(); h.s.ended(h) },
		},
	})
	if err != nil {
		// New checked the durations; nothing else can fail.
		h.s.o.Log.Error("cluster lease: cannot elect", "cluster", h.cluster, "error", err)
		cancel()
		close(h.ended)
		h.s.ended(h)
		return
	}
	go func() {
		defer close(h.ended)
		le.Run(ectx)
	}()
}

// lead lets work start, until the elector stops leading or the renew
// deadline passes with no renewal.
func (h *hold) lead(ctx context.Context) {
	h.mu.Lock()
	if h.stopped || ctx.Err() != nil {
		h.mu.Unlock()
		return
	}
	h.work, h.stopWork = context.WithCancel(ctx)
	h.leading = true
	h.deadline = time.AfterFunc(time.Until(h.renewed.Add(h.s.o.RenewDeadline)), h.expire)
	h.mu.Unlock()
	h.s.acquired(h)
}

// expire ends the hold when no renewal succeeded within the renew
// deadline, before anyone else may take the Lease.
func (h *hold) expire() {
	h.mu.Lock()
	late := !h.stopped && time.Since(h.renewed) >= h.s.o.RenewDeadline
	h.mu.Unlock()
	if !late {
		return
	}
	h.s.o.Log.Warn("cluster lease not renewed within the renew deadline; stopping work on the cluster", "cluster", h.cluster, "identity", h.s.o.Identity)
	h.end(EventLost)
}

// end stops the work and waits for it, the elector renewing the Lease
// meanwhile, and then stops the elector, which gives the Lease up.
func (h *hold) end(event string) {
	h.mu.Lock()
	if h.event == "" {
		h.event = event
	}
	h.mu.Unlock()
	h.settle()
	h.stopElector()
}

// renew notes a renewal that was sent at sent and succeeded.
func (h *hold) renew(sent time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.renewed = sent
	if h.deadline != nil && !h.stopped {
		h.deadline.Reset(time.Until(sent.Add(h.s.o.RenewDeadline)))
	}
}

// enter starts one piece of work, if the hold lets work start.
func (h *hold) enter(ctx context.Context) (context.Context, func(), bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.leading || h.stopped {
		return nil, nil, false
	}
	h.busy.Add(1)
	wctx, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(h.work, cancel)
	start := time.Now()
	h.s.o.Log.Debug("cluster work started", "cluster", h.cluster, "identity", h.s.o.Identity, "at", start.UTC().Format(time.RFC3339Nano))
	var once sync.Once
	return wctx, func() {
		once.Do(func() {
			unhook()
			cancel()
			h.s.o.Log.Debug("cluster work ended", "cluster", h.cluster, "identity", h.s.o.Identity, "at", time.Now().UTC().Format(time.RFC3339Nano), "started", start.UTC().Format(time.RFC3339Nano))
			h.busy.Done()
		})
	}, true
}

func (h *hold) isLeading() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leading && !h.stopped
}

// stop lets no more work start and cancels what runs.
func (h *hold) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	if h.stopWork != nil {
		h.stopWork()
	}
	if h.deadline != nil {
		h.deadline.Stop()
	}
}

// settle stops the work, waits for it to end, and then stops what still
// watches the cluster; after it, the Lease may go.
func (h *hold) settle() {
	h.stop()
	h.busy.Wait()
	h.settled.Do(func() {
		h.mu.Lock()
		led := h.leading
		h.mu.Unlock()
		if led && h.s.o.OnRelease != nil {
			h.s.o.OnRelease(h.cluster)
		}
	})
}

// guardedLock is the cluster's Lease as the elector sees it: a renewal
// that succeeds moves the renew deadline, and giving the Lease up waits
// until the work on the cluster has ended — client-go's release happens
// before it cancels the leader's context, so the work must end first.
type guardedLock struct {
	resourcelock.Interface
	h *hold
}

func (l *guardedLock) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	sent := time.Now()
	err := l.Interface.Create(ctx, rec)
	if err == nil {
		l.h.renew(sent)
	}
	return err
}

func (l *guardedLock) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	mine := rec.HolderIdentity == l.Identity()
	if !mine {
		l.h.settle()
	}
	sent := time.Now()
	err := l.Interface.Update(ctx, rec)
	if err == nil && mine {
		l.h.renew(sent)
	}
	return err
}

// ending reports whether the hold is on its way out.
func (h *hold) ending() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stopped
}
