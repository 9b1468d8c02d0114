package app

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at build time by the Makefile:
// -X github.com/allot-dev/allot/cmd/allot/app.version=... and .commit=...
var (
	version = ""
	commit  = ""
)

// versionString returns "VERSION (commit COMMIT, GOVERSION)", falling back to
// what the Go toolchain recorded when the linker flags were not set.
func versionString() string {
	v, c := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("allot %s (commit %s, %s)", v, c, runtime.Version())
}

// NewVersionCommand builds `allot version`.
func NewVersionCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print allot's version and git commit",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(s.Out, versionString())
			return err
		},
	}
}
