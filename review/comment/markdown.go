package comment

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// bullets writes a list of the first n items, formatted by f, and says how
// many it leaves out.
func bullets[T any](b *strings.Builder, items []T, n int, noun string, f func(T) string) {
	shown, more := firstN(items, n)
	for _, it := range shown {
		b.WriteString("- " + f(it) + "\n")
	}
	switch {
	case more > 0 && len(shown) > 0:
		fmt.Fprintf(b, "- … %s not shown\n", Count(more, "more "+noun))
	case more > 0:
		fmt.Fprintf(b, "- … %s not shown\n", Count(more, noun))
	}
	b.WriteString("\n")
}

// List joins the first n items, formatted by f when it is not nil, with
// commas, and says how many it leaves out.
func List(items []string, n int, noun string, f func(string) string) string {
	shown, more := firstN(items, n)
	parts := make([]string, 0, len(shown)+1)
	for _, s := range shown {
		if f != nil {
			s = f(s)
		}
		parts = append(parts, s)
	}
	switch {
	case more > 0 && len(shown) > 0:
		parts = append(parts, "and "+Count(more, "more "+noun))
	case more > 0:
		parts = append(parts, Count(more, noun))
	}
	return strings.Join(parts, ", ")
}

// writeFence writes content as a fenced code block with a backtick fence
// longer than any backtick run in it, so that the content cannot close it.
func writeFence(b *strings.Builder, info, content string) {
	fence := strings.Repeat("`", max(3, longestRun(content, '`')+1))
	fmt.Fprintf(b, "%s%s\n%s\n%s\n\n", fence, info, content, fence)
}

func firstN[T any](items []T, n int) ([]T, int) {
	if n < 0 || n >= len(items) {
		return items, 0
	}
	return items[:n], len(items) - n
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Code renders s as an inline code span, delimited by a backtick run
// longer than any in s, so that s cannot end the span.
func Code(s string) string {
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if s == "" || s[0] == '`' || s[0] == ' ' || s[len(s)-1] == '`' || s[len(s)-1] == ' ' {
		s = " " + s + " "
	}
	return fence + s + fence
}

// Escape escapes s for Markdown prose: entities for the characters that
// start HTML (so that no tag, comment or marker gets through), backslashes
// for those that start other inline markup.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '~', '|', '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdHTML escapes s for text inside an HTML block, such as <summary>.
// Backticks are escaped too, in case a renderer reads Markdown there.
func mdHTML(s string) string {
	return htmlEscaper.Replace(s)
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "`", "&#96;")

func longestRun(s string, c byte) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

// ShortSHA is the first seven characters of a commit SHA, as GitHub shows it.
func ShortSHA(sha string) string {
	if len(sha) <= 7 {
		return sha
	}
	cut := 7
	for cut > 0 && !utf8.RuneStart(sha[cut]) {
		cut--
	}
	return sha[:cut]
}

// Clip cuts s to at most n bytes at a rune boundary, marking the cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len("…"), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// withCommas formats n with thousands separators: 1,234.
func withCommas(n int) string {
	s := strconv.Itoa(n)
	start := 0
	if n < 0 {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Count is n and a noun, in the plural unless n is 1.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return withCommas(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return withCommas(n) + " " + noun + "s"
}
