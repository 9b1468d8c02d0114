package validate

import (
	"slices"
	"sort"
	"strings"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// unique reports environments that share a name; the error names both
// files. The requests a change touches are counted last, so that the error
// lands on the new request rather than the one already there.
func (c *checker) unique() {
	envs := slices.Clone(c.repo.Environments)
	sort.SliceStable(envs, func(i, j int) bool { return !c.selected(envs[i]) && c.selected(envs[j]) })
	first := map[string]*load.EnvironmentFile{}
	for _, ef := range envs {
		name := ef.Environment.Metadata.Name
		if prev, dup := first[name]; dup {
			c.errorf(ef.Doc.Pos("metadata", "name"), schemas.RuleUnique, "environment name %q is already used by %s; names must be unique across the repository, so pick another", name, prev.Doc.Pos("metadata", "name"))
			continue
		}
		first[name] = ef
	}
}

// perOwner reports owners with more environments than the policy allows. The
// requests past the limit are the ones reported, with the requests a change
// touches counted last so that the error lands on the new request.
func (c *checker) perOwner() {
	if c.repo.Platform == nil {
		return
	}
	limit := c.repo.Platform.Platform.Spec.Policy.MaxEnvironmentsPerOwner
	if limit <= 0 {
		return
	}
	byOwner := map[string][]*load.EnvironmentFile{}
	for _, ef := range c.repo.Environments {
		owner := OwnerKey(ef.Environment.Spec.Owner)
		byOwner[owner] = append(byOwner[owner], ef)
	}
	for _, owner := range sortedKeys(byOwner) {
		envs := byOwner[owner]
		if len(envs) <= limit {
			continue
		}
		sort.SliceStable(envs, func(i, j int) bool { return !c.selected(envs[i]) && c.selected(envs[j]) })
		for _, ef := range envs[limit:] {
			c.errorf(ef.Doc.Pos("spec", "owner"), schemas.RuleLimit, "owner %s already has %d environments (%s), the most the policy allows; delete one or ask a platform engineer to raise policy.maxEnvironmentsPerOwner", ef.Environment.Spec.Owner, limit, files(envs[:limit]))
		}
	}
}

// OwnerKey is the mailbox an owner's address reaches, for counting
// environments per owner: lower-cased, with any "+tag" of the local part
// left out, so jane+2@acme.example counts as jane@acme.example.
func OwnerKey(owner string) string {
	owner = strings.ToLower(strings.TrimSpace(owner))
	local, domain, ok := strings.Cut(owner, "@")
	if !ok {
		return owner
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	return local + "@" + domain
}

func (c *checker) selected(ef *load.EnvironmentFile) bool {
	return c.opts.Selected == nil || c.opts.Selected(ef)
}

func files(efs []*load.EnvironmentFile) string {
	names := make([]string, len(efs))
	for i, ef := range efs {
		names[i] = ef.Doc.File
	}
	return strings.Join(names, ", ")
}
