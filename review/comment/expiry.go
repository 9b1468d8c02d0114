package comment

import (
	"fmt"
	"strings"
	"time"

	"github.com/allot-dev/allot/schemas"
)

// ExpiryView is what an expiry notice shows.
type ExpiryView struct {
	Environment string
	File        string
	Clusters    []string
	Expires     time.Time
	// Now is when the notice is written, for "in 2 hours".
	Now time.Time
	// Author is who opened the pull request that created the environment.
	Author string
	// Limits are what /extend may do.
	Limits schemas.Extensions
}

// RenderExpiring renders the notice that an environment expires soon:
// what, when, and how to extend it.
func RenderExpiring(v ExpiryView, secrets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Environment %s expires %s\n\n", Code(v.Environment), relative(v.Expires.Sub(v.Now)))
	fmt.Fprintf(&b, "%s%s %s expires at **%s** (%s); allot tears it down then.\n\n",
		mention(v.Author), expiryWhat(v), expiryWhere(v), v.Expires.UTC().Format("2006-01-02 15:04 MST"), relative(v.Expires.Sub(v.Now)))
	if v.Limits.MaxCount == 0 {
		b.WriteString("Extensions are off (`policy.extensions.maxCount` is 0 in `allot.yaml`); ask the platform team.\n")
		return finish("", b.String(), secrets)
	}
	step := min(7*24*time.Hour, v.Limits.MaxDuration)
	fmt.Fprintf(&b, "To keep it longer, comment `/extend %s` on this pull request (adds %s)", ttlWord(step), Duration(step))
	if v.Limits.MaxDuration >= 48*time.Hour {
		// A date means through its end: the day before the longest
		// extension ends stays within it.
		fmt.Fprintf(&b, ", or `/extend %s` (through that day, UTC)", v.Expires.UTC().Add(v.Limits.MaxDuration-24*time.Hour).Format(time.DateOnly))
	}
	fmt.Fprintf(&b, "; `/extend %s %s` names the environment when the pull request created several.\n\n", Escape(v.Environment), ttlWord(step))
	how := "allot merges it once its check passes"
	if v.Limits.RequireApproval {
		how = "an approver approves it as any other"
	}
	fmt.Fprintf(&b, "The author of this pull request, the team's approvers, and the request's owner and members (by the public e-mail address of their GitHub profile) may extend it, by at most %s at a time and %s in all: "+
		"allot opens a pull request that changes `expires` in the request, and %s.\n",
		Duration(v.Limits.MaxDuration), Count(v.Limits.MaxCount, "time"), how)
	return finish("", b.String(), secrets)
}

// RenderExpired renders the last notice: the environment is gone.
func RenderExpired(v ExpiryView, secrets []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Environment %s expired and is torn down\n\n", Code(v.Environment))
	fmt.Fprintf(&b, "%s%s %s expired at **%s**; allot deleted what it had made for it.\n\n",
		mention(v.Author), expiryWhat(v), expiryWhere(v), v.Expires.UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("Its request stays in git until someone deletes it; a new request asks for a new environment.\n")
	return finish("", b.String(), secrets)
}

func mention(login string) string {
	if login == "" {
		return ""
	}
	return "@" + Escape(login) + ", "
}

func expiryWhat(v ExpiryView) string {
	what := "environment " + Code(v.Environment)
	if v.File != "" {
		what += " (" + Code(v.File) + ")"
	}
	return what
}

func expiryWhere(v ExpiryView) string {
	switch len(v.Clusters) {
	case 0:
		return ""
	case 1:
		return "on cluster " + Code(v.Clusters[0])
	}
	return "on clusters " + List(v.Clusters, 10, "cluster", Code)
}

// relative says when a moment d from now is: "in 2 days", "in 3 hours".
func relative(d time.Duration) string {
	if d <= 0 {
		return "now"
	}
	return "in " + Duration(d)
}

// Duration says d in words, rounded down to days and hours, or minutes
// under an hour: "2 days 3 hours".
func Duration(d time.Duration) string {
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days > 0 && hours > 0:
		return units(days, "day") + " " + units(hours, "hour")
	case days > 0:
		return units(days, "day")
	case hours > 0:
		return units(hours, "hour")
	}
	return units(max(int(d/time.Minute), 1), "minute")
}

// units is n of a unit of time: "1 day", "7 days".
func units(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return withCommas(n) + " " + unit + "s"
}

// ttlWord writes d as /extend reads it: whole days, else whole hours.
func ttlWord(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dh", max(d/time.Hour, 1))
}
