package schemas

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Expiry is a parsed spec.expires: either a point in time, or a time to live
// counted from when the request is merged.
type Expiry struct {
	// At is the moment the environment expires; zero for a TTL.
	At time.Time
	// TTL is how long the environment lives after the merge; zero for At.
	TTL time.Duration
}

var ttlPattern = regexp.MustCompile(`^([0-9]{1,5})(h|d|w)$`)

// ParseTTL parses a duration written as a whole number of hours, days or
// weeks: 12h, 14d, 2w.
func ParseTTL(s string) (time.Duration, error) {
	m := ttlPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a duration; write a whole number of hours, days or weeks such as 12h, 14d or 2w", s)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	if n == 0 {
		return 0, fmt.Errorf("%q is zero; an environment must live a while", s)
	}
	return time.Duration(n) * unit, nil
}

// ParseExpiry parses spec.expires: a date (2026-12-31, meaning through the end
// of that day in UTC), an RFC 3339 timestamp, or a TTL (see ParseTTL).
func ParseExpiry(s string) (Expiry, error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return Expiry{At: d.AddDate(0, 0, 1)}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return Expiry{At: t}, nil
	}
	ttl, err := ParseTTL(s)
	if err != nil {
		return Expiry{}, fmt.Errorf("%q is neither a date (2026-12-31), a timestamp (2026-12-31T18:00:00Z) nor a duration (12h, 14d, 2w)", s)
	}
	return Expiry{TTL: ttl}, nil
}

// Notices says when allot comments on the pull request that created an
// environment.
type Notices struct {
	// Expiry lists how long before an environment expires allot warns,
	// one comment each, such as 48h and 2h; nil means DefaultExpiryNotices,
	// an empty list none.
	Expiry []string `json:"expiry,omitempty"`
}

// DefaultExpiryNotices warn two days and two hours before an environment
// expires.
var DefaultExpiryNotices = []time.Duration{48 * time.Hour, 2 * time.Hour}

// ExpiryNotices returns the lead times of the expiry warnings, longest
// first. Entries that do not parse are left out; validation names them.
func (p *PlatformSpec) ExpiryNotices() []time.Duration {
	if p == nil || p.Notices == nil || p.Notices.Expiry == nil {
		return slices.Clone(DefaultExpiryNotices)
	}
	var out []time.Duration
	for _, s := range p.Notices.Expiry {
		if d, err := ParseLeadTime(s); err == nil {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	return slices.Compact(out)
}

var leadPattern = regexp.MustCompile(`^([0-9]{1,5})m$`)

// ParseLeadTime parses how long before an event a notice goes out: a
// duration as ParseTTL reads it, or a whole number of minutes (30m).
func ParseLeadTime(s string) (time.Duration, error) {
	if m := leadPattern.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n == 0 {
			return 0, fmt.Errorf("%q is zero; a notice must come before the event", s)
		}
		return time.Duration(n) * time.Minute, nil
	}
	d, err := ParseTTL(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration; write a whole number of minutes, hours, days or weeks such as 30m, 2h or 2d", s)
	}
	return d, nil
}

// ExtensionPolicy bounds what `/extend` may do: how much one extension
// adds, how many an environment may have, and whether the pull request it
// opens needs an approver.
type ExtensionPolicy struct {
	// MaxDuration is the most one extension adds to the expiry (ParseTTL);
	// empty means 7d.
	MaxDuration string `json:"maxDuration,omitempty"`
	// MaxCount is how many extensions one environment may have; nil means
	// 3, and 0 turns /extend off.
	MaxCount *int `json:"maxCount,omitempty"`
	// RequireApproval makes the extension's pull request wait for an
	// approver as any other; otherwise allot merges it once its check
	// passes.
	RequireApproval bool `json:"requireApproval,omitempty"`
}

// Extensions is an ExtensionPolicy with its defaults filled in.
type Extensions struct {
	MaxDuration     time.Duration
	MaxCount        int
	RequireApproval bool
}

// DefaultExtensions is what /extend may do when allot.yaml says nothing:
// three extensions of at most a week each, merged without review.
func DefaultExtensions() Extensions {
	return Extensions{MaxDuration: 7 * 24 * time.Hour, MaxCount: 3}
}

// ExtensionLimits returns the extension policy with its defaults. A
// maxDuration that does not parse keeps the default; validation names it.
func (p *PlatformSpec) ExtensionLimits() Extensions {
	e := DefaultExtensions()
	if p == nil || p.Policy.Extensions == nil {
		return e
	}
	pol := p.Policy.Extensions
	if d, err := ParseTTL(pol.MaxDuration); err == nil {
		e.MaxDuration = d
	}
	if pol.MaxCount != nil {
		e.MaxCount = max(*pol.MaxCount, 0)
	}
	e.RequireApproval = pol.RequireApproval
	return e
}

// AnnotationExtensions counts, on a request's metadata, the extensions
// `/extend` has made, so that the count lives in git with the expiry.
const AnnotationExtensions = "allot.dev/extensions"

// ExtensionCount reads AnnotationExtensions; a missing or unreadable
// value counts as none made.
func (e *Environment) ExtensionCount() int {
	n, err := strconv.Atoi(e.Metadata.Annotations[AnnotationExtensions])
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// ExpiryNotice is when one expiry notice of an environment is due.
type ExpiryNotice struct {
	// Before is the lead time, At when the notice is due.
	Before time.Duration `json:"before"`
	At     time.Time     `json:"at"`
}

// ExpiryNoticesFor lists when the expiry notices of an environment that
// expires at expires are due, earliest first; none for one that never
// expires.
func (p *PlatformSpec) ExpiryNoticesFor(expires time.Time) []ExpiryNotice {
	if expires.IsZero() {
		return nil
	}
	var out []ExpiryNotice
	for _, l := range p.ExpiryNotices() {
		out = append(out, ExpiryNotice{Before: l, At: expires.Add(-l)})
	}
	return out
}
