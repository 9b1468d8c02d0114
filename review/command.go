package review

import "strings"

// CommandName names a comment command that allot understands.
type CommandName string

// The commands a pull-request comment can carry. /unhold is parsed as Hold
// with Cancel set, so callers see one name per effect.
const (
	Approve CommandName = "approve"
	Hold    CommandName = "hold"
	Plan    CommandName = "plan"
	Help    CommandName = "help"
	// Wake wakes the environment a merged pull request created, until its
	// next scheduled sleep or for the duration in Args.
	Wake CommandName = "wake"
	// Extend asks for a later expiry: "/extend 7d", "/extend 2027-01-31",
	// or "/extend ENV 7d" on a pull request that created several
	// environments; Args holds what follows the word.
	Extend CommandName = "extend"
	// Unknown is a /word allot does not know, or a known word followed by
	// arguments it does not take. The bot replies to it rather than guessing.
	Unknown CommandName = "unknown"
)

// MaxCommandBody is how much of a comment body ParseCommands reads. GitHub
// caps comments at 65,536 characters; anything past this is ignored.
const MaxCommandBody = 64 << 10

// maxExtendArgs bounds what /extend takes: an environment name and a date.
const maxExtendArgs = 100

// Command is one command line found in a comment body.
type Command struct {
	Name CommandName
	// Cancel is set for "/approve cancel", "/hold cancel" and "/unhold".
	Cancel bool
	// Line is the 1-based line of the body the command is on.
	Line int
	// Word is the command word in lower case, with its slash ("/lgtm"), so a
	// reply can name what was not understood.
	Word string
	// Args holds the text after Word when Name is Unknown, Wake or Extend.
	Args string
}

// ParseCommands returns the commands in a pull-request comment body, in the
// order they appear, at most one per line.
//
// A command is a line whose first non-blank text (after at most three
// spaces) is a slash and a word: "/approve", "/approve cancel", "/hold",
// "/hold cancel", "/unhold", "/plan" or "/help", in any case. Text that a
// reader does not see as a command is skipped: fenced code blocks (``` or
// ~~~, closed by a fence of the same character at least as long, or open to
// the end), lines indented four columns or more, block quotes, and HTML
// comments. A line that only starts with a slash, such as "/path/to/file" or
// "/approve.", is not a command at all, so ordinary prose gets no reply.
//
// Only the first MaxCommandBody bytes are read, and the line cut by that
// limit is dropped: a truncated "/approve cancel" must not read as "/approve".
func ParseCommands(body string) []Command {
	if len(body) > MaxCommandBody {
		body = body[:MaxCommandBody]
		cut := strings.LastIndexAny(body, "\r\n")
		body = body[:cut+1]
	}

	var (
		cmds      []Command
		open      fence // the fenced code block the line is in, if run != ""
		inComment bool
	)
	for n, line := range splitLines(body) {
		if open.run != "" {
			if open.closes(line) {
				open = fence{}
			}
			continue
		}
		startedInComment := inComment
		visible, stillOpen := stripComments(line, inComment)
		inComment = stillOpen
		if startedInComment {
			continue
		}
		if f, ok := openingFence(line); ok {
			open = f
			// A comment opener in the info string is text, not a comment.
			inComment = false
			continue
		}
		if cmd, ok := parseLine(visible); ok {
			cmd.Line = n + 1
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// splitLines splits on the line endings CommonMark recognises: \n, \r\n and \r.
func splitLines(s string) []string {
	var lines []string
	for {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			return append(lines, s)
		}
		lines = append(lines, s[:i])
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
}

// indent returns the width of line's leading blanks in columns (tabs stop
// every four) and the text after them.
func indent(line string) (int, string) {
	rest, col := skipBlanks(line, 0)
	return col, rest
}

// skipBlanks skips the spaces and tabs at the start of s, which begins at
// column col, and returns the rest and the column it starts at.
func skipBlanks(s string, col int) (string, int) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			col++
		case '\t':
			col += 4 - col%4
		default:
			return s[i:], col
		}
	}
	return "", col
}

// containerPrefix strips block-quote and list markers, so a fence opened
// inside a list item or quote is still seen as a fence: over-recognising an
// opening fence only hides text, it never makes a command out of code. It
// returns the text after the markers and blanks, the column that text starts
// at, and the column just after the last marker (0 without one).
func containerPrefix(line string) (rest string, col, base int) {
	for {
		rest, col = skipBlanks(line, col)
		switch {
		case strings.HasPrefix(rest, ">"):
			line, col = rest[1:], col+1
			base = col
			continue
		case len(rest) >= 2 && strings.IndexByte("-*+", rest[0]) >= 0 && isBlank(rest[1]):
			line, col = rest[1:], col+1
			base = col + 1
			continue
		}
		i := 0
		for i < len(rest) && i < 9 && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i > 0 && i+1 < len(rest) && (rest[i] == '.' || rest[i] == ')') && isBlank(rest[i+1]) {
			line, col = rest[i+1:], col+i+1
			base = col + 1
			continue
		}
		return rest, col, base
	}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// fence is an open fenced code block: its run of ` or ~ and the column its
// container's content starts at.
type fence struct {
	run  string
	base int
}

// openingFence returns the fence that line opens, if any.
func openingFence(line string) (fence, bool) {
	rest, _, base := containerPrefix(line)
	if rest == "" || (rest[0] != '`' && rest[0] != '~') {
		return fence{}, false
	}
	run := leadingRun(rest, rest[0])
	if len(run) < 3 {
		return fence{}, false
	}
	// A backtick run followed by more backticks on the line is inline code.
	if run[0] == '`' && strings.Contains(rest[len(run):], "`") {
		return fence{}, false
	}
	return fence{run: run, base: base}, true
}

// closes reports whether line closes f: the same character, at least as
// long, indented at most three columns past f's container, and nothing but
// blanks after it. A deeper "```" is code, and closing early would expose
// the rest of the block as commands.
func (f fence) closes(line string) bool {
	rest, col, _ := containerPrefix(line)
	run := leadingRun(rest, f.run[0])
	return len(run) >= len(f.run) && col <= f.base+3 &&
		strings.TrimRight(rest[len(run):], " \t") == ""
}

func leadingRun(s string, c byte) string {
	i := 0
	for i < len(s) && s[i] == c {
		i++
	}
	return s[:i]
}

// stripComments removes HTML comments from line. inComment says whether the
// line starts inside one; stillOpen whether a comment runs past its end.
func stripComments(line string, inComment bool) (visible string, stillOpen bool) {
	var b strings.Builder
	for {
		if inComment {
			end := strings.Index(line, "-->")
			if end < 0 {
				return b.String(), true
			}
			line = line[end+3:]
			inComment = false
			continue
		}
		start := strings.Index(line, "<!--")
		if start < 0 {
			b.WriteString(line)
			return b.String(), false
		}
		b.WriteString(line[:start])
		// Search past the opener so "<!-->" does not close itself; an
		// unclosed comment only hides more text.
		line = line[start+4:]
		inComment = true
	}
}

// parseLine reads one command from the visible text of a line.
func parseLine(line string) (Command, bool) {
	col, rest := indent(line)
	if col >= 4 || !strings.HasPrefix(rest, "/") {
		// Indented code, a quote (">"), or prose.
		return Command{}, false
	}
	i := 1
	for i < len(rest) && isWordByte(rest[i], i == 1) {
		i++
	}
	if i == 1 || (i < len(rest) && !isBlank(rest[i])) {
		return Command{}, false
	}
	word := strings.ToLower(rest[:i])
	args := strings.Trim(rest[i:], " \t")
	cancel := strings.EqualFold(args, "cancel")

	cmd := Command{Word: word}
	switch {
	case word == "/approve" && (args == "" || cancel):
		cmd.Name, cmd.Cancel = Approve, cancel
	case word == "/hold" && (args == "" || cancel):
		cmd.Name, cmd.Cancel = Hold, cancel
	case word == "/unhold" && args == "":
		cmd.Name, cmd.Cancel = Hold, true
	case word == "/plan" && args == "":
		cmd.Name = Plan
	case word == "/help" && args == "":
		cmd.Name = Help
	case word == "/wake":
		cmd.Name, cmd.Args = Wake, args
	case word == "/extend" && args != "" && len(args) <= maxExtendArgs:
		cmd.Name, cmd.Args = Extend, args
	default:
		cmd.Name, cmd.Args = Unknown, args
	}
	return cmd, true
}

func isWordByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return true
	case first:
		return false
	default:
		return c >= '0' && c <= '9' || c == '-' || c == '_'
	}
}
