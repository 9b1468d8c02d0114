package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/reconciler"
)

// Exit codes of allot plan, as kubectl diff's: a script can tell "nothing
// to do" from "something to do" from "the plan is not to be trusted".
const (
	ExitPlanNoChanges = 0
	ExitPlanChanges   = 1
	// ExitPlanFailed: the plan could not be made in full — bad flags, an
	// unreadable repository or cluster, an object the API server rejects,
	// a request that fails to render, a deletion guard that would stop
	// the pass.
	ExitPlanFailed = 2
)

// NewPlanCommand builds `allot plan`.
func NewPlanCommand(s Streams) *cobra.Command {
	o := ReconcileOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what a reconcile pass would change, without changing it",
		Long: `plan renders the repository and puts every object through a server-side dry
run on its cluster (dryRun=All, field manager allot, forced ownership: the real
apply's), creates included. It prints, per cluster and environment, what would
be created, changed (a unified diff of the object's YAML, live against the dry
run's result; Secret data masked) and deleted, what runs at teardown, and the
IdP groups. An object the API server rejects is an error, with its message.

The first line says what was read: a commit, or "working tree (dirty)" when the
files of a --repo folder differ from its git HEAD.

Exit codes, as kubectl diff's:
  0  nothing would change
  1  something would change
  2  an error: bad flags, the repository or a cluster could not be read, an
     object the API server rejects, a request that fails to render, or a
     deletion guard that would stop the pass`,
		Example: `  allot plan --repo . --kubeconfig dev-eu-1=$HOME/.kube/dev-eu-1.yaml
  allot plan --repo . --environment checkout-dev -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return PlanCmd(cmd.Context(), s, o) },
	}
	o.bind(cmd)
	o.bindGuards(cmd)
	clusterOutputs.bind(cmd, &o.Output)
	cmd.Flags().StringSliceVar(&o.Environments, "environment", nil, "plan only these environments (repeatable); the deletion guards still weigh all of them")
	return cmd
}

// errPlanChanges says that a plan has changes: exit 1 with nothing more
// to print.
var errPlanChanges = &exitError{code: ExitPlanChanges, err: errProblems}

// planFailed gives err the exit code of a plan that failed.
func planFailed(err error) error {
	var ee *exitError
	if errors.As(err, &ee) && ee.code == ExitUsage {
		return err
	}
	return &exitError{code: ExitPlanFailed, err: err}
}

// PlanCmd prints a plan. It returns nil when nothing would change, an
// error with exit code ExitPlanChanges when something would, and one with
// ExitPlanFailed (or ExitUsage) when the plan could not be made in full.
func PlanCmd(ctx context.Context, s Streams, o ReconcileOptions) error {
	if err := clusterOutputs.check(o.Output); err != nil {
		return usageError(err)
	}
	o, err := resolveClusterFlags(ctx, o)
	if err != nil {
		return planFailed(err)
	}
	r, err := newReconciler(o, s.logger())
	if err != nil {
		return planFailed(err)
	}
	defer r.StopWatching()
	var only func(string) bool
	if len(o.Environments) > 0 {
		only = func(env string) bool { return slices.Contains(o.Environments, env) }
	}
	plan, err := r.PlanOnly(ctx, only)
	if err != nil {
		return planFailed(err)
	}
	for _, env := range o.Environments {
		_, kept := plan.Kept.Reason(env)
		if !kept && !slices.ContainsFunc(plan.Entries, func(e reconciler.PlanEntry) bool { return e.Environment == env }) {
			return usageError(fmt.Errorf("--environment %s: no such environment on the clusters planned; `allot list` shows the environments and their clusters", env))
		}
	}
	err = printOutput(s.Out, o.Output, plan, func(w io.Writer) error {
		writePlan(w, plan, isTerminal(w))
		return nil
	})
	if err != nil {
		return planFailed(err)
	}
	switch {
	case len(plan.Errors) > 0 || plan.Kept.Len() > 0:
		return planFailed(errProblems)
	case plan.HasChanges():
		return errPlanChanges
	}
	return nil
}

// planReport is the document of `allot plan -o json|yaml`: the plan, with
// the requests kept as a list rather than a map keyed by name or file.
// writePlan prints a plan as text, the diffs coloured when color is set.
func writePlan(w io.Writer, plan *reconciler.Plan, color bool) {
	fmt.Fprintf(w, "plan of %s\n", whatWasRead(plan.Commit))
	for _, e := range plan.Entries {
		fmt.Fprintf(w, "\n%s / %s: %s\n", e.Cluster, e.Environment, reconciler.FutureAction(e.Action))
		for _, c := range e.Changes {
			switch {
			case c.Action == reconciler.ChangeUnchanged:
				continue
			case c.Error != "":
				fmt.Fprintf(w, "  %s %s: %s\n", c.Verb(), c.Object, c.Error)
			case c.Note != "":
				fmt.Fprintf(w, "  %s %s (%s)\n", c.Verb(), c.Object, c.Note)
			default:
				fmt.Fprintf(w, "  %s %s\n", c.Verb(), c.Object)
			}
			if c.Diff != "" {
				writeDiff(w, c.Diff, color)
			}
		}
		for _, g := range e.Groups {
			fmt.Fprintf(w, "  idp group %s: %s\n", g.Name, strings.Join(g.Members, ", "))
		}
	}
	if len(plan.Groups) > 0 {
		fmt.Fprintf(w, "\nidentity provider:\n")
		for _, g := range plan.Groups {
			fmt.Fprintf(w, "  %s group %s", g.Verb(), g.Group)
			if len(g.Add) > 0 {
				fmt.Fprintf(w, "  add %s", strings.Join(g.Add, ", "))
			}
			if len(g.Remove) > 0 {
				fmt.Fprintf(w, "  remove %s", strings.Join(g.Remove, ", "))
			}
			fmt.Fprintln(w)
		}
	}
	for _, kr := range plan.Kept.List() {
		fmt.Fprintf(w, "\n%s: would be kept as it is: %s\n", kr.Environment+kr.File, kr.Message)
	}
	for _, e := range plan.Errors {
		fmt.Fprintf(w, "\nerror: %s\n", e)
	}
}

// whatWasRead names what a pass read: "commit SHA", or the working tree
// as reconciler.FolderSource says it.
func whatWasRead(commit string) string {
	if strings.HasPrefix(commit, "working tree") {
		return commit
	}
	return "commit " + commit
}

// ANSI colours of diff lines, as git and kubectl diff (through diff
// --color) show them.
const (
	ansiRed   = "\x1b[31m"
	ansiGreen = "\x1b[32m"
	ansiReset = "\x1b[0m"
)

// writeDiff prints a unified diff indented under its object.
func writeDiff(w io.Writer, diff string, color bool) {
	for _, line := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		switch {
		case !color, strings.HasPrefix(line, "---"), strings.HasPrefix(line, "+++"):
		case strings.HasPrefix(line, "-"):
			line = ansiRed + line + ansiReset
		case strings.HasPrefix(line, "+"):
			line = ansiGreen + line + ansiReset
		}
		fmt.Fprintf(w, "      %s\n", line)
	}
}

// isTerminal reports whether w is a terminal, where colour helps; never
// when NO_COLOR is set (no-color.org).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
