package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/allot-dev/allot/renderer"
)

// DefaultMaxRemoveShare is the share of the memberships allot added that
// one pass may remove before it stops and asks for an override.
const DefaultMaxRemoveShare = 0.5

// Errors SyncGroups reports, wrapped, next to the backends' own.
var (
	// ErrMassRemoval means the pass would remove more than the allowed
	// share of the memberships allot added; its removals and deletions
	// were held back.
	ErrMassRemoval = errors.New("the pass would remove more than the allowed share of the IdP memberships allot added")
	// ErrForeignGroup means a group allot wants exists without allot's
	// marker: someone else made it, so allot leaves it alone.
	ErrForeignGroup = errors.New("the group exists in the identity provider without allot's marker, so allot leaves it alone")
)

// Syncer makes an identity provider hold the environments' groups; it
// implements the reconciler's GroupSyncer over any Provider. It only changes
// groups that carry allot's marker and whose names start with Prefix, only
// removes members it recorded adding, and holds back a pass that would
// remove too many of them.
type Syncer struct {
	Provider Provider
	// Prefix starts the name of every group allot manages (allot.yaml's
	// idp.groupPrefix, renderer.DefaultGroupPrefix by default).
	Prefix string
	// State keeps, between passes, which members allot added to which
	// group.
	State State
	// MaxRemoveShare is the share of the recorded memberships one pass may
	// remove, counting the members of groups it deletes; zero means
	// DefaultMaxRemoveShare.
	MaxRemoveShare float64
	// AllowMassRemoval lifts that guard.
	AllowMassRemoval bool
	// Retry retries every call to Provider that fails with a rate limit or
	// a transient failure, unless the Provider retried it already and
	// marked it ErrGaveUp (the HTTP backends retry each request).
	Retry Retry
	Log   *slog.Logger
}

// SyncGroups makes the identity provider hold want, every group allot
// should hold: it creates missing groups with allot's marker, adds missing
// members, removes the members it added that are no longer wanted, and
// deletes its groups that are no longer wanted. A foreign group or an
// unknown user is reported and the rest goes on; the returned error joins
// every problem. The record of added members is written before members are
// added, and trimmed only after they are removed, so a pass that stops
// anywhere leaves nothing the next pass does not know about.
func (s *Syncer) SyncGroups(ctx context.Context, want []renderer.Group) error {
	if s.Provider == nil || s.State == nil {
		return errors.New("idp syncer: Provider and State must be set")
	}
	record, err := s.State.Load(ctx)
	if err != nil {
		return fmt.Errorf("load the record of IdP members allot added: %w", err)
	}
	existing, err := Retrying(ctx, s.Retry, func(ctx context.Context) ([]Group, error) {
		return s.Provider.ListGroups(ctx, s.Prefix)
	})
	if err != nil {
		return fmt.Errorf("list the IdP groups named %s*: %w", s.Prefix, err)
	}

	p := s.plan(ctx, want, existing, newRecord(record))
	if p.held {
		s.log().Warn("IdP removals held", "removals", p.removals, "recorded", p.total)
	}
	// Write ahead: a member is recorded before it is added.
	if err := s.save(ctx, p.record, record); err != nil {
		return err
	}
	saved := p.record.clone()
	for _, gp := range p.groups {
		p.errs = append(p.errs, s.apply(ctx, gp, p.record)...)
	}
	for _, g := range p.deletes {
		if err := s.Retry.Do(ctx, func(ctx context.Context) error { return s.Provider.DeleteGroup(ctx, g) }); err != nil && !errors.Is(err, ErrNotFound) {
			p.errs = append(p.errs, fmt.Errorf("delete group %s: %w", g.Name, err))
			continue
		}
		s.log().Info("deleted IdP group", "group", g.Name)
		delete(p.record, g.Name)
	}
	if err := s.save(ctx, p.record, saved.plain()); err != nil {
		p.errs = append(p.errs, err)
	}
	return errors.Join(p.errs...)
}

// groupPlan is what a pass does to one wanted group.
type groupPlan struct {
	name string
	// group is nil when the group must be created.
	group  *Group
	add    []User
	remove []User
}

// syncPlan is what a pass does: per group, the groups to delete, the
// record as it will be once the additions are made, and the problems met.
type syncPlan struct {
	groups  []*groupPlan
	deletes []Group
	record  memberRecord
	errs    []error
	// removals and total count memberships for the mass-removal guard.
	removals, total int
	held            bool
}

// plan works out the pass from what is wanted, what exists and what allot
// recorded. It resolves e-mails to users, so it calls the provider too.
func (s *Syncer) plan(ctx context.Context, want []renderer.Group, existing []Group, rec memberRecord) *syncPlan {
	p := &syncPlan{record: rec}
	p.total = rec.count()
	byName := map[string]Group{}
	for _, g := range existing {
		if strings.HasPrefix(g.Name, s.Prefix) {
			byName[g.Name] = g
		}
	}
	wanted := mergeWanted(want)
	users := userCache{}
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		if !strings.HasPrefix(name, s.Prefix) {
			p.errs = append(p.errs, fmt.Errorf("group %s: its name does not start with the prefix %q allot manages, so allot leaves it alone; set idp.groupPrefix in allot.yaml to match", name, s.Prefix))
			continue
		}
		g, exists := byName[name]
		if exists && !g.Managed {
			p.errs = append(p.errs, fmt.Errorf("group %s: %w; rename or delete it there for allot to create its own", name, ErrForeignGroup))
			continue
		}
		gp := &groupPlan{name: name}
		// Members are matched by the e-mail the backend lists, else by the
		// ID of the user an e-mail resolves to.
		present := map[string]bool{}
		byEmail := map[string]User{}
		if exists {
			gp.group = &g
			for _, m := range g.Members {
				present[m.ID] = true
				if m.Email != "" {
					byEmail[strings.ToLower(m.Email)] = m
				}
			}
		}
		for _, email := range slices.Sorted(maps.Keys(wanted[name])) {
			if _, ok := byEmail[email]; ok {
				continue
			}
			u, err := s.findUser(ctx, users, email)
			if err != nil {
				p.errs = append(p.errs, fmt.Errorf("group %s: member %s: %w", name, email, err))
				continue
			}
			if !present[u.ID] {
				present[u.ID] = true // two e-mails of one user add it once
				gp.add = append(gp.add, u)
				p.record.add(name, email)
			}
		}
		for _, email := range rec.members(name) {
			if wanted[name][email] {
				continue
			}
			if m, ok := byEmail[email]; ok {
				m.Email = email
				gp.remove = append(gp.remove, m)
				p.removals++
				continue
			}
			u, err := s.findUser(ctx, users, email)
			switch {
			case errors.Is(err, ErrNotFound):
				p.record.drop(name, email) // the user is gone, and so its membership
			case err != nil:
				p.errs = append(p.errs, fmt.Errorf("group %s: cannot tell whether to remove %s: %w", name, email, err))
			case present[u.ID]:
				gp.remove = append(gp.remove, u)
				p.removals++
			default:
				p.record.drop(name, email) // someone removed it already
			}
		}
		p.groups = append(p.groups, gp)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		g := byName[name]
		if _, ok := wanted[name]; ok || !g.Managed {
			continue
		}
		p.deletes = append(p.deletes, g)
		p.removals += len(g.Members)
		// Members someone else added go with the group too.
		p.total += max(0, len(g.Members)-len(rec[name]))
	}
	// Records of groups that are gone and not wanted are only forgotten.
	for name := range p.record {
		if _, ok := wanted[name]; !ok {
			if _, ok := byName[name]; !ok {
				delete(p.record, name)
			}
		}
	}
	if p.total > 0 && float64(p.removals) > s.maxRemoveShare()*float64(p.total) {
		err := fmt.Errorf("%w: %d of %d memberships (more than %.0f%%); its removals and group deletions are held; run with --allow-mass-delete if that is intended", ErrMassRemoval, p.removals, p.total, s.maxRemoveShare()*100)
		if !s.AllowMassRemoval {
			p.errs = append(p.errs, err)
			p.held = true
			p.deletes = nil
			for _, gp := range p.groups {
				gp.remove = nil
			}
		}
	}
	return p
}

// apply makes one group as planned, keeping rec in step.
func (s *Syncer) apply(ctx context.Context, gp *groupPlan, rec memberRecord) []error {
	if gp.group == nil {
		g, err := s.create(ctx, gp.name)
		if err != nil {
			return []error{err}
		}
		gp.group = &g
	}
	var errs []error
	if len(gp.add) > 0 {
		err := s.Retry.Do(ctx, func(ctx context.Context) error { return s.Provider.AddMembers(ctx, *gp.group, gp.add) })
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s: add %s: %w", gp.name, emails(gp.add), err))
		} else {
			s.log().Info("added IdP group members", "group", gp.name, "members", emails(gp.add))
		}
	}
	if len(gp.remove) > 0 {
		err := s.Retry.Do(ctx, func(ctx context.Context) error { return s.Provider.RemoveMembers(ctx, *gp.group, gp.remove) })
		if err != nil {
			errs = append(errs, fmt.Errorf("group %s: remove %s: %w", gp.name, emails(gp.remove), err))
		} else {
			s.log().Info("removed IdP group members", "group", gp.name, "members", emails(gp.remove))
			for _, u := range gp.remove {
				rec.drop(gp.name, u.Email)
			}
		}
	}
	return errs
}

// create creates a group. A conflict means it exists already, perhaps
// because an earlier attempt's answer was lost: allot adopts it when it
// carries the marker.
func (s *Syncer) create(ctx context.Context, name string) (Group, error) {
	g, err := Retrying(ctx, s.Retry, func(ctx context.Context) (Group, error) { return s.Provider.CreateGroup(ctx, name) })
	if err == nil {
		s.log().Info("created IdP group", "group", name)
		return g, nil
	}
	if !errors.Is(err, ErrConflict) {
		return Group{}, fmt.Errorf("create group %s: %w", name, err)
	}
	groups, lerr := Retrying(ctx, s.Retry, func(ctx context.Context) ([]Group, error) { return s.Provider.ListGroups(ctx, name) })
	if lerr != nil {
		return Group{}, fmt.Errorf("create group %s: %w; then listing it: %w", name, err, lerr)
	}
	for _, g := range groups {
		if g.Name != name {
			continue
		}
		if !g.Managed {
			return Group{}, fmt.Errorf("group %s: %w; rename or delete it there for allot to create its own", name, ErrForeignGroup)
		}
		return g, nil
	}
	return Group{}, fmt.Errorf("create group %s: %w", name, err)
}

// userCache remembers the users a pass looked up; the same owner is in
// many groups.
type userCache map[string]userResult

type userResult struct {
	user User
	err  error
}

func (s *Syncer) findUser(ctx context.Context, cache userCache, email string) (User, error) {
	if r, ok := cache[email]; ok {
		return r.user, r.err
	}
	u, err := Retrying(ctx, s.Retry, func(ctx context.Context) (User, error) { return s.Provider.FindUser(ctx, email) })
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("no user with this e-mail in the identity provider; create the user there or correct the request: %w", err)
	}
	u.Email = email
	cache[email] = userResult{u, err}
	return u, err
}

func (s *Syncer) save(ctx context.Context, rec memberRecord, before map[string][]string) error {
	now := rec.plain()
	if equalRecords(now, before) {
		return nil
	}
	if err := s.State.Save(ctx, now); err != nil {
		return fmt.Errorf("save the record of IdP members allot added: %w", err)
	}
	return nil
}

func (s *Syncer) maxRemoveShare() float64 {
	if s.MaxRemoveShare > 0 {
		return s.MaxRemoveShare
	}
	return DefaultMaxRemoveShare
}

func (s *Syncer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// mergeWanted maps group names to their members' lower-case e-mails.
func mergeWanted(want []renderer.Group) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, g := range want {
		if out[g.Name] == nil {
			out[g.Name] = map[string]bool{}
		}
		for _, m := range g.Members {
			if m = strings.ToLower(strings.TrimSpace(m)); m != "" {
				out[g.Name][m] = true
			}
		}
	}
	return out
}

func emails(users []User) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = u.Email
	}
	return strings.Join(out, ",")
}

// memberRecord is the working form of the record: group name to the set of
// member e-mails allot added.
type memberRecord map[string]map[string]bool

func newRecord(m map[string][]string) memberRecord {
	r := memberRecord{}
	for g, ms := range m {
		for _, e := range ms {
			r.add(g, strings.ToLower(e))
		}
	}
	return r
}

func (r memberRecord) add(group, email string) {
	if r[group] == nil {
		r[group] = map[string]bool{}
	}
	r[group][email] = true
}

func (r memberRecord) drop(group, email string) {
	delete(r[group], email)
	if len(r[group]) == 0 {
		delete(r, group)
	}
}

func (r memberRecord) members(group string) []string {
	return slices.Sorted(maps.Keys(r[group]))
}

func (r memberRecord) count() int {
	n := 0
	for _, ms := range r {
		n += len(ms)
	}
	return n
}

func (r memberRecord) clone() memberRecord { return newRecord(r.plain()) }

// plain is the record as State keeps it: sorted, without empty groups.
func (r memberRecord) plain() map[string][]string {
	out := map[string][]string{}
	for g := range r {
		if ms := r.members(g); len(ms) > 0 {
			out[g] = ms
		}
	}
	return out
}

func equalRecords(a, b map[string][]string) bool {
	norm := func(m map[string][]string) map[string][]string {
		out := map[string][]string{}
		for k, v := range m {
			if len(v) > 0 {
				out[k] = slices.Sorted(slices.Values(v))
			}
		}
		return out
	}
	return maps.EqualFunc(norm(a), norm(b), slices.Equal)
}

// State knows how to keep, between passes, which members allot added to
// which group: group name to member e-mails. It is how allot tells the
// members it may remove from those someone added by hand.
type State interface {
	Load(ctx context.Context) (map[string][]string, error)
	Save(ctx context.Context, record map[string][]string) error
}

var (
	_ State = (*MemoryState)(nil)
	_ State = (*ConfigMapState)(nil)
)

// MemoryState keeps the record in memory, for tests and for runs that
// start from nothing each time.
type MemoryState struct {
	mu     sync.Mutex
	record map[string][]string
}

// Load returns a copy of the record.
func (m *MemoryState) Load(context.Context) (map[string][]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return copyRecord(m.record), nil
}

// Save replaces the record.
func (m *MemoryState) Save(_ context.Context, record map[string][]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.record = copyRecord(record)
	return nil
}

func copyRecord(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// Where ConfigMapState keeps the record by default.
const (
	StateNamespace = "allot-system"
	StateName      = "allot-idp-state"
	// stateKey is the data key holding the record as JSON.
	stateKey = "members.json"
	// StateLabel marks the ConfigMap.
	StateLabel = "allot.dev/idp-state"
)

// ConfigMapState keeps the record in a ConfigMap, allot-system/allot-idp-state
// by default, on the cluster allot runs in. It saves with the
// resourceVersion it loaded, so two writers cannot silently overwrite each
// other: the second gets a conflict and its next pass starts again.
type ConfigMapState struct {
	Client client.Client
	// Namespace and Name locate the ConfigMap; empty means StateNamespace
	// and StateName.
	Namespace, Name string

	mu sync.Mutex
	// version is the resourceVersion last loaded or saved; empty when the
	// ConfigMap did not exist.
	version string
}

// Load reads the record; a missing ConfigMap is an empty record.
func (c *ConfigMapState) Load(ctx context.Context) (map[string][]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cm corev1.ConfigMap
	err := c.Client.Get(ctx, client.ObjectKey{Namespace: c.namespace(), Name: c.name()}, &cm)
	if apierrors.IsNotFound(err) {
		c.version = ""
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ConfigMap %s/%s: %w", c.namespace(), c.name(), err)
	}
	record := map[string][]string{}
	if raw := cm.Data[stateKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &record); err != nil {
			return nil, fmt.Errorf("ConfigMap %s/%s key %s is not a JSON object of group names to e-mail lists: %w; fix or delete it (allot then removes no member until it adds them again)", c.namespace(), c.name(), stateKey, err)
		}
	}
	c.version = cm.ResourceVersion
	return record, nil
}

// Save writes the record, creating the ConfigMap (and its namespace) when
// Load found none.
func (c *ConfigMapState) Save(ctx context.Context, record map[string][]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, err := json.MarshalIndent(record, "", "  ")
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: c.namespace(), Name: c.name(), ResourceVersion: c.version,
			Labels: map[string]string{StateLabel: "true"},
		},
		Data: map[string]string{stateKey: string(raw)},
	}
	if c.version != "" {
		err = c.Client.Update(ctx, cm)
	} else {
		err = c.Client.Create(ctx, cm)
		if apierrors.IsNotFound(err) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace()}}
			if nerr := c.Client.Create(ctx, ns); nerr != nil && !apierrors.IsAlreadyExists(nerr) {
				return fmt.Errorf("create namespace %s: %w", c.namespace(), nerr)
			}
			err = c.Client.Create(ctx, cm)
		}
	}
	if err != nil {
		return fmt.Errorf("write ConfigMap %s/%s: %w", c.namespace(), c.name(), err)
	}
	c.version = cm.ResourceVersion
	return nil
}

func (c *ConfigMapState) namespace() string {
	if c.Namespace != "" {
		return c.Namespace
	}
	return StateNamespace
}

func (c *ConfigMapState) name() string {
	if c.Name != "" {
		return c.Name
	}
	return StateName
}
