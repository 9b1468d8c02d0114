package comment

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const statusHint = "`allot status` shows the details"

// NoticeMarker returns the hidden marker of the ready notice for merge
// commit sha, so that the bot posts one notice per merge commit. Only
// letters and digits of sha are kept, in lower case.
func NoticeMarker(sha string) string {
	id := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return unicode.ToLower(r)
		}
		return -1
	}, sha)
	return "<!-- allot:notice " + Clip(id, 100) + " -->"
}

// RenderNotice renders the comment on a merged pull request that says how
// its environments came out, and how to reach the ones that are ready.
func RenderNotice(n Notice, secrets []string) string {
	marker := NoticeMarker(n.Commit) + "\n"
	n = cleaner{secrets}.notice(n)
	hi := limits{items: len(n.Outcomes)}
	for _, o := range n.Outcomes {
		hi.items = max(hi.items, len(o.Groups))
	}
	intro := "Merge commit " + Code(ShortSHA(n.Commit)) + " is applied."
	if n.Author != "" {
		intro = "@" + Escape(n.Author) + ", merge commit " + Code(ShortSHA(n.Commit)) + " is applied."
	}
	body := fit(MaxBody, hi, func(l limits) string {
		var b strings.Builder
		fmt.Fprintf(&b, "### %s\n\n%s\n\n", noticeTitle(n.Outcomes), intro)
		shown, more := firstN(n.Outcomes, listLimit(l))
		for _, o := range shown {
			writeOutcome(&b, o, l)
		}
		if more > 0 {
			fmt.Fprintf(&b, "… %s not shown; %s.\n", Count(more, "more environment"), statusHint)
		}
		return finish(marker, b.String(), secrets)
	})
	if body == "" {
		body = finish(marker, fmt.Sprintf("### %s\n\n%s\n\nThe details are too long for a comment; %s.\n",
			noticeTitle(n.Outcomes), intro, statusHint), secrets)
	}
	return body
}

// noticeTitle sums up outcomes: "Environment ready", "2 environments
// ready, 1 failed".
func noticeTitle(outcomes []Outcome) string {
	if len(outcomes) == 0 {
		return "Merged; no environments changed"
	}
	if len(outcomes) == 1 {
		return "Environment " + outcomeStatus(outcomes[0])
	}
	counts := map[string]int{}
	for _, o := range outcomes {
		counts[outcomeStatus(o)]++
	}
	var parts []string
	for _, status := range []string{"ready", "failed", "torn down", "not ready yet"} {
		switch n := counts[status]; {
		case n == 0:
		case len(parts) == 0:
			parts = append(parts, Count(n, "environment")+" "+status)
		default:
			parts = append(parts, withCommas(n)+" "+status)
		}
	}
	return strings.Join(parts, ", ")
}

func outcomeStatus(o Outcome) string {
	switch {
	case o.Removed:
		return "torn down"
	case o.Error != "":
		return "failed"
	case o.Ready:
		return "ready"
	}
	return "not ready yet"
}

func writeOutcome(b *strings.Builder, o Outcome, l limits) {
	fmt.Fprintf(b, "#### %s on %s: %s\n\n", Code(o.Environment), Code(o.Cluster), outcomeStatus(o))
	switch {
	case o.Removed:
	case o.Error != "":
		fmt.Fprintf(b, "> %s\n\nFix the request in a new pull request, or ask the platform team; %s.\n\n", Escape(o.Error), statusHint)
	case o.Ready:
		writeAccess(b, o, l)
	default:
		fmt.Fprintf(b, "Applied, but not ready yet; %s.\n\n", statusHint)
	}
}

// writeAccess says where a ready environment lives and how to reach it.
// Names are quoted for the shell, so a command copied from the comment runs
// what it shows.
func writeAccess(b *strings.Builder, o Outcome, l limits) {
	var target []string
	if o.Cluster != "" {
		target = append(target, "--context "+shellQuote(o.Cluster))
	}
	if o.Namespace != "" {
		target = append(target, "--namespace "+shellQuote(o.Namespace))
	}
	kubectl := strings.Join(append([]string{"kubectl"}, target...), " ")
	where := fmt.Sprintf("namespace %s on cluster %s", Code(o.Namespace), Code(o.Cluster))
	switch o.Kind {
	case KindVCluster:
		kubeconfig := shellQuote(o.Environment + ".kubeconfig")
		fmt.Fprintf(b, "A virtual cluster in %s. Fetch its kubeconfig, then use it:\n\n", where)
		writeFence(b, "sh", fmt.Sprintf("%s get secret %s --template '{{index .data \"config\"}}' | base64 -d > %s\nkubectl --kubeconfig %s get namespaces",
			kubectl, shellQuote("vc-"+o.Environment), kubeconfig, kubeconfig))
	case KindECS:
		fmt.Fprintf(b, "The ECS cluster and services are objects in %s:\n\n", where)
		writeFence(b, "sh", kubectl+" get clusters.ecs.services.k8s.aws,services.ecs.services.k8s.aws")
	default:
		fmt.Fprintf(b, "Namespace %s on cluster %s:\n\n", Code(o.Namespace), Code(o.Cluster))
		writeFence(b, "sh", kubectl+" get all")
	}
	if len(o.Groups) > 0 {
		noun := "group"
		if len(o.Groups) > 1 {
			noun = "groups"
		}
		fmt.Fprintf(b, "Members of %s %s get access.\n\n", noun, List(o.Groups, listLimit(l), "group", Code))
	}
}

// shellQuote returns s as one shell word.
func shellQuote(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(r rune) bool { return !shellSafe(r) }) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellSafe reports whether r can stand in a shell word without quotes:
// an ASCII letter or digit, or one of a few punctuation marks.
func shellSafe(r rune) bool {
	return r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("._-/:@=+,", r)
}
