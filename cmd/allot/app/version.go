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
	info, _ := debug.ReadBuildInfo()
	return buildVersion(version, commit, info)
}

// buildVersion prefers the linker flags' version v and commit c and falls
// back to the build info: `go install .../cmd/allot@v1.2.3` records v1.2.3
// as the main module's version (and no commit: a module download has no
// VCS data); `go build` in a git checkout records a pseudo-version
// (v0.0.0-DATE-COMMIT, or the tag on HEAD; +dirty with local changes) and
// vcs.revision.
func buildVersion(v, c string, info *debug.BuildInfo) VersionInfo {
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
	return VersionInfo{Version: v, Commit: c, GoVersion: runtime.Version()}
}

// String returns "allot VERSION (commit COMMIT, GOVERSION)".
func (i VersionInfo) String() string {
	return fmt.Sprintf("allot %s (commit %s, %s)", i.Version, i.Commit, i.GoVersion)
}

// versionString returns "allot VERSION (commit COMMIT, GOVERSION)".
func versionString() string { return versionInfo().String() }

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
