package review

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/allot-dev/allot/review/comment"
)

// pushed handles a push to the reconciled branch: it queues new checks of
// the open pull requests into it, runs a reconcile pass that includes the
// pushed commit and, on each merged pull request that commit belongs to,
// comments how its environments came out. The comment
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
		done, err := noticed(ctx, t.gh, t.repo, n, p.After)
		if err != nil {
			return err
		}
		if done {
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
		if err := t.bot.notify(ctx, t.gh, t.repo, comment.Notice{Number: tg.number, Author: tg.author, Commit: p.After, Outcomes: outcomes}); err != nil {
			return err
		}
	}
	return nil
}

// noticed reports whether pull request n has the ready notice of commit.
func noticed(ctx context.Context, gh Conversation, repo Repo, n int, commit string) (bool, error) {
	comments, err := gh.Comments(ctx, repo, n)
	if err != nil {
		return false, err
	}
	marker := comment.NoticeMarker(commit)
	return slices.ContainsFunc(comments, func(c Comment) bool { return strings.HasPrefix(c.Body, marker) }), nil
}

// notify posts a ready notice.
func (b *Bot) notify(ctx context.Context, gh Conversation, repo Repo, n comment.Notice) error {
	_, err := gh.CreateComment(ctx, repo, n.Number, comment.RenderNotice(n, b.Secrets))
	return err
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
		t.bot.requeue(t.recheckEvent(n, 0, true), 0)
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
		done, err := noticed(ctx, gh, repo, pr.Number, pr.MergeCommitSHA)
		if err != nil {
			return err
		}
		if done {
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
		if err := b.notify(ctx, gh, repo, comment.Notice{Number: pr.Number, Author: pr.Author, Commit: pr.MergeCommitSHA, Outcomes: outcomes}); err != nil {
			return err
		}
	}
	return nil
}
