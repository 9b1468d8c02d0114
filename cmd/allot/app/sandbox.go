package app

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/allot-dev/allot/renderer/sources"
)

// sandboxCommand is the hidden subcommand the Helm sandbox runs allot as.
const sandboxCommand = "helm-sandbox"

// NewHelmSandboxCommand builds the hidden command that renders one Helm
// chart as the child of a sources.Sandbox: it reads the job on standard
// input and writes the rendered chart on standard output.
func NewHelmSandboxCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:    sandboxCommand,
		Short:  "Render one Helm chart for a sandboxed render (internal)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(*cobra.Command, []string) error {
			return sources.ServeSandbox(s.In, s.Out)
		},
	}
}

// helmSandbox renders charts in a child allot process with the sandbox's
// default deadline and memory limit. A Go test binary is not allot and
// cannot serve as the child, so tests of this package render in process.
func helmSandbox() *sources.Sandbox {
	exe, err := os.Executable()
	if err != nil || strings.HasSuffix(exe, ".test") {
		return nil
	}
	return &sources.Sandbox{Command: []string{exe, sandboxCommand}}
}
