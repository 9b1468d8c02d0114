package idptest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
)

// Backend is one identity provider under test: a Provider that allot
// drives, and the hooks the suite uses to change the identity provider
// behind allot's back.
type Backend struct {
	// Provider is the backend under test, with credentials that work.
	Provider idp.Provider
	// Unauthorized is the same backend pointed at the same server with
	// credentials the server refuses.
	Unauthorized idp.Provider
	// AddUser creates a user with this e-mail directly in the identity
	// provider.
	AddUser func(t *testing.T, email string)
	// AddGroup creates a group directly in the identity provider, as a
	// person or another tool would: without allot's marker, holding the
	// users with these e-mails (added with AddUser first).
	AddGroup func(t *testing.T, name string, memberEmails ...string)
	// RateLimit makes the server refuse the next API request as rate
	// limited, asking the client to wait retryAfter (whole seconds). Nil
	// for a backend whose protocol has no rate limiting (LDAP); the suite
	// then leaves that check out and says so in the test log.
	RateLimit func(t *testing.T, retryAfter time.Duration)
	// Slept returns the waits the Provider's own retries have taken,
	// which the backend's tests record rather than spend (see
	// RecordWaits). Required with RateLimit.
	Slept func() []time.Duration
}

// RecordWaits returns an idp.Retry that records its waits instead of
// sleeping, and the function that returns them, for Backend.Slept.
func RecordWaits() (idp.Retry, func() []time.Duration) {
	var mu sync.Mutex
	var waits []time.Duration
	retry := idp.Retry{Sleep: func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}}
	return retry, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(waits)
	}
}

// Run runs the conformance suite against the backend newBackend returns.
// newBackend is called once per subtest, so each starts from an empty
// identity provider. Backends should force small pages (two items) so
// that the suite's six groups and five members span several pages.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Run("finds a user by e-mail", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		b.AddUser(t, "ada@example.com")
		b.AddUser(t, "grace@example.com")
		u, err := b.Provider.FindUser(ctx, "ada@example.com")
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		if u.ID == "" || !strings.EqualFold(u.Email, "ada@example.com") {
			t.Errorf("FindUser(ada@example.com) = %+v, want an ID and the e-mail", u)
		}
		other, err := b.Provider.FindUser(ctx, "grace@example.com")
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		if other.ID == u.ID {
			t.Errorf("two users share the ID %q", u.ID)
		}
		if _, err := b.Provider.FindUser(ctx, "nobody@example.com"); !errors.Is(err, idp.ErrNotFound) {
			t.Errorf("FindUser(nobody@example.com) error = %v, want one wrapping ErrNotFound", err)
		}
	})

	t.Run("creates groups and lists them by prefix across pages", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		created := map[string]string{}
		for _, name := range []string{"allot-a", "allot-b", "allot-c", "allot-d", "allot-e", "other-a"} {
			g, err := b.Provider.CreateGroup(ctx, name)
			if err != nil {
				t.Fatalf("CreateGroup(%s): %v", name, err)
			}
			if g.ID == "" || g.Name != name || !g.Managed || len(g.Members) != 0 {
				t.Errorf("CreateGroup(%s) = %+v, want an empty managed group with an ID", name, g)
			}
			created[name] = g.ID
		}
		groups := listGroups(t, b.Provider, "allot-")
		var got []string
		for _, g := range groups {
			got = append(got, g.Name)
			if g.ID != created[g.Name] {
				t.Errorf("group %s has ID %q, CreateGroup gave %q", g.Name, g.ID, created[g.Name])
			}
			if !g.Managed {
				t.Errorf("group %s, created by allot, is listed as not managed", g.Name)
			}
			if len(g.Members) != 0 {
				t.Errorf("new group %s lists members %+v", g.Name, g.Members)
			}
		}
		want := []string{"allot-a", "allot-b", "allot-c", "allot-d", "allot-e"}
		if diff := cmp.Diff(want, sorted(got)); diff != "" {
			t.Errorf("ListGroups(allot-) names (-want +got):\n%s", diff)
		}
		if _, err := b.Provider.CreateGroup(ctx, "allot-a"); !errors.Is(err, idp.ErrConflict) {
			t.Errorf("creating allot-a twice: error = %v, want one wrapping ErrConflict", err)
		}
		if n := len(listGroups(t, b.Provider, "allot-")); n != 5 {
			t.Errorf("after the refused second create, ListGroups lists %d groups, want 5", n)
		}
	})

	t.Run("marks only the groups allot created as managed", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		b.AddUser(t, "ada@example.com")
		b.AddGroup(t, "allot-foreign", "ada@example.com")
		if _, err := b.Provider.CreateGroup(ctx, "allot-mine"); err != nil {
			t.Fatalf("CreateGroup: %v", err)
		}
		got := map[string]idp.Group{}
		for _, g := range listGroups(t, b.Provider, "allot-") {
			got[g.Name] = g
		}
		foreign, ok := got["allot-foreign"]
		if !ok {
			t.Fatalf("ListGroups(allot-) misses the group made outside allot: %+v", got)
		}
		if foreign.Managed {
			t.Errorf("group made outside allot is listed as managed: %+v", foreign)
		}
		if diff := cmp.Diff([]string{"ada@example.com"}, emails(foreign.Members)); diff != "" {
			t.Errorf("members of the group made outside allot (-want +got):\n%s", diff)
		}
		if mine := got["allot-mine"]; !mine.Managed {
			t.Errorf("group allot created is listed as not managed: %+v", mine)
		}
	})

	t.Run("adds and removes members", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		all := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"}
		var users []idp.User
		for _, email := range all {
			b.AddUser(t, email)
			u, err := b.Provider.FindUser(ctx, email)
			if err != nil {
				t.Fatalf("FindUser(%s): %v", email, err)
			}
			users = append(users, u)
		}
		g, err := b.Provider.CreateGroup(ctx, "allot-team")
		if err != nil {
			t.Fatalf("CreateGroup: %v", err)
		}
		if err := b.Provider.AddMembers(ctx, g, users[:3]); err != nil {
			t.Fatalf("AddMembers: %v", err)
		}
		// Adding someone already there again is a retry, not an error.
		if err := b.Provider.AddMembers(ctx, g, users[2:]); err != nil {
			t.Fatalf("AddMembers with a member already in the group: %v", err)
		}
		got := groupNamed(t, b.Provider, "allot-team")
		if diff := cmp.Diff(all, emails(got.Members)); diff != "" {
			t.Errorf("members after adding (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(ids(users), ids(got.Members)); diff != "" {
			t.Errorf("member IDs differ from FindUser's (-want +got):\n%s", diff)
		}
		if err := b.Provider.RemoveMembers(ctx, got, users[:2]); err != nil {
			t.Fatalf("RemoveMembers: %v", err)
		}
		// Removing someone no longer there is a retry, not an error.
		if err := b.Provider.RemoveMembers(ctx, got, users[:2]); err != nil {
			t.Fatalf("RemoveMembers of users already removed: %v", err)
		}
		got = groupNamed(t, b.Provider, "allot-team")
		if diff := cmp.Diff(all[2:], emails(got.Members)); diff != "" {
			t.Errorf("members after removing (-want +got):\n%s", diff)
		}
		if err := b.Provider.RemoveMembers(ctx, got, users[2:]); err != nil {
			t.Fatalf("RemoveMembers of everyone: %v", err)
		}
		if got := groupNamed(t, b.Provider, "allot-team"); len(got.Members) != 0 {
			t.Errorf("members after removing everyone: %+v, want none", got.Members)
		}
		if err := b.Provider.AddMembers(ctx, got, users[:1]); err != nil {
			t.Fatalf("AddMembers to the emptied group: %v", err)
		}
		if diff := cmp.Diff(all[:1], emails(groupNamed(t, b.Provider, "allot-team").Members)); diff != "" {
			t.Errorf("members after adding to the emptied group (-want +got):\n%s", diff)
		}
	})

	t.Run("deletes a group", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		b.AddUser(t, "ada@example.com")
		ada, err := b.Provider.FindUser(ctx, "ada@example.com")
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		g, err := b.Provider.CreateGroup(ctx, "allot-gone")
		if err != nil {
			t.Fatalf("CreateGroup: %v", err)
		}
		if _, err := b.Provider.CreateGroup(ctx, "allot-kept"); err != nil {
			t.Fatalf("CreateGroup: %v", err)
		}
		if err := b.Provider.AddMembers(ctx, g, []idp.User{ada}); err != nil {
			t.Fatalf("AddMembers: %v", err)
		}
		if err := b.Provider.DeleteGroup(ctx, g); err != nil {
			t.Fatalf("DeleteGroup: %v", err)
		}
		var names []string
		for _, g := range listGroups(t, b.Provider, "allot-") {
			names = append(names, g.Name)
		}
		if diff := cmp.Diff([]string{"allot-kept"}, names); diff != "" {
			t.Errorf("groups after DeleteGroup (-want +got):\n%s", diff)
		}
		if err := b.Provider.DeleteGroup(ctx, g); !errors.Is(err, idp.ErrNotFound) {
			t.Errorf("deleting a deleted group: error = %v, want one wrapping ErrNotFound", err)
		}
		if _, err := b.Provider.FindUser(ctx, "ada@example.com"); err != nil {
			t.Errorf("the group's member is gone with the group: %v", err)
		}
	})

	t.Run("refuses to change a group allot did not create", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		b.AddUser(t, "ada@example.com")
		b.AddUser(t, "grace@example.com")
		b.AddGroup(t, "allot-foreign", "ada@example.com")
		foreign := groupNamed(t, b.Provider, "allot-foreign")
		ada, err := b.Provider.FindUser(ctx, "ada@example.com")
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		grace, err := b.Provider.FindUser(ctx, "grace@example.com")
		if err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		if err := b.Provider.AddMembers(ctx, foreign, []idp.User{grace}); err == nil {
			t.Error("AddMembers on a group without allot's marker succeeded")
		}
		if err := b.Provider.RemoveMembers(ctx, foreign, []idp.User{ada}); err == nil {
			t.Error("RemoveMembers on a group without allot's marker succeeded")
		}
		if err := b.Provider.DeleteGroup(ctx, foreign); err == nil {
			t.Error("DeleteGroup on a group without allot's marker succeeded")
		}
		after := groupNamed(t, b.Provider, "allot-foreign")
		if diff := cmp.Diff([]string{"ada@example.com"}, emails(after.Members)); diff != "" {
			t.Errorf("members of the group made outside allot changed (-want +got):\n%s", diff)
		}
	})

	t.Run("reports refused credentials as ErrUnauthorized", func(t *testing.T) {
		b := newBackend(t)
		ctx := context.Background()
		b.AddUser(t, "ada@example.com")
		if _, err := b.Unauthorized.FindUser(ctx, "ada@example.com"); !errors.Is(err, idp.ErrUnauthorized) {
			t.Errorf("FindUser with bad credentials: error = %v, want one wrapping ErrUnauthorized", err)
		}
		if _, err := b.Unauthorized.ListGroups(ctx, "allot-"); !errors.Is(err, idp.ErrUnauthorized) {
			t.Errorf("ListGroups with bad credentials: error = %v, want one wrapping ErrUnauthorized", err)
		}
		if _, err := b.Unauthorized.CreateGroup(ctx, "allot-x"); !errors.Is(err, idp.ErrUnauthorized) {
			t.Errorf("CreateGroup with bad credentials: error = %v, want one wrapping ErrUnauthorized", err)
		}
		if n := len(listGroups(t, b.Provider, "allot-")); n != 0 {
			t.Errorf("a refused CreateGroup left %d groups", n)
		}
	})

	t.Run("waits out a rate limit as long as the server asks", func(t *testing.T) {
		b := newBackend(t)
		if b.RateLimit == nil {
			t.Log("this backend's protocol has no rate limiting; nothing to check")
			return
		}
		if b.Slept == nil {
			t.Fatal("the Backend has RateLimit but no Slept")
		}
		ctx := context.Background()
		b.AddUser(t, "ada@example.com")
		if _, err := b.Provider.FindUser(ctx, "ada@example.com"); err != nil {
			t.Fatalf("FindUser: %v", err)
		}
		before := len(b.Slept())
		b.RateLimit(t, 7*time.Second)
		if _, err := b.Provider.ListGroups(ctx, "allot-"); err != nil {
			t.Fatalf("ListGroups when rate limited once: %v, want it to wait and succeed", err)
		}
		if diff := cmp.Diff([]time.Duration{7 * time.Second}, b.Slept()[before:]); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
	})
}

// listGroups lists the groups with prefix, failing the test on an error.
func listGroups(t *testing.T, p idp.Provider, prefix string) []idp.Group {
	t.Helper()
	groups, err := p.ListGroups(context.Background(), prefix)
	if err != nil {
		t.Fatalf("ListGroups(%s): %v", prefix, err)
	}
	return groups
}

// groupNamed lists the group called name, failing the test when it is not
// there exactly once.
func groupNamed(t *testing.T, p idp.Provider, name string) idp.Group {
	t.Helper()
	var found []idp.Group
	for _, g := range listGroups(t, p, name) {
		if g.Name == name {
			found = append(found, g)
		}
	}
	if len(found) != 1 {
		t.Fatalf("ListGroups finds %d groups named %s, want 1", len(found), name)
	}
	return found[0]
}

// emails returns the users' e-mails, lower case and sorted.
func emails(users []idp.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, strings.ToLower(u.Email))
	}
	return sorted(out)
}

// ids returns the users' IDs, sorted.
func ids(users []idp.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.ID)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Must fails the test on err; for the hooks of a Backend.
func Must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
