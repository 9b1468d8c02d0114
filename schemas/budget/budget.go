// Package budget sums what environments reserve and estimates what they
// cost. An environment reserves its size's quota on every cluster it is
// placed on (unless its type says it reserves none); a team's environments
// add up to its total, which policy.budgets caps; allot.yaml's prices turn
// a reservation into an estimated monthly cost, the hours an environment
// sleeps counted as free.
package budget

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// DefaultCurrency is the currency of prices that name none.
const DefaultCurrency = "USD"

// Reservation is what one environment reserves and costs.
type Reservation struct {
	Environment string
	Team        string
	Type        string
	// File is the request, relative to the repository root.
	File string
	// Clusters is how many clusters the environment is placed on.
	Clusters int
	// Resources are its size's quota summed over its clusters, with cpu,
	// memory and ephemeral-storage written as their requests.* names;
	// empty for a type that reserves no quota.
	Resources corev1.ResourceList
	// Awake is the share of the time the environment is awake: 1 without
	// a sleep schedule.
	Awake float64
	// Monthly is the estimated cost per month; zero without prices.
	Monthly float64
}

// Team is what one team's environments reserve and cost together.
type Team struct {
	Name string
	// Files are the team's requests, sorted.
	Files     []string
	Resources corev1.ResourceList
	Monthly   float64
	// Currency is the currency of Monthly; empty without prices.
	Currency string
	// Budget is the team's budget, nil when it has none.
	Budget *schemas.Budget
	// Caps are the budget's resources, parsed (Caps); nil without a
	// budget, or with one whose resources do not parse (validation says
	// why).
	Caps corev1.ResourceList
}

// NewTeam returns a team with nothing reserved yet, under budget b (nil
// for none), whose cost is in currency ("" without prices).
func NewTeam(name string, b *schemas.Budget, currency string) *Team {
	t := &Team{Name: name, Resources: corev1.ResourceList{}, Budget: b, Currency: currency}
	if b != nil {
		t.Caps, _ = Caps(b.Resources)
	}
	return t
}

// Summary is what some environments reserve and cost, and their teams'
// totals: what a pull request's plan comment shows.
type Summary struct {
	// Prices are allot.yaml's, nil without prices.
	Prices *schemas.Prices
	// Environments are the environments' reservations, sorted by name.
	Environments []Reservation
	// Teams are their teams' totals, sorted by name.
	Teams []*Team
}

// Summarize returns what the named environments of repo reserve and cost,
// with their teams' totals over the whole repository; nil when allot.yaml
// sets neither prices nor budgets, or when none of them is in repo.
func Summarize(repo *load.Repository, names []string, opts Options) *Summary {
	if repo.Platform == nil {
		return nil
	}
	spec := &repo.Platform.Platform.Spec
	if spec.Prices == nil && spec.Policy.Budgets.Default == nil && len(spec.Policy.Budgets.Teams) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	teams := Teams(repo, opts)
	s := &Summary{Prices: spec.Prices}
	seen := map[string]bool{}
	for _, ef := range repo.Environments {
		if !want[ef.Environment.Metadata.Name] {
			continue
		}
		r, err := Of(repo, ef, opts)
		if err != nil {
			continue
		}
		s.Environments = append(s.Environments, r)
		if t := teams[r.Team]; t != nil && !seen[r.Team] {
			seen[r.Team] = true
			s.Teams = append(s.Teams, t)
		}
	}
	if len(s.Environments) == 0 {
		return nil
	}
	slices.SortFunc(s.Environments, func(a, b Reservation) int { return strings.Compare(a.Environment, b.Environment) })
	slices.SortFunc(s.Teams, func(a, b *Team) int { return strings.Compare(a.Name, b.Name) })
	return s
}

// Options tunes how reservations are computed.
type Options struct {
	// Now, when set, makes the estimate count the hours an environment's
	// sleep schedule has it asleep, over the four weeks from Now, as free.
	Now time.Time
	// Awake, when set, returns the share of the time, from 0 to 1, an
	// environment is awake, instead of its schedule.
	Awake func(*load.EnvironmentFile) float64
	// shares remembers each schedule's awake share: most environments
	// share their size's or their template's.
	shares map[schemas.Sleep]float64
}

// awakeShare is the share of the four weeks from Now that sl keeps an
// environment awake; 1 for a schedule that does not parse (validation
// reports it).
func (o *Options) awakeShare(sl schemas.Sleep) float64 {
	if share, ok := o.shares[sl]; ok {
		return share
	}
	share := 1.0
	if sched, err := schemas.ParseSleep(sl); err == nil {
		share = sched.AwakeShare(o.Now)
	}
	if o.shares != nil {
		o.shares[sl] = share
	}
	return share
}

// Of returns what one environment of repo reserves. The error says what
// keeps it from being computed (an unknown size, a placement that does
// not parse); validation reports the same problems with their lines.
func Of(repo *load.Repository, ef *load.EnvironmentFile, opts Options) (Reservation, error) {
	if repo.Platform == nil {
		return Reservation{}, fmt.Errorf("no allot.yaml")
	}
	p, spec := &repo.Platform.Platform.Spec, &ef.Environment.Spec
	r := Reservation{Environment: ef.Environment.Metadata.Name, Team: spec.Team, Type: spec.Type, File: ef.Doc.File, Awake: 1, Resources: corev1.ResourceList{}}
	var tmpl *schemas.TemplateSpec
	if tf := repo.Templates[spec.Type]; tf != nil {
		tmpl = &tf.Template.Spec
	}
	clusters, err := schemas.Place(p, spec, tmpl)
	if err != nil {
		return r, err
	}
	r.Clusters = len(clusters)
	name, size, ok := p.SizeOf(spec)
	if !ok {
		return r, fmt.Errorf("unknown size %q", name)
	}
	switch {
	case opts.Awake != nil:
		r.Awake = min(max(opts.Awake(ef), 0), 1)
	case !opts.Now.IsZero():
		if sl := schemas.SleepFor(spec, &size, tmpl); sl != nil {
			r.Awake = opts.awakeShare(*sl)
		}
	}
	if tmpl == nil || tmpl.ReservesQuota == nil || *tmpl.ReservesQuota {
		quota, err := Quantities(size.Quota)
		if err != nil {
			return r, fmt.Errorf("size %s: %w", name, err)
		}
		for k, q := range quota {
			q.Mul(int64(r.Clusters))
			r.Resources[k] = q
		}
	}
	r.Monthly = monthly(p.Prices, r)
	return r, nil
}

// monthly is a reservation's estimated cost per month: reserved CPU and
// memory at their prices, plus the type's flat price per cluster, for the
// share of the time the environment is awake.
func monthly(prices *schemas.Prices, r Reservation) float64 {
	if prices == nil {
		return 0
	}
	cost := prices.Types[r.Type] * float64(r.Clusters)
	if cpu, ok := r.Resources[corev1.ResourceRequestsCPU]; ok {
		cost += prices.CPU * float64(cpu.MilliValue()) / 1000
	}
	if mem, ok := r.Resources[corev1.ResourceRequestsMemory]; ok {
		cost += prices.MemoryGiB * float64(mem.Value()) / (1 << 30)
	}
	return math.Round(cost*r.Awake*100) / 100
}

// Teams sums the reservations of every environment of repo by team.
// Requests whose reservation cannot be computed are left out.
func Teams(repo *load.Repository, opts Options) map[string]*Team {
	out := map[string]*Team{}
	if repo.Platform == nil {
		return out
	}
	spec := &repo.Platform.Platform.Spec
	budgets, currency := spec.Policy.Budgets, ""
	if opts.shares == nil {
		opts.shares = map[schemas.Sleep]float64{}
	}
	if spec.Prices != nil {
		currency = Currency(spec.Prices)
	}
	for _, ef := range repo.Environments {
		r, err := Of(repo, ef, opts)
		if err != nil {
			continue
		}
		t := out[r.Team]
		if t == nil {
			t = NewTeam(r.Team, budgets.For(r.Team), currency)
			out[r.Team] = t
		}
		t.Add(r)
	}
	for _, t := range out {
		slices.Sort(t.Files)
	}
	return out
}

// Add counts one more reservation in the team's total.
func (t *Team) Add(r Reservation) {
	t.Files = append(t.Files, r.File)
	for k, q := range r.Resources {
		sum := t.Resources[k]
		sum.Add(q)
		t.Resources[k] = sum
	}
	t.Monthly = math.Round((t.Monthly+r.Monthly)*100) / 100
}

// Quantities parses a size's quota into what it reserves: cpu, memory
// and ephemeral-storage become requests.cpu, requests.memory and
// requests.ephemeral-storage, as a ResourceQuota counts them, and the
// requests of a resource are bounded by its limits (a container's requests
// never exceed its limits). When two names bound the same thing, the lower
// wins.
func Quantities(quota map[string]any) (corev1.ResourceList, error) {
	out, err := Caps(quota)
	if err != nil {
		return nil, err
	}
	for _, r := range []string{"cpu", "memory", "ephemeral-storage"} {
		if q, ok := out[corev1.ResourceName("limits."+r)]; ok {
			lower(out, corev1.ResourceName("requests."+r), q)
		}
	}
	return out, nil
}

// Caps parses a budget's resources, keyed by their Canonical names.
func Caps(m map[string]any) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for _, k := range sortedKeys(m) {
		q, err := resource.ParseQuantity(fmt.Sprint(m[k]))
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a resource quantity; write it like 500m, 2, 4Gi", k, fmt.Sprint(m[k]))
		}
		lower(out, corev1.ResourceName(Canonical(k)), q)
	}
	return out, nil
}

// lower sets m[k] to q unless m holds a lower quantity for k already.
func lower(m corev1.ResourceList, k corev1.ResourceName, q resource.Quantity) {
	if have, ok := m[k]; ok && have.Cmp(q) <= 0 {
		return
	}
	m[k] = q
}

// Canonical is the name a ResourceQuota counts a resource under: cpu,
// memory and ephemeral-storage are requests.cpu, requests.memory and
// requests.ephemeral-storage.
func Canonical(name string) string {
	switch name {
	case "cpu", "memory", "ephemeral-storage":
		return "requests." + name
	}
	return name
}

// Over says which resources adding r to t would take past the team's
// budget, as "requests.cpu: 18 of 16", in the order of the budget's
// resources; nil when within budget or without one. An environment over
// the count is reported as "environments: 6 of 5".
func (t *Team) Over(r Reservation) []string {
	if t.Budget == nil {
		return nil
	}
	var over []string
	if n := t.Budget.Environments; n > 0 && len(t.Files)+1 > n {
		over = append(over, fmt.Sprintf("environments: %d of %d", len(t.Files)+1, n))
	}
	for _, k := range sortedKeys(t.Caps) {
		sum := t.Resources[k]
		sum.Add(r.Resources[k])
		if limit := t.Caps[k]; sum.Cmp(limit) > 0 {
			over = append(over, fmt.Sprintf("%s: %s of %s", k, sum.String(), limit.String()))
		}
	}
	return over
}

// Describe writes resources as "requests.cpu 2, requests.memory 4Gi,
// pods 20, limits.cpu 4", in the order of Names.
func Describe(rl corev1.ResourceList) string {
	names := Names(rl)
	parts := make([]string, len(names))
	for i, k := range names {
		q := rl[k]
		parts[i] = string(k) + " " + q.String()
	}
	return strings.Join(parts, ", ")
}

// Names are the resources of rl in the order allot shows them: the
// requests first, the limits last, each part in name order.
func Names(rl corev1.ResourceList) []corev1.ResourceName {
	keys := sortedKeys(rl)
	rank := func(k corev1.ResourceName) int {
		switch {
		case strings.HasPrefix(string(k), "requests."):
			return 0
		case strings.HasPrefix(string(k), "limits."):
			return 2
		}
		return 1
	}
	slices.SortStableFunc(keys, func(a, b corev1.ResourceName) int { return rank(a) - rank(b) })
	return keys
}

// Money writes an amount as "USD 58.40".
func Money(prices *schemas.Prices, amount float64) string {
	return fmt.Sprintf("%s %.2f", Currency(prices), amount)
}

// Currency is the currency prices are in.
func Currency(prices *schemas.Prices) string {
	if prices != nil && prices.Currency != "" {
		return prices.Currency
	}
	return DefaultCurrency
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
