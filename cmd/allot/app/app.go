// Package app wires allot's commands: flags, output and exit codes. Each
// command's work is a plain function a test can call; only Main exits.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// Exit codes of allot.
const (
	ExitOK      = 0
	ExitInvalid = 1 // the repository has problems, or the command failed
	ExitUsage   = 2 // bad flags or arguments, or the input cannot be read
)

// Streams are where a command reads and writes.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer

	// logs are the global log flags, set by NewRootCommand.
	logs *logFlags
}

// exitError carries an exit code up to Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errProblems says that problems were printed already.
var errProblems = errors.New("problems found")

func usageError(err error) error { return &exitError{code: ExitUsage, err: err} }

// Main runs allot with the process's arguments and exits.
func Main() {
	lib := captureLibraryOutput()
	s := Streams{In: os.Stdin, Out: os.Stdout, Err: lib.stderr, logs: &logFlags{onLogger: lib.setLogger}}
	code := Run(s, os.Args[1:], os.Getenv)
	lib.close()
	os.Exit(code)
}

// SetControllerLogger gives controller-runtime, which allot's cluster
// clients come from and which logs through a global logger, a logger that
// writes warnings and worse to w, rather than have it print that none was
// set. Call it once, from main.
func SetControllerLogger(w io.Writer) {
	ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// Run runs allot with args and returns the exit code. getenv reads the
// environment, so that tests can set GITHUB_ACTIONS without touching the
// process.
func Run(s Streams, args []string, getenv func(string) string) int {
	root := NewRootCommand(s, getenv)
	root.SetArgs(args)
	// Every command gets a context; the long-running ones add their own
	// signal handling to it.
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return ExitOK
	}
	if !errors.Is(err, errProblems) {
		fmt.Fprintf(s.Err, "allot: %v\n", err)
	}
	// Usage errors are typed where they arise: flag errors through
	// SetFlagErrorFunc, arguments through noArgs and the commands' own
	// validators.
	if ee := (*exitError)(nil); errors.As(err, &ee) {
		return ee.code
	}
	return ExitInvalid
}

// NewRootCommand builds the allot command tree.
func NewRootCommand(s Streams, getenv func(string) string) *cobra.Command {
	if s.logs == nil {
		s.logs = &logFlags{}
	}
	root := &cobra.Command{
		Use:   "allot",
		Short: "GitOps for development environments, driven by a requests repository",
		Long: `allot turns a requests repository — allot.yaml, templates/ and one YAML file
per environment under environments/ — into namespaces, vclusters and ECS stacks
on your clusters, and identity-provider groups for the people who use them.`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// noArgs suggests what a mistyped command was meant to be.
		SuggestionsMinimumDistance: 2,
		Args:                       noArgs,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetIn(s.In)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	s.logs.bind(root)
	var memprofile, cpuprofile string
	root.PersistentFlags().StringVar(&memprofile, "memprofile", "", "write the heap profile of the moment the live heap was largest to this file when the command ends (for diagnosing memory)")
	root.PersistentFlags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the command to this file (for diagnosing speed)")
	_ = root.PersistentFlags().MarkHidden("memprofile")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	var peak *peakHeap
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		s.logs.build(s.Err)
		if memprofile != "" {
			peak = watchPeakHeap()
		}
		if cpuprofile == "" {
			return nil
		}
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if cpuprofile != "" {
			pprof.StopCPUProfile()
		}
		if peak == nil {
			return nil
		}
		return peak.write(memprofile)
	}
	root.AddCommand(
		NewInitCommand(s), NewValidateCommand(s, getenv),
		NewListCommand(s),
		NewRenderCommand(s),
		NewPlanCommand(s),
		NewReconcileCommand(s),
		NewStatusCommand(s),
		NewWakeCommand(s, false), NewWakeCommand(s, true),
		NewServeCommand(s, getenv),
		NewAgentCommand(s),
		NewSchemaCommand(s),
		NewVersionCommand(s),
		NewHelmSandboxCommand(s),
	)
	return root
}

// noArgs refuses positional arguments with a usage error, suggesting the
// command a mistyped one was meant to be.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError(errors.New(msg))
}
