package comment

import (
	"fmt"
	"strings"
)

// WhoMayAct says who may /wake and /extend an environment (review's speaksFor
// decides it), for the help text and the bot's replies.
const WhoMayAct = "the author of the pull request that created it, an approver of its team, or its owner or a member (known by the public e-mail address of their GitHub profile)"

// maxReplies bounds the lines of a reply to refused commands.
const maxReplies = 20

// RenderHelp is the reply to /help: the commands, one line each, and who
// may use them.
func RenderHelp() string {
	return "allot reads these commands at the start of a comment line, one per line:\n\n" +
		"- `/approve`: approve the head commit; approvers only, and not the author. A new push needs a new approval.\n" +
		"- `/approve cancel`: withdraw your approval; anyone may withdraw their own.\n" +
		"- `/hold`: keep the pull request from merging; approvers only.\n" +
		"- `/unhold` or `/hold cancel`: lift every hold; approvers only.\n" +
		"- `/plan`: check and plan the head commit again; anyone.\n" +
		"- `/extend 7d` or `/extend 2027-01-31` (`/extend ENV 7d` to name one): on the merged pull request that created an environment, open a pull request that moves its expiry, within `policy.extensions`; " + WhoMayAct + ".\n" +
		"- `/wake` or `/wake 2h`: on the merged pull request, wake its sleeping environment until the next scheduled sleep or for a while; the same people.\n" +
		"- `/help`: show this list; anyone.\n\n" +
		"Approvers are the logins and teams that `allot.yaml` on the base branch names.\n"
}

// Refused is a command the bot did not act on, as its reply names it.
type Refused struct {
	// Author gave the command; Command is its name, without the slash,
	// and Args what followed it, shown only when set.
	Author, Command, Args string
	// Reason says why it was refused.
	Reason string
	// NotApprover is set when the reason is that Author is no approver:
	// the reply then says where approvers are named.
	NotApprover bool
}

// Line is the reply line that says r was not applied, and why.
func (r Refused) Line() string {
	c := cleaner{}
	what := "/" + c.line(r.Command, maxName)
	if r.Args != "" {
		what += " " + c.line(r.Args, 100)
	}
	line := fmt.Sprintf("@%s: %s was not applied: %s.", Escape(c.line(r.Author, maxName)), Code(what), Escape(c.line(r.Reason, MaxMessage)))
	if r.NotApprover {
		line += " Approvers are the logins and teams that `allot.yaml` on the base branch names."
	}
	return line
}

// Unknown is a command that was not understood: its word, with the slash,
// and what followed it.
type Unknown struct{ Word, Args string }

// RenderRefusals is the short reply to commands that were refused or not
// understood: one line each, the same line once.
func RenderRefusals(refused []Refused, unknown []Unknown) string {
	c := cleaner{}
	var lines []string
	seen := map[string]bool{}
	add := func(line string) {
		if !seen[line] {
			seen[line] = true
			lines = append(lines, line)
		}
	}
	for _, r := range refused {
		add(r.Line())
	}
	for _, u := range unknown {
		word, args := c.line(u.Word, 100), c.line(u.Args, 100)
		switch word {
		case "/approve", "/hold":
			add(fmt.Sprintf("%s was not understood: %s takes no argument but `cancel`; `/help` lists the commands.", Code(word+" "+args), Code(word)))
		case "/unhold", "/plan", "/help":
			add(fmt.Sprintf("%s was not understood: %s takes no arguments; `/help` lists the commands.", Code(word+" "+args), Code(word)))
		default:
			add(fmt.Sprintf("%s is not an allot command; `/help` lists the commands.", Code(word)))
		}
	}
	shown, more := firstN(lines, maxReplies)
	if more > 0 {
		shown = append(shown, "… "+Count(more, "more reply")+" not shown.")
	}
	return finish("", strings.Join(shown, "\n\n")+"\n", nil)
}
