package schemas

import (
	"slices"
	"testing"
	"time"
)

func TestExpiryNotices(t *testing.T) {
	for _, tc := range []struct {
		name    string
		notices *Notices
		want    []time.Duration
	}{
		{"default: two days and two hours before", nil, []time.Duration{48 * time.Hour, 2 * time.Hour}},
		{"none", &Notices{Expiry: []string{}}, nil},
		{"longest first, once each, minutes too", &Notices{Expiry: []string{"30m", "1d", "24h", "1w"}}, []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, 30 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&PlatformSpec{Notices: tc.notices}).ExpiryNotices()
			if !slices.Equal(got, tc.want) {
				t.Errorf("ExpiryNotices = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExtensionLimits(t *testing.T) {
	if got := (&PlatformSpec{}).ExtensionLimits(); got != DefaultExtensions() {
		t.Errorf("without policy.extensions: %+v, want the defaults %+v", got, DefaultExtensions())
	}
	zero := 0
	got := (&PlatformSpec{Policy: Policy{Extensions: &ExtensionPolicy{MaxDuration: "2w", MaxCount: &zero, RequireApproval: true}}}).ExtensionLimits()
	if want := (Extensions{MaxDuration: 14 * 24 * time.Hour, MaxCount: 0, RequireApproval: true}); got != want {
		t.Errorf("ExtensionLimits = %+v, want %+v", got, want)
	}
}

func TestExtensionCount(t *testing.T) {
	for value, want := range map[string]int{"": 0, "2": 2, "-1": 0, "many": 0} {
		e := &Environment{Metadata: ObjectMeta{Annotations: map[string]string{AnnotationExtensions: value}}}
		if got := e.ExtensionCount(); got != want {
			t.Errorf("ExtensionCount(%q) = %d, want %d", value, got, want)
		}
	}
}
