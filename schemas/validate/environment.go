package validate

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// environment runs the per-request rules.
func (c *checker) environment(ef *load.EnvironmentFile) {
	env, doc := &ef.Environment, ef.Doc
	if c.dnsLabel(doc.Pos("metadata", "name"), "environment name", env.Metadata.Name) {
		if reserved(env.Metadata.Name) {
			c.errorf(doc.Pos("metadata", "name"), schemas.RuleName, "environment name %q is reserved: the environment's namespace takes its name, and default, allot-system and kube-* belong to the cluster; pick another", env.Metadata.Name)
		}
		base := path.Base(doc.File)
		if want := env.Metadata.Name + path.Ext(base); base != want {
			c.errorf(doc.Pos("metadata", "name"), schemas.RuleName, "environment %q is in %s; name the file %s so that people find it", env.Metadata.Name, base, want)
		}
	}
	c.dnsLabel(doc.Pos("spec", "team"), "team", env.Spec.Team)
	tmpl := c.templateFor(ef)
	if tmpl == nil {
		c.errorf(doc.Pos("spec", "type"), schemas.RuleType, "unknown environment type %q; use one of %s, or add templates/%s/template.yaml", env.Spec.Type, c.knownTypes(), env.Spec.Type)
	}
	c.people(ef)
	c.expiry(ef)
	c.sleep(doc, env.Spec.Sleep, "spec", "sleep")
	c.addons(ef)
	if tmpl != nil {
		c.values(ef, tmpl)
	}
	if pf := c.repo.Platform; pf != nil {
		c.size(ef, pf)
		c.placement(ef, pf, tmpl)
	}
}

// reserved reports names an environment's namespace must not take.
func reserved(name string) bool {
	// allot-idp-state shares allot-system with the inventory records, which
	// are named after environments.
	return name == "default" || name == "allot-system" || name == "allot-idp-state" || strings.HasPrefix(name, "kube-")
}

func (c *checker) size(ef *load.EnvironmentFile, pf *load.PlatformFile) {
	sizes := pf.Platform.Spec.Sizes
	s := ef.Environment.Spec.Size
	switch {
	case s == "" && pf.Platform.Spec.DefaultSize == "":
		c.errorf(ef.Doc.Pos("spec"), schemas.RuleSize, "spec.size is not set and allot.yaml has no defaultSize; set it to one of %s", strings.Join(sortedKeys(sizes), ", "))
	case s == "":
	case sizes[s].Quota == nil:
		c.errorf(ef.Doc.Pos("spec", "size"), schemas.RuleSize, "unknown size %q; use one of %s (from allot.yaml)", s, strings.Join(sortedKeys(sizes), ", "))
	}
}

// placement checks that the request resolves to at least one cluster that its
// type may run on, with schemas.Place, the rule rendering uses too.
func (c *checker) placement(ef *load.EnvironmentFile, pf *load.PlatformFile, tmpl *load.TemplateFile) {
	spec, doc := &ef.Environment.Spec, ef.Doc
	clusters := pf.Platform.Spec.Clusters
	var tspec *schemas.TemplateSpec
	var typeSel string
	if tmpl != nil {
		tspec = &tmpl.Template.Spec
		if sel := tspec.ClusterSelector; sel != nil {
			if s, err := sel.Selector(); err == nil {
				typeSel = s.String()
			}
		}
	}
	switch {
	case spec.Cluster != "" && spec.Placement != nil:
		c.errorf(doc.Pos("spec", "placement"), schemas.RuleCluster, "set either spec.cluster or spec.placement, not both")
		return
	case spec.Cluster == "" && spec.Placement == nil:
		c.errorf(doc.Pos("spec"), schemas.RuleCluster, "set spec.cluster to one of %s, or spec.placement to choose clusters by label", clusterNames(clusters))
		return
	case spec.Cluster != "" && !slices.ContainsFunc(clusters, func(cl schemas.Cluster) bool { return cl.Name == spec.Cluster }):
		c.errorf(doc.Pos("spec", "cluster"), schemas.RuleCluster, "unknown cluster %q; use one of %s (from allot.yaml)", spec.Cluster, clusterNames(clusters))
		return
	}
	placed, err := schemas.Place(&pf.Platform.Spec, spec, tspec)
	switch {
	case err != nil:
		c.errorf(doc.Pos("spec", "placement", "clusterSelector"), schemas.RuleCluster, "placement.clusterSelector: %v", err)
	case len(placed) > 0:
	case spec.Cluster != "":
		c.errorf(doc.Pos("spec", "cluster"), schemas.RuleCluster, "cluster %q cannot run %s environments: the template needs clusters matching %s", spec.Cluster, spec.Type, typeSel)
	default:
		sel, _ := spec.Placement.ClusterSelector.Selector()
		msg := fmt.Sprintf("placement %s matches no cluster", sel)
		if typeSel != "" {
			msg += fmt.Sprintf(" that can run %s environments (%s)", spec.Type, typeSel)
		}
		c.errorf(doc.Pos("spec", "placement", "clusterSelector"), schemas.RuleCluster, "%s; check the cluster labels in allot.yaml", msg)
	}
}

func clusterNames(cs []schemas.Cluster) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// people checks the owner's and members' e-mail addresses and domains.
func (c *checker) people(ef *load.EnvironmentFile) {
	var domains []string
	if pf := c.repo.Platform; pf != nil {
		domains = pf.Platform.Spec.Policy.AllowedOwnerDomains
	}
	check := func(pos schemas.Position, what, addr string) {
		a, err := mail.ParseAddress(addr)
		if err != nil || a.Address != addr || a.Name != "" {
			c.errorf(pos, schemas.RuleOwner, "%s %q is not an e-mail address; write it as name@example.com", what, addr)
			return
		}
		if len(domains) > 0 && !domainAllowed(addr, domains) {
			c.errorf(pos, schemas.RuleOwner, "%s %s is not in an allowed domain (%s); use a company address", what, addr, strings.Join(domains, ", "))
		}
	}
	check(ef.Doc.Pos("spec", "owner"), "owner", ef.Environment.Spec.Owner)
	for i, m := range ef.Environment.Spec.Members {
		check(ef.Doc.Pos("spec", "members", strconv.Itoa(i)), "member", m)
	}
}

func domainAllowed(addr string, domains []string) bool {
	domain := strings.ToLower(addr[strings.LastIndex(addr, "@")+1:])
	for _, d := range domains {
		d = strings.ToLower(d)
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

// expiry checks spec.expires against now and the policy's maximum TTL.
func (c *checker) expiry(ef *load.EnvironmentFile) {
	var maxTTLText string
	if pf := c.repo.Platform; pf != nil {
		maxTTLText = pf.Platform.Spec.Policy.MaxTTL
	}
	maxTTL, _ := schemas.ParseTTL(maxTTLText)
	pos := ef.Doc.Pos("spec", "expires")
	raw := ef.Environment.Spec.Expires
	if raw == "" {
		if maxTTL > 0 {
			c.errorf(ef.Doc.Pos("spec"), schemas.RuleExpires, "spec.expires is not set, but the policy lets environments live at most %s; set it to a date or a duration such as 14d", maxTTLText)
		}
		return
	}
	e, err := schemas.ParseExpiry(raw)
	if err != nil {
		c.errorf(pos, schemas.RuleExpires, "expires: %v", err)
		return
	}
	now := c.opts.Now
	switch {
	case !e.At.IsZero() && !e.At.After(now):
		c.errorf(pos, schemas.RuleExpires, "expires %s is in the past; pick a later date or delete the request", raw)
	case !e.At.IsZero() && maxTTL > 0 && e.At.Sub(now) > maxTTL:
		c.errorf(pos, schemas.RuleExpires, "expires %s is more than %s from now, the most the policy allows; pick an earlier date", raw, maxTTLText)
	case e.TTL > 0 && maxTTL > 0 && e.TTL > maxTTL:
		c.errorf(pos, schemas.RuleExpires, "expires %s is longer than %s, the most the policy allows; pick a shorter time", raw, maxTTLText)
	}
}

// addons checks each add-on's source against the policy and its paths
// against the repository.
func (c *checker) addons(ef *load.EnvironmentFile) {
	var pol schemas.AddonPolicy
	if pf := c.repo.Platform; pf != nil {
		pol = pf.Platform.Spec.Policy.Addons
	}
	names := map[string]bool{}
	for i, a := range ef.Environment.Spec.Addons {
		at := func(p ...string) schemas.Position {
			return ef.Doc.Pos(append([]string{"spec", "addons", strconv.Itoa(i)}, p...)...)
		}
		c.dnsLabel(at("name"), "add-on name", a.Name)
		if names[a.Name] {
			c.errorf(at("name"), schemas.RuleAddon, "add-on %q appears twice; give each add-on its own name", a.Name)
		}
		names[a.Name] = true
		n := 0
		for _, set := range []bool{a.Helm != nil, a.Kustomize != nil, a.Manifests != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			c.errorf(at(), schemas.RuleAddon, "add-on %q needs exactly one of helm, kustomize or manifests", a.Name)
			continue
		}
		switch {
		case a.Helm != nil && a.Helm.Path != "":
			if a.Helm.Repository != "" || a.Helm.Chart != "" {
				c.errorf(at("helm"), schemas.RuleAddon, "add-on %q: set either helm.path (a chart in this repository) or helm.repository and helm.chart, not both", a.Name)
				continue
			}
		case a.Helm != nil:
			if a.Helm.Repository == "" || a.Helm.Chart == "" || a.Helm.Version == "" {
				c.errorf(at("helm"), schemas.RuleAddon, "add-on %q: a remote chart needs helm.repository, helm.chart and helm.version (pin the version)", a.Name)
				continue
			}
			if !repositoryAllowed(a.Helm.Repository, pol.AllowedRepositories) {
				allowed := "none"
				if len(pol.AllowedRepositories) > 0 {
					allowed = strings.Join(pol.AllowedRepositories, ", ")
				}
				c.errorf(at("helm", "repository"), schemas.RuleAddon, "add-on %q: chart repository %s is not allowed by the policy (allowed: %s); ask a platform engineer to add it to policy.addons.allowedRepositories", a.Name, a.Helm.Repository, allowed)
			}
		}
		field, local := a.LocalPath()
		if local == "" {
			continue
		}
		if !pol.LocalAllowed() {
			c.errorf(at(field, "path"), schemas.RuleAddon, "add-on %q: add-ons from this repository are not allowed by the policy (policy.addons.allowLocal is false)", a.Name)
			continue
		}
		if err := insideRepository(c.repo.Root, local); err != nil {
			c.errorf(at(field, "path"), schemas.RulePath, "add-on %q: path %q %v", a.Name, local, err)
		}
	}
}

func repositoryAllowed(repo string, allowed []string) bool {
	for _, a := range allowed {
		if repo == a || strings.HasPrefix(repo, strings.TrimSuffix(a, "/")+"/") {
			return true
		}
	}
	return false
}

// Errors insideRepository returns, phrased to follow the path.
var (
	errAbsolute = errors.New("is absolute; write it relative to the repository root")
	errEscapes  = errors.New("leaves the repository; write it relative to the repository root without '..'")
	errLinksOut = errors.New("is or goes through a symbolic link that points outside the repository")
	errMissing  = errors.New("does not exist in the repository")
	errNotADir  = errors.New("is not a directory")
)

// insideRepository checks that rel names a directory inside root, also after
// following symbolic links.
func insideRepository(root, rel string) error {
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") || strings.Contains(rel, `\`) {
		return errAbsolute
	}
	for _, part := range strings.Split(rel, "/") {
		if part == ".." {
			return errEscapes
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	full := filepath.Join(root, filepath.FromSlash(path.Clean(rel)))
	resolved, err := filepath.EvalSymlinks(full)
	if err != nil {
		if _, lerr := os.Lstat(full); lerr == nil {
			return errLinksOut // a dangling link
		}
		return errMissing
	}
	if r, err := filepath.Rel(realRoot, resolved); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return errLinksOut
	}
	info, err := os.Stat(resolved)
	if err != nil {
		return errMissing
	}
	if !info.IsDir() {
		return errNotADir
	}
	return nil
}

// values checks spec.values against the template's parameters.
func (c *checker) values(ef *load.EnvironmentFile, tmpl *load.TemplateFile) {
	raw := rawValues(ef.Doc)
	ps := c.params[tmpl.Template.Metadata.Name]
	if ps == nil {
		if raw != nil && tmpl.Template.Spec.Parameters == nil {
			c.errorf(ef.Doc.Pos("spec", "values"), schemas.RuleValues, "the %s template takes no values; remove spec.values", tmpl.Template.Metadata.Name)
		}
		return
	}
	if raw == nil {
		raw = map[string]any{}
	}
	err := ps.schema.Validate(raw)
	if err == nil {
		return
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		c.errorf(ef.Doc.Pos("spec", "values"), schemas.RuleValues, "values: %v", err)
		return
	}
	for _, fe := range flatten(verr, message.NewPrinter(language.English)) {
		pos := ef.Doc.Pos(append([]string{"spec", "values"}, fe.path...)...)
		c.errorf(pos, schemas.RuleValues, "values%s does not fit the %s template: %s", describeSub(fe.path), tmpl.Template.Metadata.Name, fe.msg)
	}
}

func rawValues(doc *load.Document) any {
	m, _ := doc.Value.(map[string]any)
	spec, _ := m["spec"].(map[string]any)
	return spec["values"]
}

type leafError struct {
	path []string
	msg  string
}

func flatten(e *jsonschema.ValidationError, p *message.Printer) []leafError {
	if k, ok := e.ErrorKind.(*kind.PropertyNames); ok {
		// The causes only say the name failed a sub-schema ("'not'
		// failed"); the key itself is what the reader needs.
		return []leafError{{path: e.InstanceLocation, msg: fmt.Sprintf("the key %q is not allowed; remove it (the template's parameters description says which keys it reserves)", k.Property)}}
	}
	if len(e.Causes) == 0 {
		return []leafError{{path: e.InstanceLocation, msg: e.ErrorKind.LocalizedString(p)}}
	}
	var out []leafError
	for _, c := range e.Causes {
		out = append(out, flatten(c, p)...)
	}
	return out
}

func describeSub(p []string) string {
	if len(p) == 0 {
		return ""
	}
	d := schemas.Describe(p)
	if strings.HasPrefix(d, "[") {
		return d
	}
	return "." + d
}
