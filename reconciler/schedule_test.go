package reconciler

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestScheduleBacksOffAndKeepsDeadlines(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ok, failed := &PassResult{}, &PassResult{Err: errors.New("source unreadable")}
	s := Schedule{Interval: time.Minute}
	var got []time.Duration
	for _, res := range []*PassResult{ok, failed, failed, failed, failed, failed, failed, ok, ok} {
		got = append(got, s.After(res, now))
	}
	want := []time.Duration{FirstRecheck, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	soon := &PassResult{Clusters: []ClusterResult{{Environments: []EnvResult{
		{Deadline: now.Add(20 * time.Second)}, {SleepUntil: now.Add(10 * time.Second)},
	}}}}
	if w := s.After(soon, now); w != 11*time.Second {
		t.Errorf("wait %s before a sleep change in 10s, want 11s", w)
	}
	past := &PassResult{Clusters: []ClusterResult{{Environments: []EnvResult{{Deadline: now.Add(-time.Minute)}}}}}
	if w := s.After(past, now); w != time.Second {
		t.Errorf("wait %s after a deadline already past, want 1s", w)
	}
}

func TestDebounceDropsTheTriggersOfOneEdit(t *testing.T) {
	trigger := make(chan struct{}, 1)
	trigger <- struct{}{}
	if !Debounce(context.Background(), trigger, time.Millisecond) {
		t.Fatal("Debounce gave up without its context ending")
	}
	if len(trigger) != 0 {
		t.Error("a trigger that came during the wait is left for another pass")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Debounce(ctx, trigger, time.Hour) {
		t.Error("Debounce went on after its context ended")
	}
}
