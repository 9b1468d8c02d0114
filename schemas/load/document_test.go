package load

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/schemas"
)

func parseString(t *testing.T, s string) (*Document, error) {
	t.Helper()
	return parse("f.yaml", strings.NewReader(s), DefaultMaxFileSize)
}

func TestParseKeepsThePositionOfEveryField(t *testing.T) {
	doc, err := parseString(t, `apiVersion: allot.dev/v1alpha1
kind: Environment
spec:
  members:
    - a@acme.example
    - b@acme.example
  addons:
    - name: cache
      helm:
        values:
          replicas: 2
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path []string
		line int
	}{
		{[]string{"kind"}, 2},
		{[]string{"spec", "members", "1"}, 6},
		{[]string{"spec", "addons", "0", "helm", "values", "replicas"}, 11},
		{[]string{"spec", "addons", "0", "helm", "values", "missing", "deeper"}, 10},
		{[]string{"nowhere"}, 1},
	} {
		if got := doc.Pos(tc.path...); got.Line != tc.line || got.File != "f.yaml" {
			t.Errorf("Pos(%v) = %v, want f.yaml:%d", tc.path, got, tc.line)
		}
	}
}

func TestParseResolvesScalarsLikeJSON(t *testing.T) {
	doc, err := parseString(t, `a: 1
b: 1.5
c: true
d: null
e: 2026-12-31
f: "007"
g: yes
h: 0x10
`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": int64(1), "b": 1.5, "c": true, "d": nil, "e": "2026-12-31", "f": "007", "g": "yes", "h": int64(16)}
	if diff := cmp.Diff(want, doc.Value); diff != "" {
		t.Errorf("value (-want +got):\n%s", diff)
	}
}

func TestParseRefusesHostileInput(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		rule        schemas.Rule
		line        int
		msg         string
	}{
		{"anchor", "a: &x 1\nb: 2\n", schemas.RuleFile, 1, "anchors and aliases (&x)"},
		{"merge key", "a:\n  b: 1\nc:\n  <<: {b: 2}\n", schemas.RuleFile, 4, "anchors and aliases (<<)"},
		{"two documents", "a: 1\n---\nb: 2\n", schemas.RuleFile, 2, "more than one YAML document"},
		{"empty", "\n  \n", schemas.RuleFile, 0, "file is empty"},
		{"only a comment", "# nothing\n", schemas.RuleFile, 0, "holds no object"},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", schemas.RuleSyntax, 3, `field "a" appears twice`},
		{"not UTF-8", "a: 1\nb: \xff\n", schemas.RuleFile, 2, "not valid UTF-8"},
		{"deep nesting", strings.Repeat("[", 100) + strings.Repeat("]", 100), schemas.RuleFile, 1, "nesting is deeper than 64"},
		{"infinity", "a: .inf\n", schemas.RuleSyntax, 1, "not a finite number"},
		{"custom tag", "a: !!python/object 1\n", schemas.RuleSyntax, 1, "YAML tag"},
		{"complex key", "? [a, b]\n: 1\n", schemas.RuleSyntax, 1, "mapping keys must be plain strings"},
		{"syntax", "a: [1, 2\n", schemas.RuleSyntax, 1, "invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, tc.input)
			var fe *fileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a fileError", err)
			}
			if fe.rule != tc.rule || fe.line != tc.line || !strings.Contains(fe.msg, tc.msg) {
				t.Errorf("got %s line %d %q, want %s line %d containing %q", fe.rule, fe.line, fe.msg, tc.rule, tc.line, tc.msg)
			}
		})
	}
}

func TestParseRefusesFilesOverTheLimit(t *testing.T) {
	input := "a: " + strings.Repeat("x", 100) + "\n"
	_, err := parse("f.yaml", strings.NewReader(input), 64)
	var fe *fileError
	if !errors.As(err, &fe) || !strings.Contains(fe.msg, "larger than 64 bytes") {
		t.Fatalf("err = %v, want the size limit", err)
	}
	if _, err := parse("f.yaml", strings.NewReader(input), int64(len(input))); err != nil {
		t.Errorf("a file of exactly the limit: %v", err)
	}
}

// FuzzParse checks that no input makes the parser panic, and that what it
// accepts is positioned.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"a: 1\n", "a: &x [1]\nb: *x\n", "- [1, {a: b}]\n", "a: |\n  text\n", "---\n---\n", "\xff", "a: !!binary aGk=\n",
		"spec:\n  values:\n    a: [1, 2, {b: null}]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		doc, err := parse("f.yaml", strings.NewReader(s), 4096)
		if err == nil && doc.Pos().File != "f.yaml" {
			t.Fatalf("parsed document without a file")
		}
	})
}

func TestRefuseAliases(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"plain documents", "a: 1\n---\nb: [1, 2]\n---\n", ""},
		{"empty", "", ""},
		{"anchor in a later document", "a: 1\n---\nb: &x 1\n", "line 3: YAML anchors and aliases (&x) are not allowed"},
		{"alias", "a: 1\nb: *x\n", "invalid YAML"},
		{"merge key", "a:\n  b: 1\nc:\n  <<: {b: 2}\n", "line 4: YAML anchors and aliases (<<) are not allowed"},
		{"billion laughs", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "line 1: YAML anchors and aliases (&a)"},
		{"invalid YAML", "a: [1\n", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RefuseAliases([]byte(tt.yaml))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestRefuseAliasesCountsNodes(t *testing.T) {
	// A document node, a mapping, a key and a sequence of three, twice.
	n, err := RefuseAliases([]byte("a: [1, 2, 3]\n---\nb: [1, 2, 3]\n"))
	if err != nil || n != 14 {
		t.Fatalf("got %d nodes, %v; want 14", n, err)
	}
}
