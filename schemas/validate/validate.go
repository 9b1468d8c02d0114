package validate

import (
	"sort"
	"time"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// Options tunes a validation.
type Options struct {
	// Now is the time expiry is checked against; the zero value means now.
	Now time.Time
	// Selected reports whether the per-environment rules run for a request;
	// nil means every request. Repository-wide rules always run.
	Selected func(*load.EnvironmentFile) bool
}

// Repository checks a loaded repository and returns every problem, the
// loader's included, sorted by file and line.
func Repository(repo *load.Repository, opts Options) []schemas.Problem {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	c := &checker{repo: repo, opts: opts, problems: append([]schemas.Problem(nil), repo.Problems...)}
	c.run()
	sort.SliceStable(c.problems, func(i, j int) bool {
		a, b := c.problems[i], c.problems[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Message < b.Message
	})
	return c.problems
}

// Failed reports whether any problem is an error.
func Failed(ps []schemas.Problem) bool {
	for _, p := range ps {
		if p.Severity == schemas.SeverityError {
			return true
		}
	}
	return false
}

type checker struct {
	repo     *load.Repository
	opts     Options
	problems []schemas.Problem
	params   map[string]*parameterSchema
}

func (c *checker) errorf(pos schemas.Position, rule schemas.Rule, format string, args ...any) {
	c.problems = append(c.problems, schemas.Errorf(pos, rule, format, args...))
}

// run checks in a fixed order: the platform, the templates, the rules that
// span requests, then each selected request.
func (c *checker) run() {
	if c.repo.Platform == nil && len(In(c.problems, load.PlatformPath)) == 0 {
		c.errorf(schemas.Position{File: load.PlatformPath}, schemas.RulePlatform, "no allot.yaml at the repository root; every requests repository needs one (see examples/requests/allot.yaml)")
	}
	if c.repo.Platform != nil {
		c.platform(c.repo.Platform)
	}
	c.templates()
	c.unique()
	c.perOwner()
	c.teamBudgets()
	for _, ef := range c.repo.Environments {
		if c.opts.Selected == nil || c.opts.Selected(ef) {
			c.environment(ef)
		}
	}
}

// In returns the problems of one file.
func In(ps []schemas.Problem, file string) []schemas.Problem {
	var out []schemas.Problem
	for _, p := range ps {
		if p.File == file {
			out = append(out, p)
		}
	}
	return out
}
