package restapi

import (
	"context"
	"testing"
	"time"
)

func TestTokenSourceRenewsBeforeExpiry(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	fetches := 0
	s := &TokenSource{
		Now: func() time.Time { return now },
		Fetch: func(context.Context) (string, time.Duration, error) {
			fetches++
			return "token-" + string(rune('0'+fetches)), 5 * time.Minute, nil
		},
	}
	get := func() string {
		t.Helper()
		tok, err := s.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := get()
	now = now.Add(4 * time.Minute)
	if tok := get(); tok != first {
		t.Errorf("after 4 of 5 minutes: token %s, want the first one still", tok)
	}
	now = now.Add(40 * time.Second)
	if tok := get(); tok == first {
		t.Errorf("20s before expiry: still the first token, want a renewed one")
	}
	if fetches != 2 {
		t.Errorf("fetches = %d, want 2", fetches)
	}
	s.Invalidate("an older token")
	if tok := get(); fetches != 2 {
		t.Errorf("invalidating a token no longer current fetched again (%s)", tok)
	}
	if !s.Refused("Bearer " + get()) {
		t.Error("Refused = false, want a new token worth trying")
	}
	if get(); fetches != 3 {
		t.Errorf("after Refused, fetches = %d, want 3", fetches)
	}
}
