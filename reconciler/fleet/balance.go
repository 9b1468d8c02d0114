package fleet

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// observation is a Lease's record as this replica last saw it change.
type observation struct {
	raw    string
	holder string
	// at is when this replica saw the record change, on its own clock.
	at       time.Time
	duration time.Duration
}

// expired reports whether the Lease is free: released, or seen unchanged
// for its whole duration.
func (o observation) expired(now time.Time) bool {
	return o.holder == "" || now.Sub(o.at) >= o.duration
}

// balance looks at the Leases once: it gives up clusters beyond this
// replica's fair share or no longer offered, and takes free ones while it
// holds fewer.
func (s *Share) balance(ctx context.Context) {
	list, err := s.o.Client.CoordinationV1().Leases(s.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		if ctx.Err() == nil {
			s.o.Log.Warn("cannot list the Leases of the home cluster; holding what is held", "namespace", s.o.Namespace, "error", err)
		}
		return
	}
	now := time.Now()
	seen := s.observe(list.Items, now)
	var members []string
	for name, o := range seen {
		if !strings.HasPrefix(name, replicaPrefix[:len(replicaPrefix)-1]) {
			continue
		}
		switch {
		case !o.expired(now):
			members = append(members, o.holder)
		case now.Sub(o.at) > forgetMembersAfter*max(o.duration, s.o.LeaseDuration):
			// A replica that was killed left its Lease behind.
			s.deleteLease(ctx, list.Items, name)
		}
	}
	s.mu.Lock()
	clusters, member := s.clusters, s.member
	s.mu.Unlock()
	s.forgetClusters(ctx, list.Items, seen, clusters, now)
	s.mu.Lock()
	var mine []string
	// A cluster with a hold, even one on its way out, is not free: its
	// work may not have ended yet.
	holding := map[string]bool{}
	for name, h := range s.holds {
		holding[name] = true
		if h.ending() {
			continue
		}
		if !slices.Contains(clusters, name) {
			h.s.o.Log.Info("giving up a cluster that left the fleet", "cluster", name)
			go h.end(EventReleased)
			continue
		}
		if !h.isLeading() && now.Sub(h.started) > s.o.LeaseDuration {
			// Its elector could not renew the Lease it took: let it go.
			go h.end(EventLost)
			continue
		}
		mine = append(mine, name)
	}
	s.mu.Unlock()
	if !member {
		// Others do not count this replica yet: taking would go beyond
		// the share they compute.
		return
	}
	if !slices.Contains(members, s.o.Identity) {
		members = append(members, s.o.Identity)
	}
	fair := (len(clusters) + len(members) - 1) / len(members)
	s.sortByScore(mine)
	for len(mine) > fair {
		// Hand over the ones this replica wants least; a replica that has
		// fewer takes them as soon as the Lease is released.
		name := mine[0]
		mine = mine[1:]
		s.o.Log.Info("handing over a cluster beyond the fair share", "cluster", name, "fair", fair, "replicas", len(members))
		s.mu.Lock()
		h := s.holds[name]
		s.mu.Unlock()
		go h.end(EventReleased)
	}
	var free []string
	for _, name := range clusters {
		o, ok := seen[LeaseName(name)]
		if !holding[name] && (!ok || o.expired(now) || o.holder == s.o.Identity) {
			free = append(free, name)
		}
	}
	s.sortByScore(free)
	slices.Reverse(free)
	for _, name := range free {
		if len(mine) >= fair || ctx.Err() != nil {
			break
		}
		if s.take(ctx, name, seen[LeaseName(name)]) {
			mine = append(mine, name)
		}
	}
}

// observe notes when each Lease's record changed, and forgets Leases that
// are gone.
func (s *Share) observe(leases []coordinationv1.Lease, now time.Time) map[string]observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]observation, len(leases))
	for i := range leases {
		l := &leases[i]
		if !strings.HasPrefix(l.Name, clusterPrefix[:len(clusterPrefix)-1]) && !strings.HasPrefix(l.Name, replicaPrefix[:len(replicaPrefix)-1]) {
			continue
		}
		rec, raw := record(&l.Spec)
		o, ok := s.seen[l.Name]
		if !ok || o.raw != raw {
			o = observation{raw: raw, holder: rec.HolderIdentity, at: now, duration: time.Duration(rec.LeaseDurationSeconds) * time.Second}
		}
		next[l.Name] = o
	}
	s.seen = next
	return next
}

// record is a Lease's election record and its canonical bytes, as
// client-go's LeaseLock returns them.
func record(spec *coordinationv1.LeaseSpec) (*resourcelock.LeaderElectionRecord, string) {
	rec := resourcelock.LeaseSpecToLeaderElectionRecord(spec)
	raw, _ := json.Marshal(*rec)
	return rec, string(raw)
}

// take makes this replica the holder of a free cluster Lease and starts
// its elector. The update carries the resourceVersion read, so of two
// replicas that take one Lease at once, one wins.
func (s *Share) take(ctx context.Context, cluster string, o observation) bool {
	h := &hold{cluster: cluster, s: s, ended: make(chan struct{}), started: time.Now()}
	lock := &guardedLock{h: h, Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: s.o.Namespace, Name: LeaseName(cluster)},
		Client:     s.o.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.o.Identity},
		Labels:     map[string]string{"app.kubernetes.io/managed-by": "allot"},
	}}
	now := metav1.NewTime(time.Now())
	want := resourcelock.LeaderElectionRecord{HolderIdentity: s.o.Identity, LeaseDurationSeconds: int(s.o.LeaseDuration / time.Second), AcquireTime: now, RenewTime: now}
	rec, raw, err := lock.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		err = lock.Create(ctx, want)
	case err != nil:
	case string(raw) != o.raw && rec.HolderIdentity != "" && rec.HolderIdentity != s.o.Identity:
		// Renewed or taken since the list: not free.
		return false
	default:
		want.LeaderTransitions = rec.LeaderTransitions + 1
		err = lock.Update(ctx, want)
	}
	if err != nil {
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && ctx.Err() == nil {
			s.o.Log.Warn("cannot take a cluster lease", "cluster", cluster, "error", err)
		}
		return false
	}
	s.mu.Lock()
	s.holds[cluster] = h
	s.mu.Unlock()
	h.start(ctx, lock)
	return true
}

// sortByScore orders clusters by how little this replica wants them:
// rendezvous hashing of its identity and the cluster's name.
func (s *Share) sortByScore(clusters []string) {
	score := func(c string) uint64 {
		f := fnv.New64a()
		f.Write([]byte(s.o.Identity))
		f.Write([]byte{0})
		f.Write([]byte(c))
		return f.Sum64()
	}
	slices.SortFunc(clusters, func(a, b string) int {
		sa, sb := score(a), score(b)
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return strings.Compare(a, b)
	})
}

// acquired counts a cluster this replica now works on.
func (s *Share) acquired(h *hold) {
	s.transitions.WithLabelValues(h.cluster, EventAcquired).Inc()
	s.countHeld()
	s.o.Log.Info("holding cluster", "cluster", h.cluster, "identity", s.o.Identity)
	if s.o.OnAcquired != nil {
		s.o.OnAcquired(h.cluster)
	}
}

// ended forgets a hold whose elector stopped.
func (s *Share) ended(h *hold) {
	h.mu.Lock()
	led, event := h.leading, h.event
	h.mu.Unlock()
	if event == "" {
		event = EventLost
	}
	s.mu.Lock()
	if s.holds[h.cluster] == h {
		delete(s.holds, h.cluster)
	}
	s.mu.Unlock()
	s.countHeld()
	if led {
		s.transitions.WithLabelValues(h.cluster, event).Inc()
		s.o.Log.Info("no longer holding cluster", "cluster", h.cluster, "identity", s.o.Identity, "why", event)
	}
}

// keepMembership holds this replica's own Lease, which tells the others
// it is alive, until ctx ends; then it gives it up.
func (s *Share) keepMembership(ctx context.Context) {
	for ctx.Err() == nil {
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: s.o.Namespace, Name: memberLeaseName(s.o.Identity)},
			Client:     s.o.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: s.o.Identity},
			Labels:     map[string]string{"app.kubernetes.io/managed-by": "allot"},
		}
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, ReleaseOnCancel: true,
			LeaseDuration: s.o.LeaseDuration, RenewDeadline: s.o.RenewDeadline, RetryPeriod: s.o.RetryPeriod,
			Name: "membership",
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) { s.setMember(true) },
				OnStoppedLeading: func() { s.setMember(false) },
			},
		})
		if err != nil {
			s.o.Log.Error("membership lease: cannot elect", "error", err)
			return
		}
		le.Run(ctx)
	}
	s.collect()
}

func (s *Share) setMember(on bool) {
	s.mu.Lock()
	s.member = on
	s.mu.Unlock()
}

// forgetMembersAfter is how many lease durations a dead replica's
// membership Lease, or the Lease of a cluster that left the fleet, stays
// before a live replica deletes it.
const forgetMembersAfter = 10

// forgetClusters deletes the Leases of clusters that left the fleet once
// nobody has renewed them for long.
func (s *Share) forgetClusters(ctx context.Context, leases []coordinationv1.Lease, seen map[string]observation, clusters []string, now time.Time) {
	if len(clusters) == 0 {
		return
	}
	offered := map[string]bool{}
	for _, c := range clusters {
		offered[LeaseName(c)] = true
	}
	for name, o := range seen {
		if strings.HasPrefix(name, clusterPrefix[:len(clusterPrefix)-1]) && !offered[name] && now.Sub(o.at) > forgetMembersAfter*max(o.duration, s.o.LeaseDuration) {
			s.deleteLease(ctx, leases, name)
		}
	}
}

// deleteLease deletes one of leases if it has not changed since it was
// listed.
func (s *Share) deleteLease(ctx context.Context, leases []coordinationv1.Lease, name string) {
	for i := range leases {
		if l := &leases[i]; l.Name == name {
			err := s.o.Client.CoordinationV1().Leases(s.o.Namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &l.ResourceVersion}})
			if err == nil {
				s.o.Log.Info("deleted a Lease nobody renewed for long", "lease", name)
			}
		}
	}
}

// collect deletes this replica's released membership Lease on the way
// out, so that replicas that come and go leave none behind.
func (s *Share) collect() {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.RenewDeadline)
	defer cancel()
	leases := s.o.Client.CoordinationV1().Leases(s.o.Namespace)
	l, err := leases.Get(ctx, memberLeaseName(s.o.Identity), metav1.GetOptions{})
	if err != nil || (l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "") {
		return
	}
	_ = leases.Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &l.ResourceVersion}})
}

// countHeld sets allot_clusters_held; counting and setting under one lock
// keeps two holds that change at once from leaving a stale count.
func (s *Share) countHeld() {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, h := range s.holds {
		if h.isLeading() {
			n++
		}
	}
	s.held.Set(float64(n))
}
