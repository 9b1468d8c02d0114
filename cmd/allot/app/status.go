package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/reconciler/fleet"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// StatusOptions are the inputs of Status.
type StatusOptions struct {
	ReconcileOptions
	// Holders shows which replica holds which cluster (serve
	// --share-clusters), read from the Leases in the home cluster.
	Holders bool
	// HomeKubeconfig reaches the home cluster; empty means in-cluster
	// credentials.
	HomeKubeconfig string
}

// NewStatusCommand builds `allot status`.
func NewStatusCommand(s Streams) *cobra.Command {
	o := StatusOptions{}
	cmd := &cobra.Command{
		Use:   "status [ENVIRONMENT]",
		Short: "Show the environments on each cluster, from allot's inventory records",
		Long: `status lists every environment's inventory record on each cluster of allot.yaml:
whether it is ready, the phase and commit last applied, when it expires and
the last message; with --holders, also which replica of allot serve
--share-clusters holds each cluster, from the Leases in the home cluster
(--home-kubeconfig, or in-cluster credentials). With an environment's name
it describes that environment:
its conditions, its last error, and each of its objects with its readiness as
the cluster holds it now, so that it says why the environment is not ready.`,
		Example: `  allot status --repo .
  allot status --repo . --holders --home-kubeconfig ~/.kube/home.yaml
  allot status checkout-dev --repo . -o yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(fmt.Errorf("%s takes at most one environment, got %d arguments", cmd.CommandPath(), len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return Describe(cmd.Context(), s, o.ReconcileOptions, args[0])
			}
			return Status(cmd.Context(), s, o)
		},
	}
	o.bind(cmd)
	clusterOutputs.bind(cmd, &o.Output)
	cmd.Flags().BoolVar(&o.Holders, "holders", false, "also show which replica of allot serve --share-clusters holds each cluster, from the Leases in the home cluster")
	cmd.Flags().StringVar(&o.HomeKubeconfig, "home-kubeconfig", "", "with --holders: kubeconfig of the cluster allot runs in, which holds the Leases (default: in-cluster)")
	return cmd
}

// Status prints the inventory records of every cluster in allot.yaml and,
// with Holders, which replica holds each cluster.
func Status(ctx context.Context, s Streams, o StatusOptions) error {
	r, platform, err := statusReader(ctx, s, o.ReconcileOptions)
	if err != nil {
		return err
	}
	rows, errs := r.Status(ctx, platform.Clusters)
	report := statusReport{Environments: rows, Errors: []string{}}
	if report.Environments == nil {
		report.Environments = []reconciler.StatusRow{}
	}
	if o.Holders {
		if report.Holders, err = readHolders(ctx, o.HomeKubeconfig, platform.Clusters); err != nil {
			errs = append(errs, err)
		}
	}
	for _, err := range errs {
		report.Errors = append(report.Errors, err.Error())
	}
	err = printOutput(s.Out, o.Output, report, func(w io.Writer) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tENVIRONMENT\tREADY\tPHASE\tOBJECTS\tCOMMIT\tDIGEST\tUPDATED\tEXPIRES\tMESSAGE")
		for _, row := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", row.Cluster, row.Environment, row.Ready, row.Phase, row.Objects, row.Commit, row.Digest, row.Updated.UTC().Format(time.RFC3339), expiresText(row.Expires), row.Message)
		}
		if err := tw.Flush(); err != nil || report.Holders == nil {
			return err
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tHELD BY\tRENEWED")
		for _, h := range report.Holders {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", h.Cluster, holderText(h), renewedText(h.Renewed))
		}
		return tw.Flush()
	})
	if err != nil {
		return err
	}
	return clusterErrors(s, errs)
}

// readHolders reads the cluster Leases from the home cluster.
func readHolders(ctx context.Context, kubeconfig string, clusters []schemas.Cluster) ([]fleet.Holding, error) {
	cs, err := homeClient(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--holders: %w; give --home-kubeconfig outside the cluster allot runs in", err)
	}
	names := make([]string, len(clusters))
	for i, c := range clusters {
		names[i] = c.Name
	}
	return fleet.Holders(ctx, cs.CoordinationV1(), reconciler.SystemNamespace, names, time.Now())
}

func holderText(h fleet.Holding) string {
	switch {
	case h.Holder == "":
		return "nobody"
	case h.Expired:
		return h.Holder + " (expired)"
	}
	return h.Holder
}

func renewedText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// statusReport is the document of `allot status -o json|yaml`.
type statusReport struct {
	Environments []reconciler.StatusRow `json:"environments"`
	// Holders are the cluster Leases' holders, with --holders.
	Holders []fleet.Holding `json:"holders,omitempty"`
	// Errors are the clusters that could not be read.
	Errors []string `json:"errors"`
}

// clusterErrors prints the clusters that could not be read, after the
// output; any makes the command fail.
func clusterErrors(s Streams, errs []error) error {
	for _, err := range errs {
		fmt.Fprintf(s.Err, "allot: %v\n", err)
	}
	if len(errs) > 0 {
		return errProblems
	}
	return nil
}

// statusReader checks the output flag and reads allot.yaml, which names
// the clusters to read records from.
func statusReader(ctx context.Context, s Streams, o ReconcileOptions) (*reconciler.Reconciler, *schemas.PlatformSpec, error) {
	if err := clusterOutputs.check(o.Output); err != nil {
		return nil, nil, usageError(err)
	}
	o, err := resolveClusterFlags(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	r, err := newReconciler(o, s.logger())
	if err != nil {
		return nil, nil, err
	}
	snap, err := r.Source.Fetch(ctx)
	if err != nil {
		return nil, nil, err
	}
	repo, err := load.Load(snap.Dir, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return nil, nil, usageError(err)
	}
	if repo.Platform == nil {
		return nil, nil, errors.New("allot.yaml is missing or invalid; run allot validate")
	}
	return r, &repo.Platform.Platform.Spec, nil
}

func expiresText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// describeReport is the document of `allot status ENV -o json|yaml`.
type describeReport struct {
	Environment string                         `json:"environment"`
	Clusters    []reconciler.EnvironmentStatus `json:"clusters"`
	Errors      []string                       `json:"errors"`
}

// Describe prints one environment on every cluster that has it: its
// record, conditions and each object's readiness now. An environment no
// cluster knows is an error.
func Describe(ctx context.Context, s Streams, o ReconcileOptions, env string) error {
	r, platform, err := statusReader(ctx, s, o)
	if err != nil {
		return err
	}
	found, errs := r.Describe(ctx, platform.Clusters, env)
	for i := range found {
		found[i].Notices = platform.ExpiryNoticesFor(found[i].Expires)
	}
	report := describeReport{Environment: env, Clusters: found, Errors: []string{}}
	if report.Clusters == nil {
		report.Clusters = []reconciler.EnvironmentStatus{}
	}
	for _, err := range errs {
		report.Errors = append(report.Errors, err.Error())
	}
	if len(found) == 0 && len(errs) == 0 {
		return fmt.Errorf("no cluster has a record of environment %q; allot status lists the environments", env)
	}
	err = printOutput(s.Out, o.Output, report, func(w io.Writer) error {
		for i, es := range found {
			if i > 0 {
				fmt.Fprintln(w)
			}
			writeDescription(w, es)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return clusterErrors(s, errs)
}

// writeDescription writes one environment as kubectl describe would.
func writeDescription(w io.Writer, es reconciler.EnvironmentStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Environment:\t%s\n", es.Environment)
	fmt.Fprintf(tw, "Cluster:\t%s\n", es.Cluster)
	fmt.Fprintf(tw, "Request:\t%s\n", es.File)
	fmt.Fprintf(tw, "Ready:\t%s\n", es.Ready)
	fmt.Fprintf(tw, "Phase:\t%s\n", es.Phase)
	fmt.Fprintf(tw, "Commit:\t%s\n", es.Commit)
	fmt.Fprintf(tw, "Updated:\t%s\n", es.Updated.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "Expires:\t%s\n", expiresText(es.Expires))
	if s := es.Sleep; s != nil {
		fmt.Fprintf(tw, "Sleep:\t%s\n", sleepText(s))
	}
	if len(es.Notices) > 0 {
		fmt.Fprintf(tw, "Notices:\t%s\n", noticesText(es.Notices, time.Now()))
	}
	if es.LastError != "" {
		fmt.Fprintf(tw, "Last error:\t%s\n", es.LastError)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "Conditions:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tSINCE\tMESSAGE")
	for _, c := range es.Conditions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, c.LastTransitionTime.UTC().Format(time.RFC3339), oneLine(c.Message))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "Objects:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  OBJECT\tPHASE\tSTATE\tMESSAGE")
	for _, obj := range es.Objects {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", obj.Object, obj.Phase, obj.State, oneLine(obj.Message))
	}
	_ = tw.Flush()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// sleepText says whether an environment sleeps, until when, and on which
// schedule.
func sleepText(s *reconciler.SleepState) string {
	state := "awake"
	if s.Asleep {
		state = "asleep"
	}
	if !s.Until.IsZero() {
		state += " until " + s.Until.UTC().Format(time.RFC3339)
	}
	if !s.WokenUntil.IsZero() {
		state += ", woken early"
	}
	return state + "; schedule " + s.Schedule
}

// noticesText says when the expiry notices are due: those past were
// posted by allot serve, when it runs, on the pull request that created
// the environment.
func noticesText(notices []schemas.ExpiryNotice, now time.Time) string {
	var parts []string
	for _, n := range notices {
		state := "due"
		if !n.At.After(now) {
			state = "passed"
		}
		lead := fmt.Sprintf("%dm", n.Before/time.Minute)
		if n.Before%time.Hour == 0 {
			lead = fmt.Sprintf("%dh", n.Before/time.Hour)
		}
		parts = append(parts, fmt.Sprintf("%s before, %s %s", lead, state, n.At.UTC().Format(time.RFC3339)))
	}
	return strings.Join(parts, "; ")
}
