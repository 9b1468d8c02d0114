package review

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
)

// Waker knows how to find the environments that request files hold on
// the branch allot reconciles, and how to wake one early, without a change
// in git.
type Waker interface {
	// Requests returns the requests that files hold.
	Requests(files []string) []schemas.Environment
	// WakeEnvironment wakes env until its next scheduled sleep (d zero) or
	// for d, on behalf of by.
	WakeEnvironment(ctx context.Context, env string, d time.Duration, by string) error
}

// wake answers /wake on the merged pull request that created an
// environment, for those who speak for it (speaksFor): the same people
// who may /extend it.
func (t *turn) wake(ctx context.Context, cmd Command) error {
	login := t.p.Comment.User.Login
	lines, ok := t.wakeLines(ctx, cmd, login)
	reaction := ReactionAck
	if !ok {
		reaction = ReactionConfused
	}
	if err := t.gh.React(ctx, t.repo, t.comment, reaction); err != nil {
		return err
	}
	body := replyMarker + "\n" + strings.Join(lines, "\n")
	_, err := t.gh.CreateComment(ctx, t.repo, t.number, comment.Mask(body, t.bot.Secrets))
	return err
}

// wakeLines wakes what it may and says what it did, one line per
// environment; ok is false when anything was refused or failed.
func (t *turn) wakeLines(ctx context.Context, cmd Command, login string) ([]string, bool) {
	if t.bot.Waker == nil {
		return []string{"`/wake` needs allot serve with access to the clusters; this one has none."}, false
	}
	var d time.Duration
	if cmd.Args != "" {
		var err error
		if d, err = time.ParseDuration(cmd.Args); err != nil || d <= 0 {
			return []string{comment.Code(comment.Clip("/wake "+cmd.Args, 48)) + ": write `/wake` to wake the environment until its next scheduled sleep, or `/wake 2h` for a while."}, false
		}
	}
	pr, err := t.gh.PullRequest(ctx, t.repo, t.number)
	if err != nil {
		return []string{"Could not read this pull request; try again."}, false
	}
	if !pr.Merged {
		return []string{"`/wake` wakes the environment a merged pull request created; this one is not merged."}, false
	}
	files, err := t.gh.Files(ctx, t.repo, t.number)
	if err != nil {
		return []string{"Could not read the files of this pull request; try again."}, false
	}
	envs := t.bot.Waker.Requests(files)
	if len(envs) == 0 {
		return []string{"No environment of this pull request is in the requests repository now."}, false
	}
	var platform *schemas.PlatformSpec
	if rw, ok := t.gh.(RepoWriter); ok {
		if tip, err := t.gh.BranchHead(ctx, t.repo, cmp.Or(t.bot.Branch, pr.BaseRef)); err == nil {
			platform, _ = readPlatform(ctx, rw, t.repo, tip) // without it, approvers are not asked
		}
	}
	var lines []string
	ok := true
	for _, env := range envs {
		name := env.Metadata.Name
		if !t.speaksFor(ctx, pr, platform, env.Spec, login) {
			ok = false
			lines = append(lines, fmt.Sprintf("@%s may not wake `%s`: only %s can (see https://github.com/settings/profile).", login, name, comment.WhoMayAct))
			continue
		}
		if err := t.bot.Waker.WakeEnvironment(ctx, name, d, login); err != nil {
			ok = false
			lines = append(lines, fmt.Sprintf("Could not wake `%s`: %v", name, err))
			continue
		}
		until := "until its next scheduled sleep"
		if d > 0 {
			until = "for " + d.String()
		}
		lines = append(lines, fmt.Sprintf("Woke `%s` %s, at the request of @%s; `allot status %s` shows until when.", name, until, login, name))
	}
	return lines, ok
}
