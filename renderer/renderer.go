package renderer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// DefaultGroupPrefix starts the name of every IdP group allot creates when
// allot.yaml sets none.
const DefaultGroupPrefix = "allot-"

// Renderer renders the requests of one loaded repository. Its fields are its
// dependencies; fill them in main and in tests alike.
type Renderer struct {
	// Repo is the loaded requests repository.
	Repo *load.Repository
	// RepoFS reads the repository's files. Use os.Root's FS so that a
	// symbolic link cannot lead outside the repository.
	RepoFS fs.FS
	// Builtin holds the built-in templates (environments.Templates()).
	Builtin fs.FS
	// Helm renders charts and fetches remote ones.
	Helm *sources.Helm
	// Concurrency bounds RenderAll; zero means DefaultConcurrency.
	Concurrency int
}

// DefaultConcurrency is how many targets RenderAll renders at once.
const DefaultConcurrency = 4

// Target is one environment on one cluster.
type Target struct {
	Env     *load.EnvironmentFile
	Cluster schemas.Cluster
}

// Targets places every loaded request on its clusters, in file order then
// allot.yaml order. A request that places nowhere is an error.
func (r *Renderer) Targets() ([]Target, []error) {
	var out []Target
	var errs []error
	if r.Repo.Platform == nil {
		return nil, []error{errors.New("the repository has no valid allot.yaml")}
	}
	for _, ef := range r.Repo.Environments {
		var tmpl *schemas.TemplateSpec
		if tf := r.Repo.Templates[ef.Environment.Spec.Type]; tf != nil {
			tmpl = &tf.Template.Spec
		}
		cs, err := schemas.Place(&r.Repo.Platform.Platform.Spec, &ef.Environment.Spec, tmpl)
		if err == nil && len(cs) == 0 {
			err = errors.New("places on no cluster; run allot validate")
		}
		if err != nil {
			errs = append(errs, &Error{File: ef.Doc.File, Err: err})
			continue
		}
		for _, c := range cs {
			out = append(out, Target{Env: ef, Cluster: c})
		}
	}
	return out, errs
}

// Result is the outcome of rendering one Target.
type Result struct {
	Target Target
	Bundle *Bundle
	Err    error
}

// RenderAll renders the targets concurrently and returns the results in the
// order of targets, whatever order the work finished in.
func (r *Renderer) RenderAll(ctx context.Context, targets []Target) []Result {
	results := make([]Result, len(targets))
	n := cmp.Or(max(r.Concurrency, 0), DefaultConcurrency)
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			b, err := r.Render(ctx, t)
			results[i] = Result{Target: t, Bundle: b, Err: err}
		}()
	}
	wg.Wait()
	return results
}

// Render renders one environment for one cluster.
func (r *Renderer) Render(ctx context.Context, t Target) (*Bundle, error) {
	ef := t.Env
	env := &ef.Environment
	fail := func(source string, err error) error {
		var re *Error
		if errors.As(err, &re) {
			return err
		}
		return &Error{File: ef.Doc.File, Source: source, Err: err}
	}
	tf := r.Repo.Templates[env.Spec.Type]
	if tf == nil {
		return nil, fail("", fmt.Errorf("unknown environment type %q", env.Spec.Type))
	}
	if r.Repo.Platform == nil {
		return nil, fail("", errors.New("the repository has no valid allot.yaml"))
	}
	platform := &r.Repo.Platform.Platform.Spec
	b := &Bundle{
		Environment: env.Metadata.Name, File: ef.Doc.File, Type: env.Spec.Type,
		Cluster: t.Cluster.Name, Namespace: env.Metadata.Name, Expires: env.Spec.Expires,
		building: map[Phase][]*unstructured.Unstructured{},
	}
	b.Sleep = sleepOf(platform, env, &tf.Template.Spec)
	group := groupFor(platform, env)
	if group != nil {
		b.Groups = []Group{*group}
	}
	actx, err := environmentContext(platform, env, &tf.Template.Spec, t.Cluster, group)
	if err != nil {
		return nil, fail("", err)
	}
	budget, err := bundleBudget(platform.Policy.Bundles)
	if err != nil {
		return nil, fail("", err)
	}
	a := &assembly{file: ef.Doc.File, bundle: b, seen: map[string]string{}, budget: budget}

	// The template's own sources are trusted with what the template allows.
	tmplRules := rules{
		namespace: b.Namespace, allowedRoles: tf.Template.Spec.AllowedClusterRoles,
		clusterScoped: set(tf.Template.Spec.ClusterScopedKinds),
		objects:       objectSet(tf.Template.Spec.ClusterScopedObjects, b.Environment, b.Namespace),
	}
	if err := r.renderTemplate(ctx, a, tf, actx, env, tmplRules, 0); err != nil {
		return nil, err
	}
	// Add-ons get only the environment's namespace, and the cluster-scoped
	// kinds the platform's policy names.
	addonRules := rules{
		namespace: b.Namespace, allowedRoles: tf.Template.Spec.AllowedClusterRoles,
		clusterScoped: set(platform.Policy.Addons.AllowedClusterScopedKinds), addon: true,
	}
	for _, addon := range env.Spec.Addons {
		label := fmt.Sprintf("add-on %q", addon.Name)
		objs, err := r.renderAddon(ctx, addon, b.Namespace, a.budget)
		if err == nil {
			err = a.add(label, objs, addonRules)
		}
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				re = &Error{File: ef.Doc.File, Source: label, Err: err}
			}
			re.Addon = addon.Name
			re.Err = raiseHint(re.Err)
			return nil, re
		}
	}
	if err := applyOverrides(b, t.Cluster); err != nil {
		return nil, fail(fmt.Sprintf("cluster %s overrides", t.Cluster.Name), err)
	}
	if imp := tf.Template.Spec.Import; imp != nil {
		if b.Import, err = r.renderImport(ctx, ef, tf, imp, actx, b, t.Cluster); err != nil {
			return nil, err
		}
	}
	if err := b.seal(); err != nil {
		return nil, fail("", err)
	}
	b.Warnings = a.budget.Warnings()
	return b, nil
}

// maxTemplateDepth bounds templates that render other templates.
const maxTemplateDepth = 4

// renderTemplate renders a template's sources into the assembly.
func (r *Renderer) renderTemplate(ctx context.Context, a *assembly, tf *load.TemplateFile, actx map[string]any, env *schemas.Environment, rl rules, depth int) error {
	if depth > maxTemplateDepth {
		return &Error{File: a.file, Source: "template " + tf.Template.Metadata.Name, Err: fmt.Errorf("templates render each other more than %d deep; look for a cycle", maxTemplateDepth)}
	}
	return r.renderSources(ctx, a, tf, tf.Template.Spec.Sources, actx, env, rl, depth)
}

func (r *Renderer) renderSources(ctx context.Context, a *assembly, tf *load.TemplateFile, srcs []schemas.Source, actx map[string]any, env *schemas.Environment, rl rules, depth int) error {
	for _, src := range srcs {
		label := fmt.Sprintf("template %s, source %q", tf.Template.Metadata.Name, src.Name)
		if src.Template != "" {
			inner := r.Repo.Templates[src.Template]
			if inner == nil {
				return &Error{File: a.file, Source: label, Err: fmt.Errorf("template %q does not exist", src.Template)}
			}
			if err := r.renderTemplate(ctx, a, inner, actx, env, rl, depth+1); err != nil {
				return err
			}
			continue
		}
		objs, err := r.renderTemplateSource(ctx, tf, src, actx, env, a.budget)
		if err != nil {
			return &Error{File: a.file, Source: label, Err: raiseHint(err)}
		}
		if err := a.add(label, objs, rl); err != nil {
			return err
		}
	}
	return nil
}

// templateFS returns the filesystem and folder a template's paths are
// relative to.
func (r *Renderer) templateFS(tf *load.TemplateFile) (fs.FS, string) {
	name := tf.Template.Metadata.Name
	if tf.Builtin {
		return r.Builtin, name
	}
	return r.RepoFS, path.Join(load.TemplatesDir, name)
}

func (r *Renderer) renderTemplateSource(ctx context.Context, tf *load.TemplateFile, src schemas.Source, actx map[string]any, env *schemas.Environment, budget *sources.Budget) ([]sources.Object, error) {
	fsys, dir := r.templateFS(tf)
	name, _ := actx["name"].(string)
	namespace, _ := actx["namespace"].(string)
	switch {
	case src.Helm != nil:
		values, _ := substitute(deepCopy(src.Helm.Values), name, namespace).(map[string]any)
		if values == nil {
			values = map[string]any{}
		}
		for _, pv := range src.ParameterValues {
			if err := setParameterValue(values, pv, env.Spec.Values); err != nil {
				return nil, err
			}
		}
		if src.ValuesFromParameter != "" {
			if extra, ok := env.Spec.Values[src.ValuesFromParameter].(map[string]any); ok {
				values = deepMerge(values, extra)
			}
		}
		if src.Helm.AllotValues {
			values["allot"] = actx
		}
		chart := sources.Chart{Repository: src.Helm.Repository, Name: src.Helm.Chart, Version: src.Helm.Version}
		if src.Helm.Path != "" {
			chart = sources.Chart{FS: fsys, Path: path.Join(dir, src.Helm.Path)}
		}
		release := src.Helm.ReleaseName
		if release == "" {
			release = name
		}
		return r.templateHelm(tf).Render(ctx, chart, release, namespace, values, budget)
	case src.Kustomize != nil:
		return sources.Kustomize(fsys, path.Join(dir, src.Kustomize.Path), budget)
	case src.Manifests != nil:
		return sources.Manifests(fsys, path.Join(dir, src.Manifests.Path), budget)
	}
	return nil, errors.New("names no helm, kustomize, manifests or template")
}

// templateHelm returns the Helm that renders a template's charts. Built-in
// templates ship inside allot and are trusted, so their charts render in
// this process, without the cost of a sandbox's child process; a
// repository's templates may come from a pull request and are sandboxed
// like add-ons.
func (r *Renderer) templateHelm(tf *load.TemplateFile) *sources.Helm {
	if !tf.Builtin || r.Helm.Sandbox == nil {
		return r.Helm
	}
	trusted := *r.Helm
	trusted.Sandbox = nil
	return &trusted
}

func (r *Renderer) renderAddon(ctx context.Context, addon schemas.Addon, namespace string, budget *sources.Budget) ([]sources.Object, error) {
	switch {
	case addon.Helm != nil:
		chart := sources.Chart{Repository: addon.Helm.Repository, Name: addon.Helm.Chart, Version: addon.Helm.Version}
		if addon.Helm.Path != "" {
			chart = sources.Chart{FS: r.RepoFS, Path: path.Clean(addon.Helm.Path)}
		}
		release := addon.Helm.ReleaseName
		if release == "" {
			release = addon.Name
		}
		values, _ := deepCopy(addon.Helm.Values).(map[string]any)
		return r.Helm.Render(ctx, chart, release, namespace, values, budget)
	case addon.Kustomize != nil:
		objs, err := sources.Kustomize(r.RepoFS, path.Clean(addon.Kustomize.Path), budget)
		if err != nil {
			return nil, err
		}
		return objs, patchAll(objs, addon.Kustomize.Patches)
	case addon.Manifests != nil:
		return sources.Manifests(r.RepoFS, path.Clean(addon.Manifests.Path), budget)
	}
	return nil, errors.New("names no helm, kustomize or manifests")
}

// renderImport renders the bundle applied inside an imported cluster.
func (r *Renderer) renderImport(ctx context.Context, ef *load.EnvironmentFile, tf *load.TemplateFile, imp *schemas.Import, actx map[string]any, host *Bundle, cluster schemas.Cluster) (*Import, error) {
	name, ns := host.Environment, host.Namespace
	out := &Import{
		SecretNamespace: ns,
		SecretName:      substituteString(cmp.Or(imp.SecretName, "vc-$(name)"), name, ns),
		SecretKey:       cmp.Or(imp.SecretKey, "config"),
		Server:          substituteString(cmp.Or(imp.Server, "https://$(name).$(namespace):443"), name, ns),
		Bundle: &Bundle{
			Environment: name, File: ef.Doc.File, Type: host.Type,
			Cluster: cluster.Name + "/" + name, Namespace: "default",
			building: map[Phase][]*unstructured.Unstructured{}, Groups: host.Groups,
		},
	}
	budget, err := bundleBudget(r.Repo.Platform.Platform.Spec.Policy.Bundles)
	if err != nil {
		return nil, &Error{File: ef.Doc.File, Err: err}
	}
	a := &assembly{file: ef.Doc.File, bundle: out.Bundle, seen: map[string]string{}, budget: budget}
	// Inside the imported cluster the environment owns everything; only the
	// cluster-scoped kinds the template names are rendered.
	rl := rules{namespace: "default", inside: true, clusterScoped: set(imp.ClusterScopedKinds)}
	if err := r.renderSources(ctx, a, tf, imp.Sources, actx, &ef.Environment, rl, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// groupFor returns the IdP group of an environment, or nil when the
// platform uses locally managed users (provider none).
func groupFor(p *schemas.PlatformSpec, env *schemas.Environment) *Group {
	if p.IdentityProvider == nil || p.IdentityProvider.Provider == "none" {
		return nil
	}
	prefix := p.IdentityProvider.GroupPrefix
	if prefix == "" {
		prefix = DefaultGroupPrefix
	}
	return &Group{Name: prefix + env.Metadata.Name, Members: users(env)}
}

// users returns the owner and members, lower-cased, sorted and unique.
func users(env *schemas.Environment) []string {
	seen := map[string]bool{}
	var out []string
	for _, u := range append([]string{env.Spec.Owner}, env.Spec.Members...) {
		u = strings.ToLower(strings.TrimSpace(u))
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

// environmentContext is what template charts that set allotValues see as
// .Values.allot.
func environmentContext(p *schemas.PlatformSpec, env *schemas.Environment, tmpl *schemas.TemplateSpec, c schemas.Cluster, group *Group) (map[string]any, error) {
	sizeName, size, ok := p.SizeOf(&env.Spec)
	if !ok {
		return nil, fmt.Errorf("unknown size %q", sizeName)
	}
	sizeMap, err := toMap(size)
	if err != nil {
		return nil, err
	}
	sizeMap["name"] = sizeName
	members := make([]any, 0, len(env.Spec.Members))
	for _, m := range env.Spec.Members {
		members = append(members, m)
	}
	var userList []any
	for _, u := range users(env) {
		userList = append(userList, u)
	}
	provider, groupName := "none", ""
	if p.IdentityProvider != nil {
		provider = p.IdentityProvider.Provider
	}
	if group != nil {
		groupName = group.Name
	}
	labels := map[string]any{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	return map[string]any{
		"name":      env.Metadata.Name,
		"namespace": env.Metadata.Name,
		"type":      env.Spec.Type,
		"team":      env.Spec.Team,
		"owner":     env.Spec.Owner,
		"members":   members,
		"users":     userList,
		"expires":   env.Spec.Expires,
		"size":      sizeMap,
		"cluster":   map[string]any{"name": c.Name, "labels": labels},
		"idp":       provider,
		"group":     groupName,
		"values":    orEmpty(deepCopy(env.Spec.Values)),
		"options":   orEmpty(deepCopy(tmpl.Options)),
	}, nil
}

func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(data, &m)
}

func orEmpty(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// objectSet returns the set of Kind.group/name entries, with $(name) and
// $(namespace) replaced.
func objectSet(items []string, name, namespace string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, i := range items {
		m[substituteString(i, name, namespace)] = true
	}
	return m
}

func set(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, i := range items {
		m[i] = true
	}
	return m
}

// substitute replaces $(name) and $(namespace) in every string of v.
func substitute(v any, name, namespace string) any {
	switch t := v.(type) {
	case string:
		return substituteString(t, name, namespace)
	case map[string]any:
		for k, x := range t {
			t[k] = substitute(x, name, namespace)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = substitute(x, name, namespace)
		}
		return t
	}
	return v
}

func substituteString(s, name, namespace string) string {
	return strings.NewReplacer("$(name)", name, "$(namespace)", namespace).Replace(s)
}

// deepCopy copies JSON-like data so that rendering never changes the
// loaded repository.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	}
	return v
}

// deepMerge merges over into base: maps merge key by key, anything else in
// over replaces what base has.
func deepMerge(base, over map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = deepMerge(bm, om)
				continue
			}
		}
		out[k] = deepCopy(v)
	}
	return out
}

// sleepOf is the environment's sleep schedule: its own, its size's, or its
// template's.
func sleepOf(p *schemas.PlatformSpec, env *schemas.Environment, tmpl *schemas.TemplateSpec) *schemas.Sleep {
	var size *schemas.Size
	if _, s, ok := p.SizeOf(&env.Spec); ok {
		size = &s
	}
	return schemas.SleepFor(&env.Spec, size, tmpl)
}
