package review

import (
	"context"
	"reflect"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/schemas"
)

// ApprovedByPolicy is the name an extension pull request shows as its
// approver when policy.extensions lets it merge without one.
const ApprovedByPolicy = "policy.extensions"

// extensionApproved reports whether a pull request is an extension that
// policy.extensions on the base branch lets merge without an approver.
// Trust comes from what the pull request changes, not from who opened it
// or what its body says: its head branch is an ExtensionBranchPrefix
// branch of the repository itself (not a fork), it changes exactly one
// request, and comparing that request at the base and at the head, the
// only changes are spec.expires and an extension count one higher, within
// the policy's count and length. Anything else waits for an approver.
func (t *turn) extensionApproved(ctx context.Context, pr *PullRequest) bool {
	rw, ok := t.gh.(RepoWriter)
	if !ok || !strings.HasPrefix(pr.HeadRef, ExtensionBranchPrefix) || pr.FromFork(t.repo) {
		return false
	}
	files, err := t.gh.Files(ctx, t.repo, t.number)
	if err != nil || len(files) != 1 || !strings.HasPrefix(files[0], "environments/") {
		return false
	}
	tip, err := t.gh.BranchHead(ctx, t.repo, pr.BaseRef)
	if err != nil {
		return false
	}
	platform, err := readPlatform(ctx, rw, t.repo, tip)
	if err != nil {
		t.bot.log().Warn("extension: read allot.yaml", "pr", t.number, "error", err)
		return false
	}
	limits := platform.ExtensionLimits()
	if limits.RequireApproval {
		return false
	}
	base, head, ok := t.readBoth(ctx, rw, files[0], tip, pr.HeadSHA)
	if !ok {
		return false
	}
	known, ok := t.bot.knownExpiry(base.Metadata.Name)
	if !ok || known.File != files[0] {
		return false // not an environment allot runs with an expiry
	}
	e, err := schemas.ParseExpiry(head.Spec.Expires)
	if err != nil || e.At.IsZero() {
		return false // an extension sets a date
	}
	added := e.At.Sub(currentExpiry(base, known.Expires))
	count := head.ExtensionCount()
	if added <= 0 || added > limits.MaxDuration || count != base.ExtensionCount()+1 || count > limits.MaxCount {
		return false
	}
	if maxTTL, err := schemas.ParseTTL(platform.Policy.MaxTTL); err == nil && e.At.Sub(t.bot.now()) > maxTTL {
		return false
	}
	return sameBesidesExpiry(base, head)
}

// readBoth reads a request at the base and at the head.
func (t *turn) readBoth(ctx context.Context, rw RepoWriter, file, base, head string) (b, h *schemas.Environment, ok bool) {
	var envs [2]schemas.Environment
	for i, ref := range []string{base, head} {
		raw, _, err := rw.ReadFile(ctx, t.repo, ref, file)
		if err != nil {
			return nil, nil, false
		}
		if err := sigsyaml.UnmarshalStrict(raw, &envs[i]); err != nil {
			return nil, nil, false
		}
	}
	return &envs[0], &envs[1], true
}

// sameBesidesExpiry reports whether two versions of a request differ in
// nothing but spec.expires and the extension count.
func sameBesidesExpiry(a, b *schemas.Environment) bool {
	strip := func(e *schemas.Environment) schemas.Environment {
		c := *e
		c.Spec.Expires = ""
		c.Metadata.Annotations = map[string]string{}
		for k, v := range e.Metadata.Annotations {
			if k != schemas.AnnotationExtensions {
				c.Metadata.Annotations[k] = v
			}
		}
		return c
	}
	return reflect.DeepEqual(strip(a), strip(b))
}
