package review

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
)

// Expiry notices: before an environment expires, and once it is torn down,
// allot comments on the pull request that created it. Each notice carries
// a hidden marker (ExpiryMarker, ExpiredMarker) that names the
// environment, its expiry and the lead time; the bot posts a notice only
// when no comment on the pull request carries its marker. The marks live
// on GitHub with the notices themselves, so a restarted bot, or the next
// leader, posts none twice, and no record write races the reconciler. The
// bot remembers what it has seen, so a pass costs no API call for notices
// already made.

// ExpiryMarker is the hidden marker of the notice that environment env,
// expiring at expires, goes lead from now.
func ExpiryMarker(env string, expires time.Time, lead time.Duration) string {
	return fmt.Sprintf("%sexpiry %s %d %d -->", allotPrefix, markerWord(env), expires.Unix(), int64(lead/time.Second))
}

// ExpiredMarker is the hidden marker of the notice that env, which
// expired at expires, is torn down.
func ExpiredMarker(env string, expires time.Time) string {
	return fmt.Sprintf("%sexpired %s %d -->", allotPrefix, markerWord(env), expires.Unix())
}

// markerWord keeps the letters, digits, dots and dashes of a name, which
// is all a DNS label holds.
func markerWord(s string) string {
	return comment.Clip(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return -1
	}, strings.ToLower(s)), 63)
}

// dueLead is the shortest lead time whose notice is due at now for an
// environment expiring at expires: a notice missed while allot was down is
// not sent late when a later one is due. ok is false when none is due.
func dueLead(now, expires time.Time, leads []time.Duration) (time.Duration, bool) {
	if !now.Before(expires) {
		return 0, false
	}
	due, ok := time.Duration(0), false
	for _, l := range leads {
		if !now.Before(expires.Add(-l)) && (!ok || l < due) {
			due, ok = l, true
		}
	}
	return due, ok
}

// NoticeExpiries posts the expiry notices due now for the environments a
// pass reported, and the notice that an environment is gone for those it
// tore down because they expired. platform is allot.yaml as the pass read
// it: its notices.expiry gives the lead times. It also remembers each
// environment's expiry, which `/extend` extends. `allot serve` calls it
// after every pass.
func (b *Bot) NoticeExpiries(ctx context.Context, expiries []reconciler.Expiry, platform *schemas.PlatformSpec) error {
	return b.postDue(ctx, b.rememberExpiries(expiries), platform)
}

// postDue posts the notices due for envs.
func (b *Bot) postDue(ctx context.Context, envs []expiryNotice, platform *schemas.PlatformSpec) error {
	if b.Repository == "" || len(envs) == 0 {
		return nil
	}
	now := b.now()
	leads := platform.ExpiryNotices()
	var due []expiryNotice
	for _, n := range envs {
		e := n.Expiry
		if e.Gone {
			n.marker = ExpiredMarker(e.Environment, e.Expires)
		} else if lead, ok := dueLead(now, e.Expires, leads); ok {
			n.lead, n.marker = lead, ExpiryMarker(e.Environment, e.Expires, lead)
			// A shorter lead's notice, already made, covers this one.
			for _, l := range leads {
				if l < lead {
					n.covered = append(n.covered, ExpiryMarker(e.Environment, e.Expires, l))
				}
			}
		} else {
			continue
		}
		if !b.seenNotice(n.marker) {
			due = append(due, n)
		}
	}
	if len(due) == 0 {
		return nil
	}
	gh, repo, err := b.repositoryClient(ctx)
	if err != nil {
		return err
	}
	limits := platform.ExtensionLimits()
	var errs []error
	for _, n := range due {
		if err := b.postExpiryNotice(ctx, gh, repo, n, now, limits); err != nil {
			errs = append(errs, fmt.Errorf("expiry notice of %s: %w", n.Environment, err))
		}
	}
	return errors.Join(errs...)
}

// expiryNotice is one notice due.
type expiryNotice struct {
	reconciler.Expiry
	// Clusters are the clusters the environment is on.
	Clusters []string
	lead     time.Duration
	marker   string
	// covered are the markers of notices that make this one unneeded.
	covered []string
}

// postExpiryNotice posts one notice on the pull request that created the
// environment, unless a comment there carries its marker.
func (b *Bot) postExpiryNotice(ctx context.Context, gh interface {
	PullRequests
	Conversation
}, repo Repo, n expiryNotice, now time.Time, limits schemas.Extensions) error {
	pr, err := b.originPull(ctx, gh, repo, n.Expiry)
	if err != nil {
		return err
	}
	if pr == nil {
		b.markNotice(n.marker) // there is nowhere to post it
		return nil
	}
	comments, err := gh.Comments(ctx, repo, pr.Number)
	if err != nil {
		return err
	}
	for _, c := range comments {
		if strings.HasPrefix(c.Body, n.marker) || slices.ContainsFunc(n.covered, func(m string) bool { return strings.HasPrefix(c.Body, m) }) {
			b.markNotice(n.marker)
			return nil
		}
	}
	view := comment.ExpiryView{Environment: n.Environment, File: n.File, Clusters: n.Clusters, Expires: n.Expires, Now: now, Author: pr.Author, Limits: limits}
	body := n.marker + "\n" + comment.RenderExpiring(view, b.Secrets)
	if n.Gone {
		body = n.marker + "\n" + comment.RenderExpired(view, b.Secrets)
	}
	if _, err := gh.CreateComment(ctx, repo, pr.Number, body); err != nil {
		return err
	}
	b.markNotice(n.marker)
	return nil
}

// originPull finds the merged pull request that created an environment:
// the one whose merge made the commit that first brought it to a cluster,
// as the ready notice finds its pull request; when several contain that
// commit, the one that changed the request file. It is nil when none is
// found (the environment was added without a pull request).
func (b *Bot) originPull(ctx context.Context, gh PullRequests, repo Repo, e reconciler.Expiry) (*PullRequest, error) {
	if e.Origin == "" {
		return nil, nil
	}
	if n, ok := b.knownOrigin(e.Origin, e.File); ok {
		if n == 0 {
			return nil, nil // known to have none
		}
		return gh.PullRequest(ctx, repo, n)
	}
	numbers, err := gh.PullRequestsWithCommit(ctx, repo, e.Origin)
	if err != nil {
		return nil, err
	}
	var found *PullRequest
	for _, n := range numbers {
		pr, err := gh.PullRequest(ctx, repo, n)
		if err != nil {
			return nil, err
		}
		if !pr.Merged {
			continue
		}
		files, err := gh.Files(ctx, repo, n)
		if err != nil {
			return nil, err
		}
		touches := slices.Contains(files, e.File)
		if touches && strings.EqualFold(pr.MergeCommitSHA, e.Origin) {
			found = pr
			break
		}
		if touches && found == nil {
			found = pr
		}
	}
	if found == nil {
		b.log().Info("no pull request created the environment; its expiry notices are not posted", "environment", e.Environment, "commit", e.Origin)
		b.rememberOrigin(e.Origin, e.File, 0)
		return nil, nil
	}
	b.rememberOrigin(e.Origin, e.File, found.Number)
	return found, nil
}

// repositoryClient reaches the requests repository for work no event
// starts.
func (b *Bot) repositoryClient(ctx context.Context) (GitHub, Repo, error) {
	repo, err := ParseRepo(b.Repository)
	if err != nil {
		return nil, Repo{}, err
	}
	installation, err := b.Clients.Installation(ctx, repo)
	if err != nil {
		return nil, Repo{}, err
	}
	gh, err := b.Clients.For(installation)
	return gh, repo, err
}

// rememberExpiries keeps the environments' expiries for /extend, one per
// environment (the earliest over its clusters), and returns them with the
// environments torn down whose notice is not posted yet.
func (b *Bot) rememberExpiries(list []reconciler.Expiry) []expiryNotice {
	byEnv := map[string]*expiryNotice{}
	var order []string
	for _, e := range list {
		n, ok := byEnv[e.Environment]
		if !ok {
			n = &expiryNotice{Expiry: e}
			byEnv[e.Environment] = n
			order = append(order, e.Environment)
		} else if e.Expires.Before(n.Expires) {
			n.Expires = e.Expires
		}
		n.Gone = n.Gone || e.Gone
		n.Clusters = append(n.Clusters, e.Cluster)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expiries = map[string]reconciler.Expiry{}
	if b.gone == nil {
		b.gone = map[string]expiryNotice{}
	}
	out := make([]expiryNotice, 0, len(order))
	for _, name := range order {
		n := byEnv[name]
		if n.Gone {
			// Only this pass reports the teardown: keep its notice
			// until it is posted, should GitHub fail meanwhile.
			if len(b.gone) < maxSeenNotices {
				b.gone[ExpiredMarker(n.Environment, n.Expires)] = *n
			}
			continue
		}
		b.expiries[name] = n.Expiry
		out = append(out, *n)
	}
	for _, marker := range slices.Sorted(maps.Keys(b.gone)) {
		if b.notices[marker] {
			delete(b.gone, marker)
			continue
		}
		out = append(out, b.gone[marker])
	}
	return out
}

// knownExpiry is the expiry of env as the last pass reported it.
func (b *Bot) knownExpiry(env string) (reconciler.Expiry, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.expiries[env]
	return e, ok
}

// maxSeenNotices bounds the notice markers the bot remembers.
const maxSeenNotices = 10000

func (b *Bot) seenNotice(marker string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.notices[marker]
}

func (b *Bot) markNotice(marker string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notices == nil || len(b.notices) >= maxSeenNotices {
		b.notices = map[string]bool{} // forgetting costs one listing each
	}
	b.notices[marker] = true
}

func (b *Bot) knownOrigin(commit, file string) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.origins[commit+" "+file]
	return n, ok
}

func (b *Bot) rememberOrigin(commit, file string, number int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.origins == nil || len(b.origins) >= maxSeenNotices {
		b.origins = map[string]int{}
	}
	b.origins[commit+" "+file] = number
}

func (b *Bot) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// ExpiryFeed returns a function to hand every pass's result to. It
// learns the expiries at once, so that an /extend right after the pass
// that applied an environment knows it, and posts the notices due in the
// background, one pass at a time, the latest pass replacing one not
// handled yet, so that a slow GitHub never holds up a pass. It stops with
// ctx.
func (b *Bot) ExpiryFeed(ctx context.Context) func(*reconciler.PassResult) {
	type pass struct {
		envs     []expiryNotice
		platform *schemas.PlatformSpec
	}
	latest := make(chan pass, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-latest:
				nctx, cancel := context.WithTimeout(ctx, HandleTimeout)
				if err := b.postDue(nctx, p.envs, p.platform); err != nil && ctx.Err() == nil {
					b.log().Error("expiry notices", "error", comment.Mask(err.Error(), b.Secrets))
				}
				cancel()
			}
		}
	}()
	var mu sync.Mutex
	return func(res *reconciler.PassResult) {
		if res == nil || res.Err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		envs := b.rememberExpiries(res.Expiries())
		select {
		case <-latest:
		default:
		}
		latest <- pass{envs: envs, platform: res.Platform}
	}
}
