package schemas

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrRelativeKubeconfigFile says a cluster's kubeconfig.file in allot.yaml
// is a relative path, which allot refuses rather than resolves.
var ErrRelativeKubeconfigFile = errors.New("kubeconfig.file is a relative path")

// CheckKubeconfigFile checks the path a cluster's kubeconfig.file gives: an
// absolute path, or one under the home folder of the user allot runs as
// (~/...). A relative path is refused rather than resolved. Resolved
// against the repository it would name a file a pull request can write,
// and resolved against the folder allot runs in, the one allot.yaml would
// name a different file on every machine and in every CI job that reads it.
func CheckKubeconfigFile(file string) error {
	if filepath.IsAbs(file) || strings.HasPrefix(file, "~/") {
		return nil
	}
	return fmt.Errorf("%w (%q), and allot does not guess what it is relative to: the repository would let a pull request write it, and the folder allot runs in differs from one machine to the next; "+
		"write an absolute path (/etc/allot/kubeconfigs/dev.yaml) or one under the home folder (~/.kube/config), leave file out to use $KUBECONFIG or ~/.kube/config as kubectl does, "+
		"or pass --kubeconfig NAME=FILE, which is relative to the current folder like kubectl's --kubeconfig", ErrRelativeKubeconfigFile, file)
}

// ExpandKubeconfigFile returns the file a cluster's kubeconfig.file names,
// a leading ~/ replaced by home, after CheckKubeconfigFile.
func ExpandKubeconfigFile(file, home string) (string, error) {
	if err := CheckKubeconfigFile(file); err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(file, "~/")
	if !ok {
		return filepath.Clean(file), nil
	}
	if home == "" {
		return "", fmt.Errorf("kubeconfig.file %q starts with ~/ but allot's user has no home folder ($HOME is unset); write an absolute path", file)
	}
	return filepath.Join(home, rest), nil
}
