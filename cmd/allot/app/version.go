package app

import (
	"fmt"
	"io"
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

// VersionInfo is the document of `allot version -o json|yaml`.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// versionInfo returns what the linker flags set, falling back to what the
// Go toolchain recorded.
func versionInfo() VersionInfo {
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
	return VersionInfo{Version: v, Commit: c, GoVersion: runtime.Version()}
}

// versionString returns "allot VERSION (commit COMMIT, GOVERSION)".
func versionString() string {
	i := versionInfo()
	return fmt.Sprintf("allot %s (commit %s, %s)", i.Version, i.Commit, i.GoVersion)
}

var versionOutputs = formats(OutputText)

// NewVersionCommand builds `allot version`.
func NewVersionCommand(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print allot's version and git commit",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return printOutput(s.Out, output, versionInfo(), func(w io.Writer) error {
				_, err := fmt.Fprintln(w, versionString())
				return err
			})
		},
	}
	versionOutputs.bind(cmd, &output)
	return cmd
}
