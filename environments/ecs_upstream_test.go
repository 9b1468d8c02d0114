//go:build upstream

package environments_test

// The checks against the controllers' own CRDs, which a fresh clone does
// not have: `make check-upstream` runs them where the CRDs are (by default
// ../shared/fixtures/upstream-crds and upstream-crds-extra beside the
// repository, or ALLOT_UPSTREAM_CRDS). `make test` relies on testdata/crds,
// which TestTrimmedCRDsMatchUpstream proves a faithful subset of them.

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/test/harness"
)

// TestTrimmedCRDsMatchUpstream checks that each CRD in testdata/crds is the
// upstream CRD cut down to the fields the ecs template sets, nothing added
// or changed; with -update-crds it writes them so.
func TestTrimmedCRDsMatchUpstream(t *testing.T) {
	dirs := upstreamDirs(t)
	if len(dirs) == 0 {
		t.Fatal("no upstream CRDs here: set ALLOT_UPSTREAM_CRDS to the controllers' CRD folders")
	}
	upstream, files, err := readCRDs(dirs)
	if err != nil {
		t.Fatal(err)
	}
	objs := rendered(t)
	var missing []string
	want := map[string][]byte{}
	for gk, list := range objs {
		crd := upstream[gk]
		if crd == nil {
			missing = append(missing, gk)
			continue
		}
		trimmed, err := trimCRD(crd, list)
		if err != nil {
			t.Fatalf("%s: %v", files[gk], err)
		}
		data, err := yaml.Marshal(trimmed)
		if err != nil {
			t.Fatal(err)
		}
		header := fmt.Sprintf("# %s: the CRD of %s%s,\n# cut down to the fields allot's ecs template sets.\n# Regenerate: go test ./environments -run TestTrimmedCRDs -update-crds\n", gk, origin(gk), filepath.Base(files[gk]))
		want[crdFile(crd)] = append([]byte(header), data...)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("no upstream CRD in %v for %v; add the controllers' CRDs for them (upbound/provider-aws keeps its own in package/crds/)", dirs, missing)
	}
	if *updateCRDs {
		old, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range old {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(crdDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range want {
			if err := os.WriteFile(filepath.Join(crdDir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	entries, err := os.ReadDir(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			have = append(have, e.Name())
		}
	}
	var wantNames []string
	for name := range want {
		wantNames = append(wantNames, name)
	}
	sort.Strings(wantNames)
	if diff := cmp.Diff(wantNames, have); diff != "" {
		t.Errorf("%s holds other CRDs than the template needs (-want +got); run with -update-crds:\n%s", crdDir, diff)
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(crdDir, name))
		if err != nil {
			continue
		}
		var w, g any
		if err := yaml.Unmarshal(data, &w); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s is not upstream cut down to what the template sets (-want +got); run with -update-crds:\n%s", name, diff)
		}
	}
}

// TestECSObjectsApplyStrictlyUpstream applies every rendered ECS object, in
// every variant, with strict field validation to a control plane holding
// the controllers' own CRDs.
func TestECSObjectsApplyStrictlyUpstream(t *testing.T) {
	dirs := upstreamDirs(t)
	if len(dirs) == 0 {
		t.Fatal("no upstream CRDs here: set ALLOT_UPSTREAM_CRDS to the controllers' CRD folders")
	}
	_, files, err := readCRDs(dirs)
	if err != nil {
		t.Fatal(err)
	}
	var paths, missing []string
	for gk := range rendered(t) {
		if files[gk] == "" {
			missing = append(missing, gk)
		}
		paths = append(paths, files[gk])
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("no upstream CRD in %v for %v", dirs, missing)
	}
	up, err := harness.Start(harness.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Stop() })
	ctx := testContext(t)
	if err := harness.InstallCRDFiles(ctx, up.Client, paths...); err != nil {
		t.Fatal(err)
	}
	applyAll(ctx, t, up.Client, renderECS(t))
}

var updateCRDs = flag.Bool("update-crds", false, "rewrite testdata/crds from the upstream CRDs (see upstreamDirs)")

// upstreamDirs returns the folders holding the controllers' own CRDs:
// ALLOT_UPSTREAM_CRDS (a path list), else the development fixtures beside
// the repository (../shared/fixtures/upstream-crds and
// ../shared/fixtures/upstream-crds-extra), if they exist. A fresh clone has
// none; the project's tests then rely on testdata/crds alone.
func upstreamDirs(t *testing.T) []string {
	t.Helper()
	if v := os.Getenv("ALLOT_UPSTREAM_CRDS"); v != "" {
		return filepath.SplitList(v)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, d := range []string{"upstream-crds", "upstream-crds-extra"} {
		p := filepath.Join(root, "..", "shared", "fixtures", d)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			dirs = append(dirs, p)
		}
	}
	return dirs
}

// groupKind is a CRD's Kind.group, as clusterScopedKinds spells it.
func groupKind(crd map[string]any) string {
	names, _ := crd["spec"].(map[string]any)["names"].(map[string]any)
	return fmt.Sprintf("%v.%v", names["kind"], crd["spec"].(map[string]any)["group"])
}

// readCRDs reads every CRD under dirs, keyed by Kind.group, with the file
// it came from. Two controllers may ship the same CRD; the first is kept.
func readCRDs(dirs []string) (map[string]map[string]any, map[string]string, error) {
	crds, files := map[string]map[string]any{}, map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
				return err
			}
			if _, err := harness.ReadCRDFile(p); err != nil {
				if strings.Contains(err.Error(), "want CustomResourceDefinition") {
					return nil
				}
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			crd := map[string]any{}
			if err := yaml.Unmarshal(data, &crd); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if gk := groupKind(crd); files[gk] == "" {
				crds[gk], files[gk] = crd, p
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return crds, files, nil
}

// rendered returns every object the ecs fixtures render, by Kind.group.
func rendered(t *testing.T) map[string][]*unstructured.Unstructured {
	t.Helper()
	out := map[string][]*unstructured.Unstructured{}
	for _, b := range renderECS(t) {
		for _, o := range objects(b) {
			if o.GroupVersionKind().Group == "" {
				continue
			}
			gk := o.GetKind() + "." + o.GroupVersionKind().Group
			out[gk] = append(out[gk], o)
		}
	}
	return out
}

// crdFile is the name of a trimmed CRD in testdata/crds.
func crdFile(crd map[string]any) string {
	return crd["metadata"].(map[string]any)["name"].(string) + ".yaml"
}

// origin says where an upstream CRD comes from, for the trimmed file's header.
func origin(gk string) string {
	switch {
	case strings.HasSuffix(gk, ".ec2.services.k8s.aws"):
		return "aws-controllers-k8s/ec2-controller v1.20.0, helm/crds/"
	case strings.HasSuffix(gk, ".ecs.services.k8s.aws"):
		return "aws-controllers-k8s/ecs-controller v1.2.1, helm/crds/"
	case strings.HasSuffix(gk, ".upbound.io"):
		return "upbound/provider-aws v1.4.0-rc.0, package/crds/"
	}
	return "unknown"
}
