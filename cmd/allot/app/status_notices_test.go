package app

import (
	"testing"
	"time"

	"github.com/allot-dev/allot/schemas"
)

func TestStatusSaysWhenExpiryNoticesAreDue(t *testing.T) {
	expires := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	notices := (&schemas.PlatformSpec{Notices: &schemas.Notices{Expiry: []string{"48h", "30m"}}}).ExpiryNoticesFor(expires)
	got := noticesText(notices, expires.Add(-time.Hour))
	want := "48h before, passed 2026-12-08T12:00:00Z; 30m before, due 2026-12-10T11:30:00Z"
	if got != want {
		t.Errorf("noticesText = %q, want %q", got, want)
	}
	if n := (&schemas.PlatformSpec{}).ExpiryNoticesFor(time.Time{}); n != nil {
		t.Errorf("an environment that never expires has notices %v", n)
	}
}
