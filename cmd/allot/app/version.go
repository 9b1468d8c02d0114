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
	info, _ := debug.ReadBuildInfo()
	return formatVersion(version, commit, info)
}

// formatVersion prefers the linker flags' version and commit and falls back
// to the build info: `go install .../cmd/allot@v1.2.3` records v1.2.3 as the
// main module's version (and no commit: a module download has no VCS
// data); `go build` in a git checkout records a pseudo-version
// (v0.0.0-DATE-COMMIT, +dirty with local changes) and vcs.revision.
func formatVersion(v, c string, info *debug.BuildInfo) string {
	if info != nil {
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
