package scim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/test/harness"
)

func names(groups []idp.Group) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g.Name)
	}
	slices.Sort(out)
	return out
}

func count(requests []string, prefix string) int {
	n := 0
	for _, r := range requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func TestListGroupsFollowsPages(t *testing.T) {
	// The server returns at most 10 per page, whatever allot asks for.
	s := startServer(t, harness.SCIMServerOptions{MaxPageSize: 10})
	ctx := context.Background()
	var want []string
	for i := 1; i <= 25; i++ {
		g, err := s.p.CreateGroup(ctx, fmt.Sprintf("allot-g%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, g.Name)
	}
	for _, other := range []string{"other-a", "team-allot-b", "allotx"} {
		if _, err := s.CreateGroup(ctx, other, ""); err != nil {
			t.Fatal(err)
		}
	}
	proxy := s.StartProxy()
	defer proxy.Close()

	for _, pageSize := range []int{0, 7, 100} {
		t.Run(fmt.Sprintf("lists 25 groups asking %d a page", pageSize), func(t *testing.T) {
			p := newProvider(t, proxy.URL(), s.Token())
			p.PageSize = pageSize
			before := count(proxy.Requests(), "GET /Groups")
			got, err := p.ListGroups(ctx, "allot-")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, names(got)); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
			for _, g := range got {
				if !g.Managed || g.ID == "" {
					t.Errorf("group %+v, want managed with an ID", g)
				}
			}
			wantPages := 3 // 10 a page at most
			if pageSize == 7 {
				wantPages = 4
			}
			if pages := count(proxy.Requests(), "GET /Groups") - before; pages != wantPages {
				t.Errorf("%d list requests, want %d", pages, wantPages)
			}
		})
	}
}

func TestCreateGroupMarksItAndRefusesADuplicate(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{})
	ctx := context.Background()
	g, err := s.p.CreateGroup(ctx, "allot-shop")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Managed || g.Name != "allot-shop" || g.ID == "" {
		t.Errorf("CreateGroup = %+v", g)
	}
	if _, err := s.p.CreateGroup(ctx, "allot-shop"); !errors.Is(err, idp.ErrConflict) {
		t.Errorf("a second allot-shop: %v, want ErrConflict", err)
	}
	// Made by hand, or carrying the marker of another name: not allot's.
	if _, err := s.CreateGroup(ctx, "allot-hand", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, "allot-copied", "allot:allot-shop"); err != nil {
		t.Fatal(err)
	}
	groups, err := s.p.ListGroups(ctx, "allot-")
	if err != nil {
		t.Fatal(err)
	}
	managed := map[string]bool{}
	for _, g := range groups {
		managed[g.Name] = g.Managed
	}
	if diff := cmp.Diff(map[string]bool{"allot-shop": true, "allot-hand": false, "allot-copied": false}, managed); diff != "" {
		t.Errorf("managed (-want +got):\n%s", diff)
	}
}

func TestMembersAreAddedAndRemovedInChunks(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{})
	ctx := context.Background()
	var users []idp.User
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		users = append(users, idp.User{ID: s.user(t, e), Email: e})
	}
	// A user whose userName is not an e-mail is listed by its e-mail.
	fid, err := s.CreateUser(ctx, "frank", "Frank@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	users = append(users, idp.User{ID: fid, Email: "frank@example.com"})
	proxy := s.StartProxy()
	defer proxy.Close()
	p := newProvider(t, proxy.URL(), s.Token())
	p.MembersPerPatch = 2
	g, err := p.CreateGroup(ctx, "allot-team")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddMembers(ctx, g, users); err != nil {
		t.Fatal(err)
	}
	if n := count(proxy.Requests(), "PATCH /Groups/"); n != 3 {
		t.Errorf("%d PATCH requests for 6 members at 2 a request, want 3", n)
	}
	if diff := cmp.Diff(users, members(t, p, "allot-team"), sortUsers()); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if err := p.RemoveMembers(ctx, g, users[1:4]); err != nil {
		t.Fatal(err)
	}
	want := []idp.User{users[0], users[4], users[5]}
	if diff := cmp.Diff(want, members(t, p, "allot-team"), sortUsers()); diff != "" {
		t.Errorf("members after removing b, c and d (-want +got):\n%s", diff)
	}
	for _, r := range proxy.Requests() {
		if strings.Contains(r, " 4") || strings.Contains(r, " 5") {
			t.Errorf("request failed: %s", r)
		}
	}
}

func TestDeleteGroup(t *testing.T) {
	s := startServer(t, harness.SCIMServerOptions{})
	ctx := context.Background()
	g, err := s.p.CreateGroup(ctx, "allot-gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.p.DeleteGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if groups, err := s.p.ListGroups(ctx, "allot-"); err != nil || len(groups) != 0 {
		t.Errorf("after delete: %v, %v", groups, err)
	}
	if err := s.p.DeleteGroup(ctx, g); !errors.Is(err, idp.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}
	t.Run("escapes the id in the path", func(t *testing.T) {
		proxy := s.StartProxy()
		defer proxy.Close()
		odd := idp.Group{ID: "a/b?c d", Name: "allot-odd", Managed: true}
		if err := newProvider(t, proxy.URL(), s.Token()).DeleteGroup(ctx, odd); !errors.Is(err, idp.ErrNotFound) {
			t.Errorf("DeleteGroup(%q): %v, want ErrNotFound", odd.ID, err)
		}
		if diff := cmp.Diff([]string{"DELETE /Groups/a/b?c d 404"}, proxy.Requests()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	foreign := idp.Group{ID: "x", Name: "allot-hand"}
	if err := s.p.DeleteGroup(ctx, foreign); !errors.Is(err, idp.ErrForeignGroup) {
		t.Errorf("deleting a group without the marker: %v, want ErrForeignGroup", err)
	}
}

func members(t *testing.T, p *Provider, name string) []idp.User {
	t.Helper()
	groups, err := p.ListGroups(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Name == name {
			return g.Members
		}
	}
	t.Fatalf("no group %s", name)
	return nil
}

func sortUsers() cmp.Option {
	return cmp.Transformer("sort", func(in []idp.User) []idp.User {
		out := slices.Clone(in)
		slices.SortFunc(out, func(a, b idp.User) int { return strings.Compare(a.Email, b.Email) })
		return out
	})
}
