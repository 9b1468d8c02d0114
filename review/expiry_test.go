package review

import (
	"strings"
	"testing"
	"time"

	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
)

func TestDueLead(t *testing.T) {
	expires := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	leads := []time.Duration{48 * time.Hour, 2 * time.Hour}
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Duration
		ok   bool
	}{
		{"before the first lead", expires.Add(-49 * time.Hour), 0, false},
		{"at the first lead", expires.Add(-48 * time.Hour), 48 * time.Hour, true},
		{"between the leads", expires.Add(-3 * time.Hour), 48 * time.Hour, true},
		{"within the last lead, the first one missed", expires.Add(-time.Hour), 2 * time.Hour, true},
		{"at the expiry", expires, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := dueLead(tc.now, expires, leads)
			if got != tc.want || ok != tc.ok {
				t.Errorf("dueLead = %s, %v; want %s, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseExtend(t *testing.T) {
	for _, tc := range []struct {
		args, env, date string
		add             time.Duration
		err             bool
	}{
		{args: "7d", add: 7 * 24 * time.Hour},
		{args: "shop 12h", env: "shop", add: 12 * time.Hour},
		{args: "2027-01-31", date: "2027-01-31"},
		{args: "soon", err: true},
		{args: "a b c", err: true},
		{args: "0d", err: true},
	} {
		got, err := parseExtend(tc.args)
		if (err != nil) != tc.err || got.env != tc.env || got.add != tc.add || got.date != tc.date {
			t.Errorf("parseExtend(%q) = %+v, %v", tc.args, got, err)
		}
		if tc.date != "" && !got.at.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("parseExtend(%q): a date lasts through its end, got %s", tc.args, got.at)
		}
	}
}

func TestSetExpiryKeepsTheRest(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"block style with a comment",
			"apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: shop\nspec:\n  type: namespace\n  # until the demo\n  expires: 2d\n  members: [a@example.com]\n",
			"apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: shop\n  annotations:\n    allot.dev/extensions: \"2\"\nspec:\n  type: namespace\n  # until the demo\n  expires: \"2027-01-31\"\n  members: [a@example.com]\n"},
		{"flow style without expires",
			"apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: shop, annotations: {team-note: x}}\nspec: {type: namespace, owner: dan@example.com}\n",
			"apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: shop, annotations: {team-note: x, allot.dev/extensions: \"2\"}}\nspec: {type: namespace, owner: dan@example.com, expires: \"2027-01-31\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setExpiry([]byte(tc.in), "2027-01-31", 2)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	if _, err := setExpiry([]byte("- a list\n"), "2027-01-31", 1); err == nil || !strings.Contains(err.Error(), "mapping") {
		t.Errorf("a list: %v, want an error", err)
	}
}

func TestRenderExpiring(t *testing.T) {
	expires := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	v := comment.ExpiryView{Environment: "shop", File: "environments/web/shop.yaml", Clusters: []string{"dev"}, Expires: expires,
		Now: expires.Add(-26 * time.Hour), Author: "dan", Limits: schemas.Extensions{MaxDuration: 3 * 24 * time.Hour, MaxCount: 2, RequireApproval: true}}
	got := comment.RenderExpiring(v, nil)
	for _, want := range []string{"expires in 1 day 2 hours", "@dan", "**2026-12-10 12:00 UTC**", "`/extend 3d`", "`/extend 2026-12-12`", "2 times in all", "an approver approves it"} {
		if !strings.Contains(got, want) {
			t.Errorf("the notice does not say %q:\n%s", want, got)
		}
	}
	v.Limits.MaxCount = 0
	if got := comment.RenderExpiring(v, nil); strings.Contains(got, "/extend") || !strings.Contains(got, "Extensions are off") {
		t.Errorf("with extensions off:\n%s", got)
	}
}
