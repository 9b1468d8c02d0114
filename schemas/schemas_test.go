package schemas

import (
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	for _, tc := range []struct {
		in   string
		at   time.Time
		ttl  time.Duration
		fail bool
	}{
		{in: "2026-12-31", at: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2026-12-31T18:00:00+01:00", at: time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC)},
		{in: "12h", ttl: 12 * time.Hour},
		{in: "14d", ttl: 14 * 24 * time.Hour},
		{in: "2w", ttl: 14 * 24 * time.Hour},
		{in: "0h", fail: true},
		{in: "1.5d", fail: true},
		{in: "-3d", fail: true},
		{in: "2026-13-01", fail: true},
		{in: "999999d", fail: true},
	} {
		e, err := ParseExpiry(tc.in)
		if (err != nil) != tc.fail {
			t.Errorf("ParseExpiry(%q) error = %v, want failure %v", tc.in, err, tc.fail)
			continue
		}
		if !e.At.Equal(tc.at) || e.TTL != tc.ttl {
			t.Errorf("ParseExpiry(%q) = %+v, want at %v ttl %v", tc.in, e, tc.at, tc.ttl)
		}
	}
}

func TestPlace(t *testing.T) {
	p := &PlatformSpec{Clusters: []Cluster{
		{Name: "a", Labels: map[string]string{"region": "eu"}},
		{Name: "b", Labels: map[string]string{"region": "eu", "host": "true"}},
		{Name: "c", Labels: map[string]string{"region": "us", "host": "true"}},
	}}
	hosts := &TemplateSpec{ClusterSelector: &LabelSelector{MatchLabels: map[string]string{"host": "true"}}}
	names := func(cs []Cluster) string {
		s := ""
		for _, c := range cs {
			s += c.Name
		}
		return s
	}
	for _, tc := range []struct {
		name string
		env  EnvironmentSpec
		tmpl *TemplateSpec
		want string
	}{
		{"by name", EnvironmentSpec{Cluster: "a"}, nil, "a"},
		{"by name, refused by the type", EnvironmentSpec{Cluster: "a"}, hosts, ""},
		{"by labels, in allot.yaml order", EnvironmentSpec{Placement: &Placement{LabelSelector{MatchLabels: map[string]string{"region": "eu"}}}}, nil, "ab"},
		{"by labels and type", EnvironmentSpec{Placement: &Placement{LabelSelector{MatchLabels: map[string]string{"region": "eu"}}}}, hosts, "b"},
		{"by expression", EnvironmentSpec{Placement: &Placement{LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "region", Operator: "NotIn", Values: []string{"eu"}}}}}}, nil, "c"},
		{"nothing asked", EnvironmentSpec{}, nil, ""},
	} {
		got, err := Place(p, &tc.env, tc.tmpl)
		if err != nil || names(got) != tc.want {
			t.Errorf("%s: Place = %q, %v; want %q", tc.name, names(got), err, tc.want)
		}
	}
}

func TestValidatorSuggestsTheFieldMeant(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"apiVersion": APIVersion, "kind": "Environment", "metadata": map[string]any{"name": "x"},
		"spec": map[string]any{"type": "namespace", "owner": "a@b.c", "team": "t", "memebers": []any{}, "zzzzzz": 1}}
	got := v.Validate(KindEnvironment, doc)
	want := map[string]string{
		"spec/memebers": `unknown field "memebers" in spec; did you mean "members"?`,
		"spec/zzzzzz":   `unknown field "zzzzzz" in spec; allowed fields are addons, cluster, expires, members, owner, placement, size, sleep, team, type, values`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for _, e := range got {
		key := e.Path[0] + "/" + e.Path[1]
		if want[key] != e.Message {
			t.Errorf("%s: %q, want %q", key, e.Message, want[key])
		}
	}
}
