package idp_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/scim"
	"github.com/allot-dev/allot/renderer"
	"github.com/allot-dev/allot/test/harness"
)

// fixture is a real SCIM server, a proxy in front of it that can fail, and
// a Syncer that reaches the server through the proxy.
type fixture struct {
	server *harness.SCIMServer
	proxy  *harness.SCIMProxy
	// admin reaches the server directly, as a person in the IdP's console.
	admin *scim.Provider
	state *idp.MemoryState
	s     *idp.Syncer
	// calls records the changes the Syncer asks of its Provider, even
	// those the Provider refuses.
	calls *callLog
	// through is the provider behind calls, which reaches the server
	// through the proxy.
	through *scim.Provider

	mu    sync.Mutex
	waits []time.Duration
}

func newFixture(t *testing.T, users ...string) *fixture {
	t.Helper()
	srv, err := harness.StartSCIMServer(harness.SCIMServerOptions{MaxPageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	proxy := srv.StartProxy()
	t.Cleanup(proxy.Close)
	f := &fixture{server: srv, proxy: proxy, state: &idp.MemoryState{}}
	// The Syncer and the provider behind the proxy, which retries each
	// request itself, record their waits in one list.
	retry := idp.Retry{Sleep: func(_ context.Context, d time.Duration) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.waits = append(f.waits, d)
		return nil
	}}
	f.admin = f.provider(t, srv.URL())
	f.through = f.provider(t, proxy.URL())
	f.through.Retry = retry
	f.calls = &callLog{Provider: f.through}
	f.s = &idp.Syncer{
		Provider: f.calls,
		Prefix:   "allot-",
		State:    f.state,
		Retry:    retry,
	}
	for _, u := range users {
		if _, err := srv.CreateUser(context.Background(), u, u); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) provider(t *testing.T, url string) *scim.Provider {
	t.Helper()
	p, err := scim.New(url, f.server.Token(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) sync(want ...renderer.Group) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return f.s.SyncGroups(ctx, want)
}

func (f *fixture) mustSync(t *testing.T, want ...renderer.Group) {
	t.Helper()
	if err := f.sync(want...); err != nil {
		t.Fatalf("SyncGroups: %v", err)
	}
}

// groups reads the IdP: group name to member e-mails, "!" before the name
// of a group without allot's marker.
func (f *fixture) groups(t *testing.T) map[string][]string {
	t.Helper()
	groups, err := f.admin.ListGroups(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, g := range groups {
		name := g.Name
		if !g.Managed {
			name = "!" + name
		}
		out[name] = []string{}
		for _, m := range g.Members {
			out[name] = append(out[name], m.Email)
		}
		slices.Sort(out[name])
	}
	return out
}

func (f *fixture) record(t *testing.T) map[string][]string {
	t.Helper()
	r, err := f.state.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writes lists the requests through the proxy that change something.
func (f *fixture) writes() []string {
	var out []string
	for _, r := range f.proxy.Requests() {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	return out
}

// handAdd adds a member the way an administrator would, outside allot.
func (f *fixture) handAdd(t *testing.T, group, email string) {
	t.Helper()
	ctx := context.Background()
	u, err := f.admin.FindUser(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := f.admin.ListGroups(ctx, group)
	if err != nil || len(groups) != 1 {
		t.Fatalf("group %s: %v %v", group, groups, err)
	}
	if err := f.admin.AddMembers(ctx, groups[0], []idp.User{u}); err != nil {
		t.Fatal(err)
	}
}

// callLog records the changes asked of a Provider as "Verb group".
type callLog struct {
	idp.Provider
	mu    sync.Mutex
	calls []string
}

func (c *callLog) log(verb string, g idp.Group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, verb+" "+g.Name)
}

func (c *callLog) AddMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	c.log("AddMembers", g)
	return c.Provider.AddMembers(ctx, g, users)
}

func (c *callLog) RemoveMembers(ctx context.Context, g idp.Group, users []idp.User) error {
	c.log("RemoveMembers", g)
	return c.Provider.RemoveMembers(ctx, g, users)
}

func (c *callLog) DeleteGroup(ctx context.Context, g idp.Group) error {
	c.log("DeleteGroup", g)
	return c.Provider.DeleteGroup(ctx, g)
}

func (c *callLog) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

func group(name string, members ...string) renderer.Group {
	return renderer.Group{Name: name, Members: members}
}

func TestSyncCreatesGroupsAndChangesNothingTheSecondTime(t *testing.T) {
	f := newFixture(t, "ada@example.com", "bob@example.com", "cy@example.com")
	want := []renderer.Group{group("allot-shop", "ada@example.com", "bob@example.com"), group("allot-web", "ada@example.com", "cy@example.com")}
	f.mustSync(t, want...)
	wantGroups := map[string][]string{"allot-shop": {"ada@example.com", "bob@example.com"}, "allot-web": {"ada@example.com", "cy@example.com"}}
	if diff := cmp.Diff(wantGroups, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantGroups, f.record(t)); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}

	t.Run("a second pass changes nothing", func(t *testing.T) {
		before := len(f.writes())
		f.mustSync(t, want...)
		if after := f.writes(); len(after) != before {
			t.Errorf("the second pass wrote: %v", after[before:])
		}
	})
	t.Run("upper-case members in the request are the same users", func(t *testing.T) {
		before := len(f.writes())
		f.mustSync(t, group("allot-shop", "ADA@example.com", "bob@example.com"), want[1])
		if after := f.writes(); len(after) != before {
			t.Errorf("the pass wrote: %v", after[before:])
		}
	})
}

func TestSyncNeverTouchesAForeignGroup(t *testing.T) {
	f := newFixture(t, "ada@example.com", "eve@example.com")
	ctx := context.Background()
	eve, err := f.admin.FindUser(ctx, "eve@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// Someone made allot-shop by hand, and allot-old too.
	for _, name := range []string{"allot-shop", "allot-old"} {
		if _, err := f.server.CreateGroup(ctx, name, "", eve.ID); err != nil {
			t.Fatal(err)
		}
	}
	f.s.AllowMassRemoval = true // so that only ownership keeps allot-old
	err = f.sync(group("allot-shop", "ada@example.com"), group("allot-web", "ada@example.com"))
	if !errors.Is(err, idp.ErrForeignGroup) || !strings.Contains(err.Error(), "allot-shop") {
		t.Fatalf("SyncGroups: %v, want ErrForeignGroup naming allot-shop", err)
	}
	want := map[string][]string{
		"!allot-shop": {"eve@example.com"},
		"!allot-old":  {"eve@example.com"},
		"allot-web":   {"ada@example.com"},
	}
	if diff := cmp.Diff(want, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"AddMembers allot-web"}, f.calls.list()); diff != "" {
		t.Errorf("changes asked of the provider (-want +got):\n%s", diff)
	}
	foreign, err := f.admin.ListGroups(ctx, "allot-")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range foreign {
		for _, w := range f.writes() {
			if !g.Managed && strings.Contains(w, g.ID) {
				t.Errorf("a request changed %s: %s", g.Name, w)
			}
		}
	}
	if _, ok := f.record(t)["allot-shop"]; ok {
		t.Errorf("the record lists the foreign group: %v", f.record(t))
	}
}

func TestSyncKeepsAMemberAddedByHand(t *testing.T) {
	f := newFixture(t, "ada@example.com", "bob@example.com", "hal@example.com")
	f.mustSync(t, group("allot-shop", "ada@example.com", "bob@example.com"))
	f.handAdd(t, "allot-shop", "hal@example.com")

	f.s.AllowMassRemoval = true // one of two recorded members goes
	f.mustSync(t, group("allot-shop", "ada@example.com"))
	want := map[string][]string{"allot-shop": {"ada@example.com", "hal@example.com"}}
	if diff := cmp.Diff(want, f.groups(t)); diff != "" {
		t.Errorf("after bob left the request (-want +got):\n%s", diff)
	}

	t.Run("also when the request named the member for a while", func(t *testing.T) {
		f.mustSync(t, group("allot-shop", "ada@example.com", "hal@example.com"))
		f.mustSync(t, group("allot-shop", "ada@example.com"))
		if diff := cmp.Diff(want, f.groups(t)); diff != "" {
			t.Errorf("IdP groups (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string][]string{"allot-shop": {"ada@example.com"}}, f.record(t)); diff != "" {
			t.Errorf("record (-want +got):\n%s", diff)
		}
	})
}

func TestSyncReportsUnknownUsersAndSyncsTheRest(t *testing.T) {
	f := newFixture(t, "ada@example.com")
	err := f.sync(group("allot-shop", "ada@example.com", "ghost@example.com"))
	if !errors.Is(err, idp.ErrNotFound) || !strings.Contains(err.Error(), "ghost@example.com") || !strings.Contains(err.Error(), "allot-shop") {
		t.Fatalf("SyncGroups: %v, want ErrNotFound naming ghost@example.com and the group", err)
	}
	if diff := cmp.Diff(map[string][]string{"allot-shop": {"ada@example.com"}}, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}
}

func TestSyncRefusesNamesOutsideItsPrefix(t *testing.T) {
	f := newFixture(t, "ada@example.com")
	err := f.sync(group("admins", "ada@example.com"), group("allot-shop", "ada@example.com"))
	if err == nil || !strings.Contains(err.Error(), "admins") {
		t.Fatalf("SyncGroups: %v, want an error naming admins", err)
	}
	if diff := cmp.Diff(map[string][]string{"allot-shop": {"ada@example.com"}}, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}
}

func TestSyncRemovesWhatItAddedAndDeletesItsGroups(t *testing.T) {
	users := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"}
	f := newFixture(t, users...)
	f.mustSync(t, group("allot-one", users...), group("allot-two", "a@example.com"))

	// Two of six recorded memberships go: within the default share.
	f.mustSync(t, group("allot-one", "a@example.com", "b@example.com", "c@example.com", "d@example.com"), group("allot-two"))
	want := map[string][]string{"allot-one": users[:4], "allot-two": {}}
	if diff := cmp.Diff(want, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}
	f.mustSync(t, group("allot-one", "a@example.com", "b@example.com", "c@example.com", "d@example.com"))
	if diff := cmp.Diff(map[string][]string{"allot-one": users[:4]}, f.groups(t)); diff != "" {
		t.Errorf("after allot-two left (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"allot-one": users[:4]}, f.record(t)); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
}

func TestSyncRefusesAMassRemoval(t *testing.T) {
	f := newFixture(t, "a@example.com", "b@example.com", "c@example.com")
	all := []renderer.Group{
		group("allot-1", "a@example.com", "b@example.com"),
		group("allot-2", "a@example.com", "b@example.com"),
		group("allot-3", "a@example.com", "b@example.com"),
		group("allot-4", "a@example.com", "b@example.com"),
	}
	f.mustSync(t, all...)
	before := f.groups(t)

	// Three groups go (six memberships) and one loses a member: 7 of 8.
	next := []renderer.Group{group("allot-1", "a@example.com"), group("allot-new", "c@example.com")}
	err := f.sync(next...)
	if !errors.Is(err, idp.ErrMassRemoval) || !strings.Contains(err.Error(), "7 of 8") {
		t.Fatalf("SyncGroups: %v, want ErrMassRemoval for 7 of 8", err)
	}
	want := maps(before, map[string][]string{"allot-new": {"c@example.com"}})
	if diff := cmp.Diff(want, f.groups(t)); diff != "" {
		t.Errorf("held pass: IdP groups (-want +got); the new group is made, nothing removed:\n%s", diff)
	}

	t.Run("an empty want is refused too", func(t *testing.T) {
		held := f.groups(t)
		if err := f.sync(); !errors.Is(err, idp.ErrMassRemoval) {
			t.Errorf("SyncGroups with nothing wanted: %v, want ErrMassRemoval", err)
		}
		if diff := cmp.Diff(held, f.groups(t)); diff != "" {
			t.Errorf("IdP groups (-want +got):\n%s", diff)
		}
	})
	t.Run("the override lets it through", func(t *testing.T) {
		f.s.AllowMassRemoval = true
		f.mustSync(t, next...)
		want := map[string][]string{"allot-1": {"a@example.com"}, "allot-new": {"c@example.com"}}
		if diff := cmp.Diff(want, f.groups(t)); diff != "" {
			t.Errorf("IdP groups (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, f.record(t)); diff != "" {
			t.Errorf("record (-want +got):\n%s", diff)
		}
	})
}

func TestSyncRetriesServerErrorsAndConverges(t *testing.T) {
	f := newFixture(t, "ada@example.com", "bob@example.com")
	f.mustSync(t, group("allot-old", "ada@example.com"))
	// Mid-pass: the create's answer is lost after the server made the
	// group, a PATCH and a DELETE fail twice each, a lookup once.
	f.proxy.Inject(harness.SCIMFault{Method: http.MethodPost, Path: "/Groups", Status: http.StatusBadGateway, AfterForward: true})
	f.proxy.Inject(harness.SCIMFault{Method: http.MethodPatch, Path: "/Groups/", Status: http.StatusServiceUnavailable, Times: 2})
	f.proxy.Inject(harness.SCIMFault{Method: http.MethodDelete, Path: "/Groups/", Status: http.StatusInternalServerError, Times: 2})
	f.proxy.Inject(harness.SCIMFault{Method: http.MethodGet, Path: "/Users", Status: http.StatusGatewayTimeout})
	f.s.AllowMassRemoval = true
	f.mustSync(t, group("allot-shop", "ada@example.com", "bob@example.com"))
	if n := f.proxy.Pending(); n != 0 {
		t.Errorf("%d injected failures never happened", n)
	}
	// The retried create found the group the lost answer made, and adopted it.
	if reqs := f.proxy.Requests(); !slices.Contains(reqs, "POST /Groups 409") {
		t.Errorf("no second create answered 409: %v", reqs)
	}
	want := map[string][]string{"allot-shop": {"ada@example.com", "bob@example.com"}}
	if diff := cmp.Diff(want, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, f.record(t)); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}

	t.Run("a pass that runs out of attempts is finished by the next", func(t *testing.T) {
		f.proxy.Inject(harness.SCIMFault{Method: http.MethodPatch, Path: "/Groups/", Status: http.StatusServiceUnavailable, Times: idp.DefaultAttempts})
		err := f.sync(group("allot-shop", "ada@example.com"), group("allot-web", "bob@example.com"))
		if !errors.Is(err, idp.ErrTransient) {
			t.Fatalf("SyncGroups: %v, want the transient failure", err)
		}
		f.mustSync(t, group("allot-shop", "ada@example.com"), group("allot-web", "bob@example.com"))
		want := map[string][]string{"allot-shop": {"ada@example.com"}, "allot-web": {"bob@example.com"}}
		if diff := cmp.Diff(want, f.groups(t)); diff != "" {
			t.Errorf("IdP groups (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, f.record(t)); diff != "" {
			t.Errorf("record (-want +got):\n%s", diff)
		}
	})
}

func TestSyncHonoursRetryAfter(t *testing.T) {
	f := newFixture(t, "ada@example.com")
	f.proxy.Inject(harness.SCIMFault{Method: http.MethodGet, Path: "/Groups", Status: http.StatusTooManyRequests, RetryAfter: "7"})
	f.proxy.Inject(harness.SCIMFault{Method: http.MethodPost, Path: "/Groups", Status: http.StatusTooManyRequests, RetryAfter: "2"})
	f.mustSync(t, group("allot-shop", "ada@example.com"))
	if diff := cmp.Diff([]time.Duration{7 * time.Second, 2 * time.Second}, f.waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string][]string{"allot-shop": {"ada@example.com"}}, f.groups(t)); diff != "" {
		t.Errorf("IdP groups (-want +got):\n%s", diff)
	}

	t.Run("for real, without a test clock", func(t *testing.T) {
		f.s.Retry.Sleep, f.through.Retry.Sleep = nil, nil
		f.proxy.Inject(harness.SCIMFault{Method: http.MethodGet, Path: "/Groups", Status: http.StatusTooManyRequests, RetryAfter: "1"})
		f.mustSync(t, group("allot-shop", "ada@example.com"))
		reqs := f.proxy.Requests()
		if !slices.Contains(reqs, "GET /Groups 429 (injected)") {
			t.Errorf("requests %v", reqs)
		}
	})
}

// failingState fails to load or save.
type failingState struct{ load, save error }

func (s failingState) Load(context.Context) (map[string][]string, error) {
	return map[string][]string{}, s.load
}
func (s failingState) Save(context.Context, map[string][]string) error { return s.save }

func TestSyncChangesNothingWithoutItsRecord(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state failingState
	}{
		{"when the record cannot be read", failingState{load: errors.New("etcd is down")}},
		{"when the additions cannot be recorded first", failingState{save: errors.New("etcd is down")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "ada@example.com")
			f.s.State = tc.state
			if err := f.sync(group("allot-shop", "ada@example.com")); err == nil || !strings.Contains(err.Error(), "etcd is down") {
				t.Errorf("SyncGroups: %v", err)
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("the pass wrote %v", w)
			}
		})
	}
}

func maps(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
