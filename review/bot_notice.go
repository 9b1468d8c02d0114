package review

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// pushed handles a push to the default branch: it queues new checks of
// the open pull requests into it, runs a reconcile pass
// that includes the pushed commit and, on each merged pull request that
// commit belongs to, comments how its environments came out. The comment
// carries NoticeMarker, so a push delivered twice gets one notice.
func (t *turn) pushed(ctx context.Context) error {
	p := t.p
	if p.Deleted || p.After == "" || p.Repository == nil ||
		p.Ref != "refs/heads/"+cmp.Or(t.bot.Branch, p.Repository.DefaultBranch) {
		return nil
	}
	if err := t.recheckOpen(ctx, strings.TrimPrefix(p.Ref, "refs/heads/")); err != nil {
		return err
	}
	if t.bot.Applier == nil {
		return nil
	}
	var files []string
	for _, c := range p.Commits {
		files = append(files, c.Added...)
		files = append(files, c.Modified...)
		files = append(files, c.Removed...)
	}
	slices.Sort(files)
	files = slices.Compact(files)

	numbers, err := t.gh.PullRequestsWithCommit(ctx, t.repo, p.After)
	if err != nil {
		return err
	}
	type target struct {
		number int
		author string
	}
	var targets []target
	for _, n := range numbers {
		pr, err := t.gh.PullRequest(ctx, t.repo, n)
		if err != nil {
			return err
		}
		if !pr.Merged || !strings.EqualFold(pr.MergeCommitSHA, p.After) {
			continue // an open pull request that contains the commit
		}
		comments, err := t.gh.Comments(ctx, t.repo, n)
		if err != nil {
			return err
		}
		marker := NoticeMarker(p.After)
		if slices.ContainsFunc(comments, func(c Comment) bool { return strings.HasPrefix(c.Body, marker) }) {
			continue
		}
		targets = append(targets, target{number: n, author: pr.Author})
	}
	// The pass runs even when no pull request waits for a notice: a push
	// to the default branch is what allot reconciles.
	outcomes, err := t.bot.Applier.Apply(ctx, p.After, files)
	if err != nil {
		return err
	}
	for _, tg := range targets {
		body := RenderNotice(Notice{Number: tg.number, Author: tg.author, Commit: p.After, Outcomes: outcomes}, t.bot.Secrets)
		if _, err := t.gh.CreateComment(ctx, t.repo, tg.number, body); err != nil {
			return err
		}
	}
	return nil
}

// maxRechecks bounds the open pull requests checked again after a push.
const maxRechecks = 50

// recheckOpen queues a new check of every open pull request into branch,
// which has just moved: a request that was fine may clash with what just
// landed. The checks run through the per-pull-request serialisation, while
// this push goes on to its pass.
func (t *turn) recheckOpen(ctx context.Context, branch string) error {
	open, err := t.gh.OpenPullRequests(ctx, t.repo, branch)
	if err != nil {
		return err
	}
	if len(open) > maxRechecks {
		t.bot.log().Warn("too many open pull requests to check again after a push; the rest are checked before they merge", "open", len(open), "checked", maxRechecks)
		open = open[:maxRechecks]
	}
	for _, n := range open {
		body, err := json.Marshal(map[string]any{"allot_recheck": true, "installation": t.p.Installation})
		if err != nil {
			return err
		}
		t.bot.requeue(Event{Name: EventRecheck, Delivery: t.ev.Delivery, Repo: t.repo.String(), PR: n, Payload: body}, 0)
	}
	return nil
}

// Recover posts the ready notices a restart may have lost: for every pull
// request merged into the default branch since the given time that has no
// notice for its merge commit, it runs a pass and comments how its
// environments came out. `allot serve` calls it once at start.
func (b *Bot) Recover(ctx context.Context, since time.Time) error {
	if b.Applier == nil || b.Repository == "" {
		return nil
	}
	repo, err := ParseRepo(b.Repository)
	if err != nil {
		return err
	}
	installation, err := b.Clients.Installation(ctx, repo)
	if err != nil {
		return err
	}
	gh, err := b.Clients.For(installation)
	if err != nil {
		return err
	}
	merged, err := gh.MergedSince(ctx, repo, since)
	if err != nil {
		return err
	}
	slices.Reverse(merged) // oldest first, as they were merged
	for _, pr := range merged {
		if pr.MergeCommitSHA == "" || b.Branch != "" && pr.BaseRef != b.Branch {
			continue
		}
		comments, err := gh.Comments(ctx, repo, pr.Number)
		if err != nil {
			return err
		}
		marker := NoticeMarker(pr.MergeCommitSHA)
		if slices.ContainsFunc(comments, func(c Comment) bool { return strings.HasPrefix(c.Body, marker) }) {
			continue
		}
		files, err := gh.Files(ctx, repo, pr.Number)
		if err != nil {
			return err
		}
		outcomes, err := b.Applier.Apply(ctx, pr.MergeCommitSHA, files)
		if err != nil {
			return err
		}
		body := RenderNotice(Notice{Number: pr.Number, Author: pr.Author, Commit: pr.MergeCommitSHA, Outcomes: outcomes}, b.Secrets)
		if _, err := gh.CreateComment(ctx, repo, pr.Number, body); err != nil {
			return err
		}
	}
	return nil
}
