package reconciler

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/schemas"
)

func TestKubeconfigFlagsResolve(t *testing.T) {
	one := []schemas.Cluster{{Name: "dev", Kubeconfig: &schemas.KubeconfigSource{}}}
	three := []schemas.Cluster{{Name: "dev-eu-1"}, {Name: "dev-us-1"}, {Name: "mgmt", InCluster: true}}
	for _, tc := range []struct {
		name            string
		flags           KubeconfigFlags
		clusters        []schemas.Cluster
		files, contexts map[string]string
		wantErr         error
		wantMessage     string
	}{
		{name: "binds a named file to its cluster", flags: KubeconfigFlags{Files: map[string]string{"dev-us-1": "/k"}}, clusters: three,
			files: map[string]string{"dev-us-1": "/k"}, contexts: map[string]string{}},
		{name: "refuses a name that is not a cluster, listing the clusters", flags: KubeconfigFlags{Files: map[string]string{"dev-eu-2": "/k"}}, clusters: three,
			wantErr: ErrUnknownCluster, wantMessage: "--kubeconfig dev-eu-2=/k: no such cluster in allot.yaml; allot.yaml's clusters are dev-eu-1, dev-us-1, mgmt"},
		{name: "binds a file without a name to the only cluster", flags: KubeconfigFlags{Files: map[string]string{"": "kc.yaml"}}, clusters: one,
			files: map[string]string{"dev": "kc.yaml"}, contexts: map[string]string{}},
		{name: "refuses a file without a name for several clusters", flags: KubeconfigFlags{Files: map[string]string{"": "kc.yaml"}}, clusters: three,
			wantErr: ErrNotOneCluster, wantMessage: "allot.yaml's clusters are dev-eu-1, dev-us-1, mgmt: pass --kubeconfig NAME=kc.yaml"},
		{name: "refuses a file with and without the name of the only cluster", flags: KubeconfigFlags{Files: map[string]string{"": "a", "dev": "b"}}, clusters: one,
			wantMessage: "both name cluster dev"},
		{name: "binds --context to the only cluster", flags: KubeconfigFlags{Context: "kind-dev"}, clusters: one,
			files: map[string]string{}, contexts: map[string]string{"dev": "kind-dev"}},
		{name: "refuses --context for several clusters", flags: KubeconfigFlags{Context: "kind-dev"}, clusters: three,
			wantErr: ErrNotOneCluster, wantMessage: "--context works for a repository with one cluster; allot.yaml's clusters are dev-eu-1, dev-us-1, mgmt"},
		{name: "refuses --context for an in-cluster cluster", flags: KubeconfigFlags{Context: "x"}, clusters: three[2:],
			wantMessage: "inCluster: true, which has no contexts"},
		{name: "takes --context with a file for an in-cluster cluster", flags: KubeconfigFlags{Context: "x", Files: map[string]string{"": "/k"}}, clusters: three[2:],
			files: map[string]string{"mgmt": "/k"}, contexts: map[string]string{"mgmt": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, contexts, err := tc.flags.Resolve(tc.clusters)
			if tc.wantMessage != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantMessage) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantMessage)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v is not %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.files, files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.contexts, contexts); diff != "" {
				t.Errorf("contexts (-want +got):\n%s", diff)
			}
		})
	}
}
