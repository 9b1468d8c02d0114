package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler/source"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
	"github.com/allot-dev/allot/schemas/validate"
)

// validateOutputs are the -o values of allot validate; github is text
// with --github-annotations.
var validateOutputs = formats(OutputText, OutputGitHub)

// ValidateOptions are the inputs of Validate.
type ValidateOptions struct {
	// Repo is the requests repository's directory.
	Repo string
	// ChangedFrom, when set, limits per-environment rules to the requests
	// changed since this git ref.
	ChangedFrom string
	// Output is text, json or yaml (or github, text with annotations).
	Output string
	// GitHubAnnotations prints each problem as a GitHub workflow command
	// (::error file=…::…), instead of a text line, or on stderr beside
	// JSON or YAML.
	GitHubAnnotations bool
	// Now is the time expiry is checked against; zero means now.
	Now time.Time
	// ChartCache is where remote charts are cached.
	ChartCache string
}

// NewValidateCommand builds `allot validate`, the CI check of a requests
// repository.
func NewValidateCommand(s Streams, getenv func(string) string) *cobra.Command {
	opts := ValidateOptions{}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a requests repository: schemas, policy and every request",
		Long: `validate checks allot.yaml, templates/ and every request under environments/
and prints one "file:line: message" per problem. It exits 0 when the repository
is valid, 1 when it has problems, and 2 on bad flags or unreadable input.

With --changed-from, the per-request rules run only for requests changed since
that git ref (and for all of them when allot.yaml or templates/ changed);
repository-wide rules such as unique names and per-owner limits always run.`,
		Example: `  allot validate --repo .
  allot validate --changed-from origin/main --github-annotations`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// In GitHub Actions, annotations unless a flag says what to print.
			if !cmd.Flags().Changed("github-annotations") && !cmd.Flags().Changed("output") && getenv("GITHUB_ACTIONS") == "true" {
				opts.GitHubAnnotations = true
			}
			return Validate(s, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Repo, "repo", ".", "the requests repository's directory")
	cmd.Flags().StringVar(&opts.ChangedFrom, "changed-from", "", "check only the requests changed since this git ref (repository-wide rules still run)")
	validateOutputs.bind(cmd, &opts.Output)
	cmd.Flags().BoolVar(&opts.GitHubAnnotations, "github-annotations", false, "print problems as GitHub workflow commands, which GitHub shows on the pull request's files (on stderr with -o json|yaml); the default when GITHUB_ACTIONS=true and no -o is given")
	cmd.Flags().StringVar(&opts.ChartCache, "chart-cache", defaultChartCache(), "where remote charts are cached")
	return cmd
}

// Validate checks the repository and prints the problems in the chosen
// format. It returns errProblems when there are errors.
func Validate(s Streams, opts ValidateOptions) error {
	if err := validateOutputs.check(opts.Output); err != nil {
		return usageError(err)
	}
	if opts.Output == OutputGitHub {
		opts.Output, opts.GitHubAnnotations = OutputText, true
	}
	repo, err := load.Load(opts.Repo, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return usageError(err)
	}
	vopts := validate.Options{Now: opts.Now}
	if opts.ChangedFrom != "" {
		changed, err := source.ChangedSince(opts.Repo, opts.ChangedFrom)
		if err != nil {
			return usageError(err)
		}
		vopts.Selected = selectChanged(changed)
	}
	problems := validate.Repository(repo, vopts)
	rendered, err := renderProblems(context.Background(), repo, problems, vopts.Selected, opts.ChartCache)
	if err != nil {
		return err
	}
	problems = append(problems, rendered...)
	if problems == nil {
		problems = []schemas.Problem{}
	}
	report := validateReport{Valid: !validate.Failed(problems), Environments: len(repo.Environments), Problems: problems}
	if opts.GitHubAnnotations && structured(opts.Output) {
		// stdout stays one document; GitHub reads workflow commands on
		// stderr too.
		if err := writeGitHub(s.Err, annotationPrefix(opts.Repo), problems); err != nil {
			return err
		}
	}
	err = printOutput(s.Out, opts.Output, report, func(w io.Writer) error {
		write := writeText
		if opts.GitHubAnnotations {
			write = func(w io.Writer, problems []schemas.Problem) error {
				return writeGitHub(w, annotationPrefix(opts.Repo), problems)
			}
		}
		if err := write(w, problems); err != nil {
			return err
		}
		return writeSummary(w, repo, problems)
	})
	if err != nil {
		return err
	}
	if validate.Failed(problems) {
		return errProblems
	}
	return nil
}

// renderProblems renders every selected request that passed validation, so
// that a broken chart, kustomization or tenancy rule fails the CI check too.
func renderProblems(ctx context.Context, repo *load.Repository, problems []schemas.Problem, selected func(*load.EnvironmentFile) bool, chartCache string) ([]schemas.Problem, error) {
	if repo.Platform == nil || validate.Failed(validate.In(problems, load.PlatformPath)) {
		return nil, nil
	}
	r, closer, err := newRenderer(repo, chartCache)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	targets, _ := r.Targets()
	var todo []renderer.Target
	for _, t := range targets {
		if (selected == nil || selected(t.Env)) && !validate.Failed(validate.In(problems, t.Env.Doc.File)) {
			todo = append(todo, t)
		}
	}
	var out []schemas.Problem
	seen := map[string]bool{}
	for _, res := range r.RenderAll(ctx, todo) {
		if res.Err == nil {
			// What kustomize warns of, at the kustomization that has it.
			for _, w := range res.Bundle.Warnings {
				if key := w.File + w.Message; !seen[key] {
					seen[key] = true
					out = append(out, schemas.Problem{Position: schemas.Position{File: w.File}, Rule: schemas.RuleRender, Severity: schemas.SeverityWarning, Message: "kustomize: " + w.Message})
				}
			}
			continue
		}
		doc := res.Target.Env.Doc
		pos := doc.Pos("spec", "type")
		msg := res.Err.Error()
		var re *renderer.Error
		if errors.As(res.Err, &re) {
			msg = strings.TrimPrefix(msg, re.File+": ")
			for i, a := range res.Target.Env.Environment.Spec.Addons {
				if re.Addon != "" && a.Name == re.Addon {
					pos = doc.Pos("spec", "addons", strconv.Itoa(i))
				}
			}
		}
		if key := pos.String() + msg; !seen[key] {
			seen[key] = true
			out = append(out, schemas.Errorf(pos, schemas.RuleRender, "does not render on cluster %s: %s", res.Target.Cluster.Name, msg))
		}
	}
	return out, nil
}

// selectChanged picks the requests a change touches: their own file or a
// file under one of their add-on paths. A change to allot.yaml or templates/
// can affect every request, so it selects them all.
func selectChanged(changed map[string]bool) func(*load.EnvironmentFile) bool {
	for f := range changed {
		if f == load.PlatformPath || strings.HasPrefix(f, load.TemplatesDir+"/") {
			return nil
		}
	}
	return func(ef *load.EnvironmentFile) bool {
		if changed[ef.Doc.File] {
			return true
		}
		for _, a := range ef.Environment.Spec.Addons {
			_, p := a.LocalPath()
			if p == "" {
				continue
			}
			dir := path.Clean(p) + "/"
			for f := range changed {
				if strings.HasPrefix(f, dir) {
					return true
				}
			}
		}
		return false
	}
}

func writeText(w io.Writer, problems []schemas.Problem) error {
	for _, p := range problems {
		prefix := ""
		if p.Severity == schemas.SeverityWarning {
			prefix = "warning: "
		}
		if _, err := fmt.Fprintf(w, "%s: %s%s\n", p.Position, prefix, p.Message); err != nil {
			return err
		}
	}
	return nil
}

func writeSummary(w io.Writer, repo *load.Repository, problems []schemas.Problem) error {
	errs, files := 0, map[string]bool{}
	for _, p := range problems {
		if p.Severity == schemas.SeverityError {
			errs++
			files[p.File] = true
		}
	}
	envs := len(repo.Environments)
	if errs == 0 {
		_, err := fmt.Fprintf(w, "%s is valid: %s, %s\n", repo.Root, plural(envs, "environment"), plural(len(repo.Templates), "template"))
		return err
	}
	_, err := fmt.Fprintf(w, "%s in %s\n", plural(errs, "error"), plural(len(files), "file"))
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// validateReport is the document of `allot validate -o json|yaml`.
type validateReport struct {
	Valid        bool              `json:"valid"`
	Environments int               `json:"environments"`
	Problems     []schemas.Problem `json:"problems"`
}

// writeGitHub prints workflow commands that GitHub shows as annotations on
// the pull request's files. prefix turns repository-relative paths into
// paths relative to the git work tree, which is what GitHub expects.
func writeGitHub(w io.Writer, prefix string, problems []schemas.Problem) error {
	for _, p := range problems {
		level := "error"
		if p.Severity == schemas.SeverityWarning {
			level = "warning"
		}
		props := "file=" + escapeProperty(path.Join(prefix, p.File))
		if p.Line > 0 {
			props += fmt.Sprintf(",line=%d", p.Line)
		}
		if p.Column > 0 {
			props += fmt.Sprintf(",col=%d", p.Column)
		}
		props += ",title=" + escapeProperty("allot validate ("+string(p.Rule)+")")
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", level, props, escapeData(p.Message)); err != nil {
			return err
		}
	}
	return nil
}

// annotationPrefix is the requests repository's folder relative to the git
// work tree that holds it, or "" when it is the top or not in git.
func annotationPrefix(repo string) string {
	top, err := source.TopLevel(repo)
	if err != nil {
		return ""
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return ""
	}
	realTop, err1 := filepath.EvalSymlinks(top)
	realAbs, err2 := filepath.EvalSymlinks(abs)
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(realTop, realAbs)
	if err != nil || rel == "." {
		return ""
	}
	return filepath.ToSlash(rel)
}

func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
