package renderer

import (
	"fmt"
	"os"
	"testing"

	"github.com/allot-dev/allot/renderer/sources"
)

// sandboxEnv makes the test binary serve as the Helm sandbox's child, as
// the allot binary's hidden subcommand does.
const sandboxEnv = "ALLOT_TEST_HELM_SANDBOX=1"

func TestMain(m *testing.M) {
	if os.Getenv("ALLOT_TEST_HELM_SANDBOX") == "1" {
		if err := sources.ServeSandbox(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if name := os.Getenv(hostileCaseEnv); name != "" {
		os.Exit(runHostileCase(name))
	}
	os.Exit(m.Run())
}

// testSandbox starts this test binary as the Helm sandbox's child.
func testSandbox() *sources.Sandbox {
	return &sources.Sandbox{Command: []string{os.Args[0]}, Env: []string{sandboxEnv}}
}
