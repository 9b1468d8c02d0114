package validate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/internal/testfs"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const platform = `apiVersion: allot.dev/v1alpha1
kind: Platform
metadata: {name: acme}
spec:
  clusters:
    - {name: eu, labels: {region: eu}, inCluster: true}
    - {name: us, labels: {region: us, allot.dev/vcluster-host: "true"}, inCluster: true}
  sizes: {small: {quota: {pods: 10}}}
  defaultSize: small
  policy:
    maxTTL: 30d
    allowedOwnerDomains: [acme.example]
    addons:
      allowedRepositories: [https://charts.acme.example/stable]
`

// check writes a repository with allot.yaml (platform when empty) and one
// request whose spec ends with specTail, and returns the problems.
func check(t *testing.T, platformYAML, specTail string, extra map[string]string) []schemas.Problem {
	t.Helper()
	root := t.TempDir()
	if platformYAML == "" {
		platformYAML = platform
	}
	files := map[string]string{
		"allot.yaml":                 platformYAML,
		"environments/web/demo.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: demo\nspec:\n  type: namespace\n  owner: jane@acme.example\n  team: web\n" + specTail,
	}
	for k, v := range extra {
		files[k] = v
	}
	testfs.Write(t, root, files)
	repo, err := load.Load(root, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	return Repository(repo, Options{Now: now})
}

func expect(t *testing.T, got []schemas.Problem, want ...string) {
	t.Helper()
	var lines []string
	for _, p := range got {
		lines = append(lines, p.String())
	}
	all := strings.Join(lines, "\n")
	if len(want) == 0 && len(got) > 0 {
		t.Errorf("want no problems, got:\n%s", all)
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("want a problem containing %q, got:\n%s", w, all)
		}
	}
	if len(want) > 0 && len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), all)
	}
}

func TestPlacement(t *testing.T) {
	t.Run("accepts a selector with expressions", func(t *testing.T) {
		expect(t, check(t, "", "  expires: 7d\n  placement:\n    clusterSelector:\n      matchExpressions:\n        - {key: region, operator: In, values: [eu, us]}\n", nil))
	})
	t.Run("refuses cluster and placement together", func(t *testing.T) {
		expect(t, check(t, "", "  expires: 7d\n  cluster: eu\n  placement:\n    clusterSelector: {matchLabels: {region: eu}}\n", nil), "set either spec.cluster or spec.placement, not both")
	})
}

func TestPlacementOfVclusters(t *testing.T) {
	expect(t, checkType(t, "vcluster", "  expires: 7d\n  placement:\n    clusterSelector: {matchLabels: {region: eu}}\n"),
		"placement region=eu matches no cluster that can run vcluster environments (allot.dev/vcluster-host=true)")
	expect(t, checkType(t, "vcluster", "  expires: 7d\n  cluster: us\n"))
}

// checkType is check for a request of another type.
func checkType(t *testing.T, typ, tail string) []schemas.Problem {
	t.Helper()
	return check(t, "", "", map[string]string{
		"environments/web/demo.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: demo}\nspec:\n  type: " + typ + "\n  owner: jane@acme.example\n  team: web\n" + tail,
	})
}

func TestOwners(t *testing.T) {
	base := "  expires: 7d\n  cluster: eu\n"
	t.Run("accepts a subdomain of an allowed domain", func(t *testing.T) {
		expect(t, check(t, "", base+"  members: [bob@eng.acme.example]\n", nil))
	})
	t.Run("refuses a look-alike domain", func(t *testing.T) {
		expect(t, check(t, "", base+"  members: [bob@evilacme.example]\n", nil), "member bob@evilacme.example is not in an allowed domain")
	})
	t.Run("refuses a display name", func(t *testing.T) {
		expect(t, check(t, "", base+"  members: [\"Bob <bob@acme.example>\"]\n", nil), `member "Bob <bob@acme.example>" is not an e-mail address`)
	})
}

func TestExpiry(t *testing.T) {
	for _, tc := range []struct{ expires, want string }{
		{"2026-12-01", ""},
		{"2026-12-01T08:00:00Z", ""},
		{"2026-11-21", ""}, // through the end of today
		{"2026-11-20", "is in the past"},
		{"2027-01-31", "is more than 30d from now"},
		{"4w", ""},
		{"5w", "is longer than 30d"},
		{"0d", "neither a date"},
	} {
		t.Run(tc.expires, func(t *testing.T) {
			got := check(t, "", "  cluster: eu\n  expires: "+tc.expires+"\n", nil)
			if tc.want == "" {
				expect(t, got)
			} else {
				expect(t, got, tc.want)
			}
		})
	}
}

func TestAddons(t *testing.T) {
	base := "  expires: 7d\n  cluster: eu\n  addons:\n"
	helm := func(repo string) string {
		return base + "    - name: cache\n      helm: {repository: " + repo + ", chart: redis, version: 1.0.0}\n"
	}
	t.Run("accepts a chart under an allowed repository", func(t *testing.T) {
		expect(t, check(t, "", helm("https://charts.acme.example/stable/extra"), nil))
	})
	t.Run("refuses a repository that only shares a prefix", func(t *testing.T) {
		expect(t, check(t, "", helm("https://charts.acme.example/stable-evil"), nil), "is not allowed by the policy")
	})
	t.Run("refuses an unpinned chart", func(t *testing.T) {
		expect(t, check(t, "", base+"    - name: cache\n      helm: {repository: https://charts.acme.example/stable, chart: redis}\n", nil), "pin the version")
	})
	t.Run("accepts a local directory and a link inside the repository", func(t *testing.T) {
		got := check(t, "", base+"    - name: config\n      kustomize: {path: addons/config}\n", map[string]string{"addons/config/kustomization.yaml": "resources: []\n"})
		expect(t, got)
	})
	t.Run("refuses local add-ons when the policy does", func(t *testing.T) {
		p := strings.Replace(platform, "    addons:\n", "    addons:\n      allowLocal: false\n", 1)
		got := check(t, p, base+"    - name: config\n      kustomize: {path: addons/config}\n", map[string]string{"addons/config/kustomization.yaml": "resources: []\n"})
		expect(t, got, "policy.addons.allowLocal is false")
	})
	t.Run("refuses a file where a directory belongs", func(t *testing.T) {
		got := check(t, "", base+"    - name: config\n      manifests: {path: addons/one.yaml}\n", map[string]string{"addons/one.yaml": "a: 1\n"})
		expect(t, got, `path "addons/one.yaml" is not a directory`)
	})
	t.Run("refuses two add-ons with one name", func(t *testing.T) {
		got := check(t, "", base+"    - name: config\n      manifests: {path: addons/x}\n    - name: config\n      manifests: {path: addons/x}\n", map[string]string{"addons/x/a.yaml": "a: 1\n"})
		expect(t, got, `add-on "config" appears twice`)
	})
}

func TestPlatformRules(t *testing.T) {
	tail := "  expires: 7d\n  cluster: eu\n"
	for _, tc := range []struct{ name, from, to, want string }{
		{"duplicate cluster", "name: us,", "name: eu,", `cluster "eu" is already defined at line 6`},
		{"both ways to reach a cluster", "{name: us, labels: {region: us, allot.dev/vcluster-host: \"true\"}, inCluster: true}", "{name: us, inCluster: true, kubeconfig: {file: /k}}", "sets both kubeconfig and inCluster"},
		{"kubeconfig from two places", "{name: us, labels: {region: us, allot.dev/vcluster-host: \"true\"}, inCluster: true}", "{name: us, kubeconfig: {file: /k, secretRef: {name: s}}}", "kubeconfig sets both file and secretRef"},
		{"relative kubeconfig file", "{name: eu, labels: {region: eu}, inCluster: true}", "{name: eu, labels: {region: eu}, kubeconfig: {file: kubeconfigs/eu.yaml}}", `cluster "eu": kubeconfig.file is a relative path ("kubeconfigs/eu.yaml")`},
		{"unknown default size", "defaultSize: small", "defaultSize: tiny", `default size "tiny" is not in spec.sizes`},
		{"bad max TTL", "maxTTL: 30d", "maxTTL: a month", "policy.maxTTL"},
		{"bad extension length", "maxTTL: 30d", "maxTTL: 30d\n    extensions: {maxDuration: a week}", "policy.extensions.maxDuration"},
		{"bad notice lead time", "  policy:\n", "  notices: {expiry: [48h, soon]}\n  policy:\n", "notices.expiry[1]"},
		{"plain http repository", "https://charts.acme.example/stable", "http://charts.acme.example", "must start with https:// or oci://"},
		{"idp without its connection", "  policy:\n", "  idp: {provider: ldap, url: ldaps://ldap.acme.example}\n  policy:\n", "idp provider ldap needs idp.baseDN"},
		{"credential from two places", "  policy:\n", "  idp: {provider: okta, url: https://acme.okta.com, token: {env: T, file: /t}}\n  policy:\n", "idp.token needs exactly one of env"},
		{"bad label", "region: eu}", "region: \"eu west\"}", `cluster label region="eu west"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := strings.Replace(platform, tc.from, tc.to, 1)
			if p == platform {
				t.Fatalf("replacement %q not found", tc.from)
			}
			got := check(t, p, tail, nil)
			found := false
			for _, pr := range got {
				if pr.File == "allot.yaml" && strings.Contains(pr.Message, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("want an allot.yaml problem containing %q, got %v", tc.want, got)
			}
		})
	}
}

func TestPlatformKubeconfigs(t *testing.T) {
	tail := "  expires: 7d\n  cluster: eu\n"
	for name, kubeconfig := range map[string]string{
		"an absolute file":                "{file: /etc/allot/eu.yaml, context: eu}",
		"a file under the home folder":    "{file: ~/.kube/config}",
		"kubectl's kubeconfig, a context": "{context: kind-eu}",
		"kubectl's kubeconfig as it is":   "{}",
		"a Secret in the home cluster":    "{secretRef: {name: eu}}",
	} {
		t.Run("accepts "+name, func(t *testing.T) {
			p := strings.Replace(platform, "{name: eu, labels: {region: eu}, inCluster: true}", "{name: eu, labels: {region: eu}, kubeconfig: "+kubeconfig+"}", 1)
			expect(t, check(t, p, tail, nil))
		})
	}
}

func TestTemplateParameters(t *testing.T) {
	tmpl := func(params string) map[string]string {
		return map[string]string{"templates/namespace/template.yaml": "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: namespace}\nspec:\n  parameters: " + params + "\n"}
	}
	tail := "  expires: 7d\n  cluster: eu\n"
	t.Run("reports a broken parameter schema on the template", func(t *testing.T) {
		expect(t, check(t, "", tail, tmpl("{type: object, properties: {a: {type: nonsense}}}")), "templates/namespace/template.yaml:5: parameters is not a valid JSON Schema")
	})
	t.Run("does not load remote references", func(t *testing.T) {
		expect(t, check(t, "", tail, tmpl("{$ref: \"https://example.com/x.json\"}")), "parameters is not a valid JSON Schema")
	})
	t.Run("checks required values", func(t *testing.T) {
		expect(t, check(t, "", tail, tmpl("{type: object, required: [image]}")), "environments/web/demo.yaml:5: values does not fit the namespace template: missing property 'image'")
	})
	t.Run("points at the offending value", func(t *testing.T) {
		got := check(t, "", tail+"  values:\n    replicas: 20\n", tmpl("{type: object, properties: {replicas: {type: integer, maximum: 5}}}"))
		expect(t, got, "environments/web/demo.yaml:12: values.replicas does not fit the namespace template")
	})
}

func TestSelectedLimitsPerRequestRules(t *testing.T) {
	root := t.TempDir()
	testfs.Write(t, root, map[string]string{
		"allot.yaml":                platform,
		"environments/web/old.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: old}\nspec: {type: namespace, owner: jane@acme.example, team: web, cluster: eu, expires: 2020-01-01}\n",
		"environments/web/new.yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: new}\nspec: {type: namespace, owner: jane@acme.example, team: web, cluster: eu, expires: 7d}\n",
	})
	repo, err := load.Load(root, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	onlyNew := func(ef *load.EnvironmentFile) bool { return ef.Environment.Metadata.Name == "new" }
	if got := Repository(repo, Options{Now: now, Selected: onlyNew}); len(got) != 0 {
		t.Errorf("with only new.yaml selected: %v", got)
	}
	if got := Repository(repo, Options{Now: now}); len(got) != 1 || got[0].Rule != schemas.RuleExpires {
		t.Errorf("with everything selected: %v, want old.yaml's expiry", got)
	}
}

// BenchmarkValidateRepository loads and validates a repository of many
// requests, the cost of one CI run or one reconcile pass's first step.
func BenchmarkValidateRepository(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("%d-requests", n), func(b *testing.B) {
			root := b.TempDir()
			p := strings.Replace(platform, "allowedOwnerDomains", "maxEnvironmentsPerOwner: 5\n    allowedOwnerDomains", 1)
			if err := os.WriteFile(filepath.Join(root, "allot.yaml"), []byte(p), 0o644); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				dir := filepath.Join(root, "environments", fmt.Sprintf("team-%d", i%20))
				_ = os.MkdirAll(dir, 0o755)
				body := fmt.Sprintf("apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: env-%d}\nspec:\n  type: namespace\n  owner: dev-%d@acme.example\n  team: team-%d\n  cluster: eu\n  expires: 14d\n  members: [a@acme.example, b@acme.example]\n  values: {allowDNSEgress: true}\n", i, i/3, i%20)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("env-%d.yaml", i)), []byte(body), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				repo, err := load.Load(root, load.Options{Builtin: environments.Templates()})
				if err != nil {
					b.Fatal(err)
				}
				if ps := Repository(repo, Options{Now: now}); len(ps) != 0 {
					b.Fatalf("problems: %v", ps[0])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/request")
		})
	}
}

func TestReservedNames(t *testing.T) {
	for _, name := range []string{"default", "allot-system", "allot-idp-state", "kube-tools"} {
		got := check(t, "", "  expires: 7d\n  cluster: eu\n", map[string]string{
			"environments/web/demo.yaml":         "",
			"environments/web/" + name + ".yaml": "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: " + name + "}\nspec: {type: namespace, owner: jane@acme.example, team: web, cluster: eu, expires: 7d}\n",
		})
		found := false
		for _, p := range got {
			found = found || strings.Contains(p.Message, `environment name "`+name+`" is reserved`)
		}
		if !found {
			t.Errorf("%s: want a reserved-name problem, got %v", name, got)
		}
	}
}

func TestDuplicateNameLandsOnTheChangedRequest(t *testing.T) {
	root := t.TempDir()
	twin := "apiVersion: allot.dev/v1alpha1\nkind: Environment\nmetadata: {name: twin}\nspec: {type: namespace, owner: jane@acme.example, team: %s, cluster: eu, expires: 7d}\n"
	testfs.Write(t, root, map[string]string{
		"allot.yaml":                  platform,
		"environments/web/twin.yaml":  fmt.Sprintf(twin, "web"),
		"environments/shop/twin.yaml": fmt.Sprintf(twin, "shop"),
	})
	repo, err := load.Load(root, load.Options{Builtin: environments.Templates()})
	if err != nil {
		t.Fatal(err)
	}
	for _, changed := range []string{"environments/web/twin.yaml", "environments/shop/twin.yaml"} {
		got := Repository(repo, Options{Now: now, Selected: func(ef *load.EnvironmentFile) bool { return ef.Doc.File == changed }})
		if len(got) != 1 || got[0].Rule != schemas.RuleUnique || got[0].File != changed {
			t.Errorf("with %s changed: %v, want the duplicate name reported on it", changed, got)
		}
	}
}
