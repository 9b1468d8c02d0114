package validate

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// platform checks allot.yaml beyond its schema.
func (c *checker) platform(pf *load.PlatformFile) {
	p, doc := &pf.Platform.Spec, pf.Doc
	c.dnsLabel(doc.Pos("metadata", "name"), "platform name", pf.Platform.Metadata.Name)
	seen := map[string]int{}
	for i, cl := range p.Clusters {
		at := func(path ...string) schemas.Position {
			return doc.Pos(append([]string{"spec", "clusters", strconv.Itoa(i)}, path...)...)
		}
		c.dnsLabel(at("name"), "cluster name", cl.Name)
		if j, dup := seen[cl.Name]; dup {
			c.errorf(at("name"), schemas.RuleUnique, "cluster %q is already defined at line %d; cluster names must be unique", cl.Name, doc.Pos("spec", "clusters", strconv.Itoa(j), "name").Line)
		}
		seen[cl.Name] = i
		for k, v := range cl.Labels {
			for _, msg := range validation.IsQualifiedName(k) {
				c.errorf(at("labels", k), schemas.RulePlatform, "cluster label key %q: %s", k, msg)
			}
			for _, msg := range validation.IsValidLabelValue(v) {
				c.errorf(at("labels", k), schemas.RulePlatform, "cluster label %s=%q: %s", k, v, msg)
			}
		}
		switch {
		case cl.Kubeconfig == nil && !cl.InCluster:
			c.errorf(at(), schemas.RulePlatform, "cluster %q says nothing about how to reach it; set kubeconfig (file or secretRef) or inCluster: true", cl.Name)
		case cl.Kubeconfig != nil && cl.InCluster:
			c.errorf(at("inCluster"), schemas.RulePlatform, "cluster %q sets both kubeconfig and inCluster; keep one", cl.Name)
		case cl.Kubeconfig != nil && cl.Kubeconfig.File != "" && cl.Kubeconfig.SecretRef != nil:
			c.errorf(at("kubeconfig"), schemas.RulePlatform, "cluster %q: kubeconfig sets both file and secretRef; keep one (or neither, for the kubeconfig kubectl uses: $KUBECONFIG, else ~/.kube/config)", cl.Name)
		case cl.Kubeconfig != nil && cl.Kubeconfig.File != "":
			if err := schemas.CheckKubeconfigFile(cl.Kubeconfig.File); err != nil {
				c.errorf(at("kubeconfig", "file"), schemas.RulePlatform, "cluster %q: %v", cl.Name, err)
			}
		}
		for j, o := range cl.Overrides {
			var v any
			if err := yaml.Unmarshal([]byte(o.Patch), &v); err != nil {
				c.errorf(at("overrides", strconv.Itoa(j), "patch"), schemas.RulePlatform, "cluster %q override %d: patch is not valid YAML: %v", cl.Name, j, err)
				continue
			}
			switch v.(type) {
			case map[string]any, []any:
			default:
				c.errorf(at("overrides", strconv.Itoa(j), "patch"), schemas.RulePlatform, "cluster %q override %d: patch must be a strategic merge patch (a mapping) or a JSON 6902 patch (a list)", cl.Name, j)
			}
		}
	}
	c.sizes(pf)
	if p.DefaultSize != "" {
		if _, ok := p.Sizes[p.DefaultSize]; !ok {
			c.errorf(doc.Pos("spec", "defaultSize"), schemas.RuleSize, "default size %q is not in spec.sizes (%s)", p.DefaultSize, strings.Join(sortedKeys(p.Sizes), ", "))
		}
	}
	c.policy(pf)
	c.budgets(pf)
	c.idp(pf)
	if d := p.Drift.Interval; d != "" {
		if _, err := time.ParseDuration(d); err != nil {
			c.errorf(doc.Pos("spec", "drift", "interval"), schemas.RulePlatform, "drift.interval %q is not a duration; write it like 10m or 1h", d)
		}
	}
	for i, ig := range p.Drift.Ignore {
		if ig.Target != nil && ig.Target.LabelSelector != "" {
			if _, err := labels.Parse(ig.Target.LabelSelector); err != nil {
				c.errorf(doc.Pos("spec", "drift", "ignore", strconv.Itoa(i), "target", "labelSelector"), schemas.RulePlatform, "drift.ignore[%d].target.labelSelector: %v", i, err)
			}
		}
	}
	for team := range p.Approvers.Teams {
		c.dnsLabel(doc.Pos("spec", "approvers", "teams", team), "team name", team)
	}
}

func (c *checker) sizes(pf *load.PlatformFile) {
	doc := pf.Doc
	for _, name := range sortedKeys(pf.Platform.Spec.Sizes) {
		s := pf.Platform.Spec.Sizes[name]
		c.dnsLabel(doc.Pos("spec", "sizes", name), "size name", name)
		c.resources(doc, s.Quota, quotaResource, "spec", "sizes", name, "quota")
		c.sleep(doc, s.Sleep, "spec", "sizes", name, "sleep")
		if s.LimitRange != nil {
			at := []string{"spec", "sizes", name, "limitRange"}
			def := c.resources(doc, s.LimitRange.Default, containerResource, append(at, "default")...)
			req := c.resources(doc, s.LimitRange.DefaultRequest, containerResource, append(at, "defaultRequest")...)
			most := c.resources(doc, s.LimitRange.Max, containerResource, append(at, "max")...)
			c.ordered(doc, req, def, "defaultRequest", "default", at...)
			c.ordered(doc, def, most, "default", "max", at...)
			c.ordered(doc, req, most, "defaultRequest", "max", at...)
		}
	}
}

func (c *checker) policy(pf *load.PlatformFile) {
	pol, doc := pf.Platform.Spec.Policy, pf.Doc
	if pol.MaxTTL != "" {
		if _, err := schemas.ParseTTL(pol.MaxTTL); err != nil {
			c.errorf(doc.Pos("spec", "policy", "maxTTL"), schemas.RulePlatform, "policy.maxTTL: %v", err)
		}
	}
	if ext := pol.Extensions; ext != nil && ext.MaxDuration != "" {
		if _, err := schemas.ParseTTL(ext.MaxDuration); err != nil {
			c.errorf(doc.Pos("spec", "policy", "extensions", "maxDuration"), schemas.RulePlatform, "policy.extensions.maxDuration: %v", err)
		}
	}
	if n := pf.Platform.Spec.Notices; n != nil {
		for i, s := range n.Expiry {
			if _, err := schemas.ParseLeadTime(s); err != nil {
				c.errorf(doc.Pos("spec", "notices", "expiry", strconv.Itoa(i)), schemas.RulePlatform, "notices.expiry[%d]: %v", i, err)
			}
		}
	}
	for i, d := range pol.AllowedOwnerDomains {
		if errs := validation.IsDNS1123Subdomain(d); len(errs) > 0 {
			c.errorf(doc.Pos("spec", "policy", "allowedOwnerDomains", strconv.Itoa(i)), schemas.RulePlatform, "policy.allowedOwnerDomains: %q is not a lower-case domain name", d)
		}
	}
	for i, r := range pol.Addons.AllowedRepositories {
		if !strings.HasPrefix(r, "https://") && !strings.HasPrefix(r, "oci://") {
			c.errorf(doc.Pos("spec", "policy", "addons", "allowedRepositories", strconv.Itoa(i)), schemas.RulePlatform, "policy.addons.allowedRepositories: %q must start with https:// or oci://", r)
		}
	}
}

// idpNeeds lists, per provider, the connection fields it cannot work without.
var idpNeeds = map[string][]string{
	"scim":     {"url", "token"},
	"ldap":     {"url", "baseDN", "bindDN", "password"},
	"keycloak": {"url", "realm", "clientID", "clientSecret"},
	"okta":     {"url", "token"},
	"entra":    {"tenantID", "clientID", "clientSecret"},
}

func (c *checker) idp(pf *load.PlatformFile) {
	idp, doc := pf.Platform.Spec.IdentityProvider, pf.Doc
	if idp == nil {
		return
	}
	set := map[string]bool{
		"url": idp.URL != "", "baseDN": idp.BaseDN != "", "bindDN": idp.BindDN != "", "realm": idp.Realm != "",
		"tenantID": idp.TenantID != "", "clientID": idp.ClientID != "",
		"token": idp.Token != nil, "password": idp.Password != nil, "clientSecret": idp.ClientSecret != nil,
	}
	for _, f := range idpNeeds[idp.Provider] {
		if !set[f] {
			c.errorf(doc.Pos("spec", "idp"), schemas.RulePlatform, "idp provider %s needs idp.%s", idp.Provider, f)
		}
	}
	for name, s := range map[string]*schemas.SecretSource{"token": idp.Token, "password": idp.Password, "clientSecret": idp.ClientSecret} {
		if s != nil && (s.Env == "") == (s.File == "") {
			c.errorf(doc.Pos("spec", "idp", name), schemas.RulePlatform, "idp.%s needs exactly one of env (an environment variable) or file; credentials never live in git", name)
		}
	}
	if idp.GroupPrefix != "" {
		if errs := validation.IsDNS1123Label(strings.TrimSuffix(idp.GroupPrefix, "-")); len(errs) > 0 {
			c.errorf(doc.Pos("spec", "idp", "groupPrefix"), schemas.RulePlatform, "idp.groupPrefix %q must be lower-case letters, digits and '-'", idp.GroupPrefix)
		}
	}
}

// dnsLabel reports a name that is not a DNS-1123 label.
func (c *checker) dnsLabel(pos schemas.Position, what, name string) bool {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		c.errorf(pos, schemas.RuleName, "%s %q is not a valid name: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", what, name)
		return false
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
