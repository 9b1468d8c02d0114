package review

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCommands(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []Command
	}{
		{
			name: "reads every known command",
			body: "/approve\n/approve cancel\n/hold\n/hold cancel\n/unhold\n/plan\n/help",
			want: []Command{
				{Name: Approve, Line: 1, Word: "/approve"},
				{Name: Approve, Cancel: true, Line: 2, Word: "/approve"},
				{Name: Hold, Line: 3, Word: "/hold"},
				{Name: Hold, Cancel: true, Line: 4, Word: "/hold"},
				{Name: Hold, Cancel: true, Line: 5, Word: "/unhold"},
				{Name: Plan, Line: 6, Word: "/plan"},
				{Name: Help, Line: 7, Word: "/help"},
			},
		},
		{
			name: "reads /wake with or without a duration",
			body: "/wake\n/wake 2h",
			want: []Command{
				{Name: Wake, Line: 1, Word: "/wake"},
				{Name: Wake, Line: 2, Word: "/wake", Args: "2h"},
			},
		},
		{
			name: "ignores case and surrounding blanks",
			body: "   /APPROVE  \r\n  /Hold CANCEL\t",
			want: []Command{
				{Name: Approve, Line: 1, Word: "/approve"},
				{Name: Hold, Cancel: true, Line: 2, Word: "/hold"},
			},
		},
		{
			name: "counts lines across every kind of line ending",
			body: "a\rb\r\nc\n/plan",
			want: []Command{{Name: Plan, Line: 4, Word: "/plan"}},
		},
		{
			name: "takes commands only at the start of a line",
			body: "please /approve\nLGTM, /approve",
		},
		{
			name: "does not take paths or punctuation for commands",
			body: "/path/to/file is wrong\n/approve.\n/approve, thanks\n/ approve\n/1st",
		},
		{
			name: "returns unknown words so the bot can reply",
			body: "/lgtm\n/Retest all",
			want: []Command{
				{Name: Unknown, Line: 1, Word: "/lgtm"},
				{Name: Unknown, Line: 2, Word: "/retest", Args: "all"},
			},
		},
		{
			name: "returns known words with arguments they do not take as unknown",
			body: "/approve now please\n/approve cancel extra\n/unhold cancel\n/plan prod",
			want: []Command{
				{Name: Unknown, Line: 1, Word: "/approve", Args: "now please"},
				{Name: Unknown, Line: 2, Word: "/approve", Args: "cancel extra"},
				{Name: Unknown, Line: 3, Word: "/unhold", Args: "cancel"},
				{Name: Unknown, Line: 4, Word: "/plan", Args: "prod"},
			},
		},
		{
			name: "ignores fenced code with backticks, tildes and info strings",
			body: "```\n/approve\n```\n~~~ yaml\n/hold\n~~~\n``` sh title=\"x\"\n/plan\n```\n/help",
			want: []Command{{Name: Help, Line: 10, Word: "/help"}},
		},
		{
			name: "keeps a fence open until a fence of the same kind at least as long",
			body: "````\n```\n/approve\n~~~~\n````\n/plan",
			want: []Command{{Name: Plan, Line: 6, Word: "/plan"}},
		},
		{
			name: "does not close a fence on a line with text after the run",
			body: "```\n``` /approve\n/approve\n```\n/plan",
			want: []Command{{Name: Plan, Line: 5, Word: "/plan"}},
		},
		{
			name: "does not close a fence on an indented code line",
			body: "```\n    ```\n/approve\n```\n/plan",
			want: []Command{{Name: Plan, Line: 5, Word: "/plan"}},
		},
		{
			name: "ignores everything after an unterminated fence",
			body: "/plan\n```go\n/approve\n/hold",
			want: []Command{{Name: Plan, Line: 1, Word: "/plan"}},
		},
		{
			name: "ignores fences opened inside list items and quotes",
			body: "- ```\n  /approve\n  ```\n> ~~~\n/hold\n~~~\n/plan",
			want: []Command{{Name: Plan, Line: 7, Word: "/plan"}},
		},
		{
			name: "does not take inline code for a fence",
			body: "```/approve``` is how\n/plan",
			want: []Command{{Name: Plan, Line: 2, Word: "/plan"}},
		},
		{
			name: "ignores indented code",
			body: "    /approve\n\t/hold\n  \t/plan\n   /help",
			want: []Command{{Name: Help, Line: 4, Word: "/help"}},
		},
		{
			name: "ignores quoted lines",
			body: "> /approve\n>/hold\n   > /plan\n> > /help",
		},
		{
			name: "ignores HTML comments on one line or many",
			body: "<!-- /approve -->\n<!--\n/approve\n/hold\n-->\n/plan\n<!-- a --><!--\n/approve\n--> /hold\n/help",
			want: []Command{
				{Name: Plan, Line: 6, Word: "/plan"},
				{Name: Help, Line: 10, Word: "/help"},
			},
		},
		{
			name: "reads a command followed by a comment",
			body: "/approve <!-- looks fine -->",
			want: []Command{{Name: Approve, Line: 1, Word: "/approve"}},
		},
		{
			name: "ignores everything after an unterminated comment",
			body: "/plan\n<!--\n/approve",
			want: []Command{{Name: Plan, Line: 1, Word: "/plan"}},
		},
		{
			name: "does not let a comment close itself",
			body: "<!-->\n/approve\n-->\n/plan",
			want: []Command{{Name: Plan, Line: 4, Word: "/plan"}},
		},
		{
			name: "takes comment markers inside code for text",
			body: "```\n<!--\n```\n/approve",
			want: []Command{{Name: Approve, Line: 4, Word: "/approve"}},
		},
		{
			name: "returns nothing for an empty body",
			body: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCommands(tt.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCommands(%q) (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestParseCommandsBoundsInput(t *testing.T) {
	t.Run("ignores text past the limit", func(t *testing.T) {
		body := strings.Repeat("x\n", MaxCommandBody/2) + "/approve\n"
		if got := ParseCommands(body); len(got) != 0 {
			t.Errorf("got %v, want no commands past %d bytes", got, MaxCommandBody)
		}
	})
	t.Run("drops the line the limit cuts", func(t *testing.T) {
		// "/approve cancel" cut after "/approve" must not become an approval.
		pad := strings.Repeat("x\n", (MaxCommandBody-len("/approve"))/2)
		body := pad + "/approve cancel\n"
		if len(pad)+len("/approve") != MaxCommandBody {
			t.Fatalf("padding is %d bytes, want the cut right after /approve", len(pad))
		}
		if got := ParseCommands(body); len(got) != 0 {
			t.Errorf("got %v, want the cut line dropped", got)
		}
	})
	t.Run("reads commands up to the limit", func(t *testing.T) {
		body := strings.Repeat("x\n", MaxCommandBody/2-10) + "/plan\n" + strings.Repeat("y", MaxCommandBody)
		want := []Command{{Name: Plan, Line: MaxCommandBody/2 - 9, Word: "/plan"}}
		if diff := cmp.Diff(want, ParseCommands(body)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

var lineEnding = regexp.MustCompile(`\r\n|\r|\n`)

func FuzzParseCommands(f *testing.F) {
	for _, seed := range []string{
		"/approve",
		"/approve cancel\n/hold\n/unhold\n/plan\n/help\n/lgtm",
		"```\n/approve\n```\n/hold",
		"````\n```\n/approve\n````",
		"~~~ yaml\n/approve\n~~~",
		"- ```\n  /approve\n  ```",
		"```\n    ```\n/approve",
		"    /approve\n\t/approve",
		"> /approve\n>/approve\n   > /approve",
		"<!-- /approve -->\n<!--\n/approve\n-->",
		"<!-->\n/approve",
		"/approve <!-- x",
		"a\r/approve\r\n/hold\r",
		"/APPROVE CANCEL",
		"/approve\x00\xff cancel",
		"```/approve```",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmds := ParseCommands(body)

		lines := lineEnding.Split(body, -1)
		prev := 0
		for _, c := range cmds {
			if c.Line < 1 || c.Line > len(lines) {
				t.Fatalf("command %+v outside the body's %d lines", c, len(lines))
			}
			if c.Line <= prev {
				t.Fatalf("command %+v not after line %d", c, prev)
			}
			prev = c.Line
			text := lines[c.Line-1]
			_, rest := indent(text)
			if strings.HasPrefix(rest, ">") {
				t.Fatalf("command %+v from quoted line %q", c, text)
			}
			if !strings.HasPrefix(strings.ToLower(strings.TrimLeft(text, " \t")), c.Word) {
				t.Fatalf("command %+v does not start line %q", c, text)
			}
			switch c.Name {
			case Approve, Hold, Plan, Help, Unknown:
			default:
				t.Fatalf("command %+v has no known name", c)
			}
		}
		if diff := cmp.Diff(cmds, ParseCommands(body)); diff != "" {
			t.Fatalf("parsing twice differs (-first +second):\n%s", diff)
		}
	})
}
