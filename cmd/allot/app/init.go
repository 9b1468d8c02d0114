package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// InitOptions are the inputs of Init.
type InitOptions struct {
	// Dir is the folder the requests repository is written to; created
	// when missing.
	Dir string
	// Cluster is the name of the one cluster in allot.yaml.
	Cluster string
	// Kubeconfig is the kubeconfig file allot.yaml names for the cluster;
	// empty means the kubeconfig kubectl uses ($KUBECONFIG, else
	// ~/.kube/config). A relative path is made absolute, since allot.yaml
	// takes no relative ones.
	Kubeconfig string
	// Context is the context of that kubeconfig; empty means its current one.
	Context string
	// Force replaces files that exist.
	Force bool
}

// NewInitCommand builds `allot init [DIR]`.
func NewInitCommand(s Streams) *cobra.Command {
	o := InitOptions{}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write a minimal requests repository to start from",
		Long: `init writes a minimal valid requests repository into DIR (default: the current
folder): allot.yaml with one cluster, one size and no identity provider, one
request under environments/, and a README saying what to edit. It refuses to
replace files that exist unless --force is given.

Without --kubeconfig the cluster is reached through the kubeconfig kubectl uses
($KUBECONFIG, else ~/.kube/config) and its current context, or --context.`,
		Example: `  allot init requests --context kind-allot
  allot init . --cluster dev-eu-1 --kubeconfig /etc/allot/kubeconfigs/dev-eu-1.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(fmt.Errorf("%s takes at most one folder, got %d arguments", cmd.CommandPath(), len(args)))
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dir = "."
			if len(args) == 1 {
				o.Dir = args[0]
			}
			return Init(s, o)
		},
	}
	cmd.Flags().StringVar(&o.Cluster, "cluster", "dev", "the name of the cluster in allot.yaml")
	cmd.Flags().StringVar(&o.Kubeconfig, "kubeconfig", "", "the kubeconfig file allot.yaml names for the cluster (default: kubectl's, $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().StringVar(&o.Context, "context", "", "the context of that kubeconfig (default: its current context)")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace files that exist")
	return cmd
}

// initFile is one file Init writes.
type initFile struct{ path, content string }

// Init writes a minimal requests repository into o.Dir.
func Init(s Streams, o InitOptions) error {
	if msgs := validation.IsDNS1123Label(o.Cluster); len(msgs) > 0 {
		return usageError(fmt.Errorf("--cluster %q: %s", o.Cluster, strings.Join(msgs, "; ")))
	}
	if o.Kubeconfig != "" && !strings.HasPrefix(o.Kubeconfig, "~/") {
		abs, err := filepath.Abs(o.Kubeconfig)
		if err != nil {
			return usageError(fmt.Errorf("--kubeconfig %s: %w", o.Kubeconfig, err))
		}
		o.Kubeconfig = abs
	}
	files := initFiles(o)
	var exist []string
	for _, f := range files {
		p := filepath.Join(o.Dir, f.path)
		info, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return usageError(err)
		case info.IsDir():
			return usageError(fmt.Errorf("%s is a folder where allot init writes a file; move it away", p))
		}
		exist = append(exist, p)
	}
	if len(exist) > 0 && !o.Force {
		verb := "exist"
		if len(exist) == 1 {
			verb = "exists"
		}
		return usageError(fmt.Errorf("%s already %s; allot init does not replace files: pass --force to replace them, or init another folder", strings.Join(exist, ", "), verb))
	}
	for _, f := range files {
		p := filepath.Join(o.Dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return usageError(err)
		}
		// A file replaced is removed first, so that a link in its place is
		// replaced rather than written through.
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return usageError(err)
		}
		out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return usageError(err)
		}
		_, werr := out.WriteString(f.content)
		if err := errors.Join(werr, out.Close()); err != nil {
			return err
		}
		fmt.Fprintf(s.Out, "wrote %s\n", p)
	}
	repo := ""
	if filepath.Clean(o.Dir) != "." {
		repo = " --repo " + o.Dir
	}
	fmt.Fprintf(s.Out, `
Next: point the cluster in allot.yaml at yours and put your own address in the
request, then:
  allot validate%[1]s
  allot plan%[1]s
  allot reconcile --once%[1]s
`, repo)
	return nil
}

// initFiles are the files of a minimal requests repository.
func initFiles(o InitOptions) []initFile {
	reach := "{}"
	switch {
	case o.Kubeconfig != "" && o.Context != "":
		reach = fmt.Sprintf("{file: %s, context: %s}", yamlString(o.Kubeconfig), yamlString(o.Context))
	case o.Kubeconfig != "":
		reach = fmt.Sprintf("{file: %s}", yamlString(o.Kubeconfig))
	case o.Context != "":
		reach = fmt.Sprintf("{context: %s}", yamlString(o.Context))
	}
	platform := fmt.Sprintf(`# yaml-language-server: $schema=https://raw.githubusercontent.com/allot-dev/allot/main/schemas/platform.schema.json
#
# allot.yaml: the clusters environments go to, the identity provider, the
# sizes requests choose from and the rules they must follow. Check the
# cluster below, put your e-mail domain in policy.allowedOwnerDomains, and run
# allot validate. Every field: https://github.com/allot-dev/allot#the-platform
apiVersion: allot.dev/v1alpha1
kind: Platform
metadata:
  name: %[1]s
spec:
  clusters:
    - name: %[2]s
      # How allot reaches the cluster. With neither file nor secretRef, the
      # kubeconfig kubectl uses ($KUBECONFIG, else ~/.kube/config); context
      # picks one of its contexts (default: its current context). A file is
      # an absolute path or one under ~/, never inside this repository:
      #   kubeconfig: {file: /etc/allot/kubeconfigs/%[2]s.yaml, context: %[2]s}
      kubeconfig: %[3]s
  # none: no identity provider; an environment's RoleBinding names its owner
  # and members as users. scim, ldap, keycloak, okta and entra manage groups.
  idp:
    provider: none
  defaultSize: small
  sizes:
    small:
      quota: {requests.cpu: "2", requests.memory: 4Gi, limits.cpu: "4", limits.memory: 8Gi, pods: 20}
      limitRange:
        defaultRequest: {cpu: 100m, memory: 128Mi}
        default: {cpu: 500m, memory: 512Mi}
  policy:
    maxTTL: 90d
    allowedOwnerDomains: [example.com]   # your e-mail domain; subdomains count too
`, yamlName(platformName(o.Dir)), yamlName(o.Cluster), reach)
	request := fmt.Sprintf(`# yaml-language-server: $schema=https://raw.githubusercontent.com/allot-dev/allot/main/schemas/environment.schema.json
#
# One request: a namespace on cluster %[1]s with the small size's quota, kept
# for 30 days from when allot first applies it. To ask for another
# environment, copy this file under environments/<team>/: its name must be
# metadata.name, unique in the repository.
apiVersion: allot.dev/v1alpha1
kind: Environment
metadata:
  name: sandbox
spec:
  type: namespace
  owner: you@example.com     # you, in a domain of policy.allowedOwnerDomains
  team: my-team
  members: []                # more addresses that get the environment's rights
  size: small
  cluster: %[1]s
  expires: 30d
`, yamlName(o.Cluster))
	readme := `# Environment requests

This repository asks [allot](https://github.com/allot-dev/allot) for
development environments: one YAML file per environment.

- ` + "`allot.yaml`" + ` — the platform: clusters and how allot reaches them,
  the identity provider, sizes and policy. Edit the cluster's ` + "`kubeconfig`" + `
  and ` + "`policy.allowedOwnerDomains`" + ` first.
- ` + "`environments/<team>/<name>.yaml`" + ` — one request per file; copy
  ` + "`environments/my-team/sandbox.yaml`" + ` and change its name and owner.

Then:

` + "```sh" + `
allot validate           # schemas, policy and a full render of every request
allot plan               # what a pass would change on the cluster (a dry run)
allot reconcile --once   # apply it
` + "```" + `
`
	return []initFile{
		{"allot.yaml", platform},
		{filepath.Join("environments", "my-team", "sandbox.yaml"), request},
		{"README.md", readme},
	}
}

// yamlString quotes s for a YAML flow mapping.
func yamlString(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}

// yamlName writes a name as it is when YAML reads it back as that string,
// and quoted when it would read a number or a boolean (a folder named
// 2026, a cluster named 0).
func yamlName(s string) string {
	var v any
	if err := yaml.Unmarshal([]byte(s), &v); err == nil && v == s {
		return s
	}
	return yamlString(s)
}

var notInLabel = regexp.MustCompile(`[^a-z0-9]+`)

// platformName makes metadata.name from the folder's name, a DNS-1123
// label; "allot" when nothing of it is left.
func platformName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	name := strings.Trim(notInLabel.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "-"), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if name == "" {
		return "allot"
	}
	return name
}
