package schemas

// APIVersion is the apiVersion of every kind in a requests repository.
const APIVersion = "allot.dev/v1alpha1"

// Kind names one of the three kinds a requests repository holds.
type Kind string

// The kinds of a requests repository.
const (
	KindPlatform            Kind = "Platform"
	KindEnvironment         Kind = "Environment"
	KindEnvironmentTemplate Kind = "EnvironmentTemplate"
)

// ObjectMeta is the metadata of a requests-repository object.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Environment is one request for a development environment.
type Environment struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   ObjectMeta      `json:"metadata"`
	Spec       EnvironmentSpec `json:"spec"`
}

// EnvironmentSpec is what a developer asks for.
type EnvironmentSpec struct {
	Type      string         `json:"type"`
	Owner     string         `json:"owner"`
	Team      string         `json:"team"`
	Members   []string       `json:"members,omitempty"`
	Size      string         `json:"size,omitempty"`
	Cluster   string         `json:"cluster,omitempty"`
	Placement *Placement     `json:"placement,omitempty"`
	Expires   string         `json:"expires,omitempty"`
	Values    map[string]any `json:"values,omitempty"`
	Addons    []Addon        `json:"addons,omitempty"`
	// Sleep is when the environment sleeps; it wins over its size's and
	// its template's.
	Sleep *Sleep `json:"sleep,omitempty"`
}

// Placement places an environment on every cluster whose labels match.
type Placement struct {
	ClusterSelector LabelSelector `json:"clusterSelector"`
}

// LabelSelector selects clusters by their labels, with the semantics of a
// Kubernetes label selector.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one expression of a LabelSelector.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// Addon is something installed into an environment besides its template:
// exactly one of a Helm chart, a Kustomize directory or plain manifests.
type Addon struct {
	Name      string           `json:"name"`
	Helm      *HelmSource      `json:"helm,omitempty"`
	Kustomize *KustomizeSource `json:"kustomize,omitempty"`
	Manifests *ManifestsSource `json:"manifests,omitempty"`
}

// LocalPath returns the folder of the requests repository an add-on comes
// from and the field that names it (helm, kustomize or manifests), or empty
// strings for a chart from a remote repository.
func (a Addon) LocalPath() (field, path string) {
	switch {
	case a.Helm != nil && a.Helm.Path != "":
		return "helm", a.Helm.Path
	case a.Kustomize != nil:
		return "kustomize", a.Kustomize.Path
	case a.Manifests != nil:
		return "manifests", a.Manifests.Path
	}
	return "", ""
}

// HelmSource is a Helm chart from a repository, an OCI registry, or a
// directory of the requests repository.
type HelmSource struct {
	Repository  string         `json:"repository,omitempty"`
	Chart       string         `json:"chart,omitempty"`
	Version     string         `json:"version,omitempty"`
	Path        string         `json:"path,omitempty"`
	ReleaseName string         `json:"releaseName,omitempty"`
	Values      map[string]any `json:"values,omitempty"`
	// AllotValues gives a template's chart the environment's context as
	// .Values.allot. Only charts written for allot ask for it: a chart
	// such as vcluster's refuses unknown top-level values, and stores its
	// values where the environment's people would end up. Add-ons never
	// get it.
	AllotValues bool `json:"allotValues,omitempty"`
}

// KustomizeSource is a kustomization directory of the requests repository.
type KustomizeSource struct {
	Path    string           `json:"path"`
	Patches []map[string]any `json:"patches,omitempty"`
}

// ManifestsSource is a directory of plain YAML manifests of the requests
// repository.
type ManifestsSource struct {
	Path string `json:"path"`
}

// Platform holds the platform team's settings.
type Platform struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   ObjectMeta   `json:"metadata"`
	Spec       PlatformSpec `json:"spec"`
}

// PlatformSpec is the body of allot.yaml.
type PlatformSpec struct {
	Clusters         []Cluster         `json:"clusters"`
	IdentityProvider *IdentityProvider `json:"idp,omitempty"`
	Sizes            map[string]Size   `json:"sizes"`
	DefaultSize      string            `json:"defaultSize,omitempty"`
	Policy           Policy            `json:"policy,omitempty"`
	Approvers        Approvers         `json:"approvers,omitempty"`
	Review           *Review           `json:"review,omitempty"`
	Drift            Drift             `json:"drift,omitempty"`
	// Notices says when allot warns before an environment expires.
	Notices *Notices `json:"notices,omitempty"`
	// Prices give the plan comment and the metrics an estimated monthly
	// cost; nil means no estimate.
	Prices *Prices `json:"prices,omitempty"`
}

// Prices are what reserved resources cost per month, for an estimate of
// what an environment costs. An environment is priced by what its size's
// quota reserves on each cluster it is placed on, plus a flat price for
// its type; the hours it sleeps are free.
type Prices struct {
	// Currency is an ISO 4217 code, such as USD or EUR; empty means USD.
	Currency string `json:"currency,omitempty"`
	// CPU is the price of one CPU reserved for a month.
	CPU float64 `json:"cpu,omitempty"`
	// MemoryGiB is the price of one GiB of memory reserved for a month.
	MemoryGiB float64 `json:"memoryGiB,omitempty"`
	// Types are flat prices per environment and month, by type (an ECS
	// stack's load balancer and tasks, say), per cluster it is placed on.
	Types map[string]float64 `json:"types,omitempty"`
}

// Drift says how allot treats changes made outside git to what it manages.
type Drift struct {
	// Mode is enforce (repair) or warn (report); empty means enforce.
	Mode string `json:"mode,omitempty"`
	// Interval is the period of the full pass, as a Go duration.
	Interval string `json:"interval,omitempty"`
	// Ignore lists fields another controller owns.
	Ignore []DriftIgnore `json:"ignore,omitempty"`
}

// DriftIgnore leaves fields alone on the objects its target matches.
type DriftIgnore struct {
	Paths  []string           `json:"paths"`
	Target *DriftIgnoreTarget `json:"target,omitempty"`
}

// DriftIgnoreTarget selects objects by regular expressions over their
// identity, and by labels.
type DriftIgnoreTarget struct {
	Group         string `json:"group,omitempty"`
	Version       string `json:"version,omitempty"`
	Kind          string `json:"kind,omitempty"`
	Name          string `json:"name,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	LabelSelector string `json:"labelSelector,omitempty"`
}

// SizeOf returns the size an environment asks for: its own, else the
// default size; ok is false when allot.yaml has no size of that name.
func (p *PlatformSpec) SizeOf(env *EnvironmentSpec) (name string, size Size, ok bool) {
	name = env.Size
	if name == "" {
		name = p.DefaultSize
	}
	size, ok = p.Sizes[name]
	return name, size, ok
}

// DriftMode returns the drift mode of a cluster: its own, else the
// platform's, else enforce.
func (p *PlatformSpec) DriftMode(c Cluster) string {
	switch {
	case c.Drift != "":
		return c.Drift
	case p.Drift.Mode != "":
		return p.Drift.Mode
	}
	return "enforce"
}

// Cluster is a Kubernetes cluster allot places environments on.
type Cluster struct {
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Kubeconfig *KubeconfigSource `json:"kubeconfig,omitempty"`
	InCluster  bool              `json:"inCluster,omitempty"`
	Drift      string            `json:"drift,omitempty"`
	Overrides  []Override        `json:"overrides,omitempty"`
}

// KubeconfigSource says where a cluster's kubeconfig is: a file on the
// machine allot runs on (see CheckKubeconfigFile), a Secret in the cluster
// allot runs in, or, with neither, the kubeconfig kubectl would use
// ($KUBECONFIG, else ~/.kube/config). Context picks one of its contexts;
// empty means its current context.
type KubeconfigSource struct {
	File      string     `json:"file,omitempty"`
	Context   string     `json:"context,omitempty"`
	SecretRef *SecretRef `json:"secretRef,omitempty"`
}

// SecretRef names a key of a Secret.
type SecretRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Key       string `json:"key,omitempty"`
}

// Override is a patch applied to every bundle rendered for one cluster.
type Override struct {
	Target *OverrideTarget `json:"target,omitempty"`
	Patch  string          `json:"patch"`
}

// OverrideTarget selects the objects an Override patches.
type OverrideTarget struct {
	Group         string `json:"group,omitempty"`
	Version       string `json:"version,omitempty"`
	Kind          string `json:"kind,omitempty"`
	Name          string `json:"name,omitempty"`
	LabelSelector string `json:"labelSelector,omitempty"`
}

// IdentityProvider is the identity provider that holds the environments' groups.
type IdentityProvider struct {
	Provider       string        `json:"provider"`
	GroupPrefix    string        `json:"groupPrefix,omitempty"`
	URL            string        `json:"url,omitempty"`
	BaseDN         string        `json:"baseDN,omitempty"`
	BindDN         string        `json:"bindDN,omitempty"`
	Realm          string        `json:"realm,omitempty"`
	TenantID       string        `json:"tenantID,omitempty"`
	ClientID       string        `json:"clientID,omitempty"`
	Token          *SecretSource `json:"token,omitempty"`
	Password       *SecretSource `json:"password,omitempty"`
	ClientSecret   *SecretSource `json:"clientSecret,omitempty"`
	MaxRemoveShare *float64      `json:"maxRemoveShare,omitempty"`
	UsersBaseDN    string        `json:"usersBaseDN,omitempty"`
	GroupsBaseDN   string        `json:"groupsBaseDN,omitempty"`
	StartTLS       bool          `json:"startTLS,omitempty"`
	StateCluster   string        `json:"stateCluster,omitempty"`
}

// SecretSource says where a credential comes from: an environment variable
// or a file. Credentials never live in git.
type SecretSource struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

// Size is a quota and limit-range preset.
type Size struct {
	Description string         `json:"description,omitempty"`
	Quota       map[string]any `json:"quota"`
	LimitRange  *LimitRange    `json:"limitRange,omitempty"`
	// Sleep is when environments of this size sleep, unless their
	// request says otherwise.
	Sleep *Sleep `json:"sleep,omitempty"`
}

// LimitRange holds the container defaults of a Size.
type LimitRange struct {
	Default        map[string]any `json:"default,omitempty"`
	DefaultRequest map[string]any `json:"defaultRequest,omitempty"`
	Max            map[string]any `json:"max,omitempty"`
}

// Policy holds the rules every request must follow.
type Policy struct {
	MaxTTL                  string      `json:"maxTTL,omitempty"`
	AllowedOwnerDomains     []string    `json:"allowedOwnerDomains,omitempty"`
	MaxEnvironmentsPerOwner int         `json:"maxEnvironmentsPerOwner,omitempty"`
	Addons                  AddonPolicy `json:"addons,omitempty"`
	// Bundles bounds what one environment renders for one cluster.
	Bundles BundlePolicy `json:"bundles,omitempty"`
	// Extensions bounds what /extend may do without review.
	Extensions *ExtensionPolicy `json:"extensions,omitempty"`
	// Budgets cap what each team's environments reserve together.
	Budgets Budgets `json:"budgets,omitempty"`
}

// Budgets are the teams' budgets: one per team, and a default for the
// teams not listed; with neither, a team has no budget.
type Budgets struct {
	Default *Budget           `json:"default,omitempty"`
	Teams   map[string]Budget `json:"teams,omitempty"`
}

// For returns the budget of a team: its own, else the default; nil when
// it has none.
func (b Budgets) For(team string) *Budget {
	if own, ok := b.Teams[team]; ok {
		return &own
	}
	return b.Default
}

// Budget caps what one team's environments reserve together.
type Budget struct {
	// Environments is the most environments the team may have; 0 means
	// no cap.
	Environments int `json:"environments,omitempty"`
	// Resources cap, per ResourceQuota resource name (requests.cpu,
	// requests.memory, pods, …), the sum over the team's environments and
	// the clusters each is placed on of their sizes' quotas. cpu and
	// memory are the same as requests.cpu and requests.memory.
	Resources map[string]any `json:"resources,omitempty"`
}

// BundlePolicy bounds what one environment renders for one cluster, so
// that one request cannot exhaust allot's memory; zero fields take the
// renderer's defaults (2,000 objects, 8Mi).
type BundlePolicy struct {
	// MaxObjects is the most objects in one bundle.
	MaxObjects int `json:"maxObjects,omitempty"`
	// MaxBytes is the most bytes of objects, as JSON, in one bundle: a
	// quantity such as 8Mi.
	MaxBytes string `json:"maxBytes,omitempty"`
}

// AddonPolicy says where add-ons may come from.
type AddonPolicy struct {
	AllowLocal                *bool    `json:"allowLocal,omitempty"`
	AllowedRepositories       []string `json:"allowedRepositories,omitempty"`
	AllowedClusterScopedKinds []string `json:"allowedClusterScopedKinds,omitempty"`
}

// LocalAllowed reports whether add-ons may come from directories of the
// requests repository; they may unless the policy says otherwise.
func (p AddonPolicy) LocalAllowed() bool { return p.AllowLocal == nil || *p.AllowLocal }

// Approvers are the GitHub logins and org/team slugs that may approve
// requests, by default and per team.
type Approvers struct {
	Default []string            `json:"default,omitempty"`
	Teams   map[string][]string `json:"teams,omitempty"`
}

// Review says how allot serve treats pull requests to the requests
// repository.
type Review struct {
	// AutoMerge merges approved, green pull requests; nil means true.
	AutoMerge *bool `json:"autoMerge,omitempty"`
	// MergeMethod is merge, squash or rebase; empty means merge.
	MergeMethod string `json:"mergeMethod,omitempty"`
	// PlanForks plans pull requests from forks against the clusters.
	PlanForks bool `json:"planForks,omitempty"`
}

// EnvironmentTemplate is an environment type.
type EnvironmentTemplate struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   ObjectMeta   `json:"metadata"`
	Spec       TemplateSpec `json:"spec"`
}

// TemplateSpec describes an environment type.
type TemplateSpec struct {
	Description         string         `json:"description,omitempty"`
	ClusterSelector     *LabelSelector `json:"clusterSelector,omitempty"`
	Parameters          map[string]any `json:"parameters,omitempty"`
	AllowedClusterRoles []string       `json:"allowedClusterRoles,omitempty"`
	ReadinessTimeout    string         `json:"readinessTimeout,omitempty"`
	Options             map[string]any `json:"options,omitempty"`
	ClusterScopedKinds  []string       `json:"clusterScopedKinds,omitempty"`
	// ClusterScopedObjects are single cluster-scoped objects this
	// template's own sources may create, as Kind.group/name with $(name)
	// and $(namespace) replaced, for example the ClusterRole
	// ClusterRole.rbac.authorization.k8s.io/vc-$(name)-v-$(namespace) that
	// the vcluster chart creates for node sync. A binding may bind a
	// ClusterRole listed here.
	ClusterScopedObjects []string `json:"clusterScopedObjects,omitempty"`
	Sources              []Source `json:"sources,omitempty"`
	Import               *Import  `json:"import,omitempty"`
	// ReservesQuota says whether an environment of this type reserves its
	// size's quota on each cluster it is placed on, which budgets and
	// prices count; nil means it does. A type whose workloads run
	// elsewhere, such as an ECS stack, sets it to false.
	ReservesQuota *bool `json:"reservesQuota,omitempty"`
	// Sleep is when environments of this type sleep, unless their request
	// or size says otherwise.
	Sleep *Sleep `json:"sleep,omitempty"`
}

// Source is one thing a template renders: a Helm chart, a Kustomize
// directory or a manifest folder relative to the template's directory, or
// another template's sources.
type Source struct {
	Name      string           `json:"name"`
	Template  string           `json:"template,omitempty"`
	Helm      *HelmSource      `json:"helm,omitempty"`
	Kustomize *KustomizeSource `json:"kustomize,omitempty"`
	Manifests *ManifestsSource `json:"manifests,omitempty"`
	// ValuesFromParameter merges this key of the environment's spec.values
	// over the chart's values.
	ValuesFromParameter string `json:"valuesFromParameter,omitempty"`
	// ParameterValues set single chart values from the environment's
	// spec.values, before ValuesFromParameter is merged.
	ParameterValues []ParameterValue `json:"parameterValues,omitempty"`
}

// ParameterValue sets the chart value at Path to the environment's
// spec.values[Parameter], looked up in Map when the chart wants another
// form (a Kubernetes minor version "1.33" as the image tag "v1.33.4").
// A parameter the request does not set leaves the chart's default.
type ParameterValue struct {
	Parameter string `json:"parameter"`
	// Path is a dot-separated path in the chart's values, for example
	// controlPlane.distro.k8s.image.tag.
	Path string            `json:"path"`
	Map  map[string]string `json:"map,omitempty"`
}

// Import makes an environment a cluster allot manages, as for a vcluster:
// where its kubeconfig is, how to reach it, and what to apply inside it.
type Import struct {
	SecretName         string   `json:"secretName,omitempty"`
	SecretKey          string   `json:"secretKey,omitempty"`
	Server             string   `json:"server,omitempty"`
	ClusterScopedKinds []string `json:"clusterScopedKinds,omitempty"`
	Sources            []Source `json:"sources,omitempty"`
}
