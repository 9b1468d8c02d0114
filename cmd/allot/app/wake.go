package app

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/reconciler"
)

// WakeOptions are the inputs of Wake.
type WakeOptions struct {
	ReconcileOptions
	// For is how long the wake (or early sleep) lasts; zero means until
	// the schedule's next sleep (or wake).
	For time.Duration
	// Asleep puts the environment to sleep early instead (allot sleep).
	Asleep bool
	// NoPass only records the wake, for the next pass of allot serve.
	NoPass bool
}

// NewWakeCommand builds `allot wake`, and with asleep `allot sleep`.
func NewWakeCommand(s Streams, asleep bool) *cobra.Command {
	o := WakeOptions{Asleep: asleep}
	verb, until, opposite := "wake", "sleep", "allot sleep"
	if asleep {
		verb, until, opposite = "sleep", "wake", "allot wake"
	}
	cmd := &cobra.Command{
		Use:   verb + " ENVIRONMENT",
		Short: fmt.Sprintf("%s an environment that has a sleep schedule early, without a change in git", strings.ToUpper(verb[:1])+verb[1:]),
		Long: fmt.Sprintf(`%s records in the environment's inventory record (the ConfigMap named after it
in allot-system, key %s, on every cluster that has it) that it is to %s
until its schedule's next %s time, or for --for, and then runs a pass that
acts on it. git does not change: this is runtime state, as the schedule's own
sleeping is. %s, or a later %s, replaces it.`, verb, "wake.json", verb, until, opposite, verb),
		Example: fmt.Sprintf(`  allot %s checkout-dev --repo .
  allot %s checkout-dev --for 2h --repo .`, verb, verb),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(fmt.Errorf("%s takes one environment, got %d arguments", cmd.CommandPath(), len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return Wake(cmd.Context(), s, o, args[0]) },
	}
	o.bind(cmd)
	cmd.Flags().DurationVar(&o.For, "for", 0, fmt.Sprintf("how long, such as 2h (at most %s); default: until the next scheduled %s", reconciler.MaxWakeFor, until))
	cmd.Flags().BoolVar(&o.NoPass, "no-pass", false, "only record it; the next pass of allot serve acts on it")
	return cmd
}

// Wake records an early wake or sleep of env and, unless NoPass, runs a
// pass that applies it.
func Wake(ctx context.Context, s Streams, o WakeOptions, env string) error {
	w := reconciler.Wake{By: "allot wake", Asleep: o.Asleep, At: time.Now()}
	if o.Asleep {
		w.By = "allot sleep"
	}
	if err := reconciler.CheckWakeFor(o.For); err != nil {
		return usageError(err)
	}
	if o.For > 0 {
		w.Until = w.At.Add(o.For)
	}
	r, platform, err := statusReader(ctx, s, o.ReconcileOptions)
	if err != nil {
		return err
	}
	done, errs := r.Wake(ctx, platform.Clusters, env, w)
	if len(done) > 0 {
		fmt.Fprintf(s.Out, "%s: %s recorded on %s, %s\n", env, strings.TrimPrefix(w.By, "allot "), strings.Join(done, ", "), w.Describe())
	}
	if len(done) > 0 && !o.NoPass {
		res := r.Pass(ctx)
		if res.Err != nil {
			errs = append(errs, res.Err)
		}
		for _, c := range res.Clusters {
			for _, e := range c.Environments {
				if e.Environment != env {
					continue
				}
				state := "awake"
				if e.Asleep {
					state = "asleep"
				}
				if !e.SleepUntil.IsZero() {
					state += " until " + e.SleepUntil.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(s.Out, "%s on %s: %s, %s\n", env, c.Name, e.Action, state)
				if e.Err != nil {
					errs = append(errs, fmt.Errorf("%s on %s: %w", env, c.Name, e.Err))
				}
			}
		}
	}
	return clusterErrors(s, errs)
}
