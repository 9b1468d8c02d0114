package ldap_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/idptest"
	"github.com/allot-dev/allot/reconciler/idp/ldap"
	"github.com/allot-dev/allot/test/harness"
)

// startLDAP starts a real slapd for one test.
func startLDAP(t *testing.T, opts harness.LDAPServerOptions) *harness.LDAPServer {
	t.Helper()
	srv, err := harness.StartLDAPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// options points a provider at srv as its service account, with pages of
// two groups.
func options(srv *harness.LDAPServer, class ldap.GroupClass) ldap.Options {
	return ldap.Options{
		URL:          srv.URL(),
		BindDN:       srv.ServiceDN(),
		BindPassword: srv.ServicePassword(),
		UsersBaseDN:  srv.PeopleDN(),
		GroupsBaseDN: srv.GroupsDN(),
		GroupClass:   class,
		PageSize:     2,
	}
}

func newProvider(t *testing.T, opts ldap.Options) *ldap.Provider {
	t.Helper()
	p, err := ldap.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// uid is the uid the tests give the user with this e-mail.
func uid(email string) string { return strings.Split(email, "@")[0] }

// memberValues reads a group's raw member values, placeholder included.
func memberValues(t *testing.T, srv *harness.LDAPServer, dn, attr string) []string {
	t.Helper()
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{attr}, nil))
	if err != nil {
		t.Fatalf("read %s: %v", dn, err)
	}
	values := res.Entries[0].GetEqualFoldAttributeValues(attr)
	slices.Sort(values)
	return values
}

func TestLDAPConformance(t *testing.T) {
	for _, class := range []ldap.GroupClass{ldap.GroupOfNames, ldap.GroupOfUniqueNames} {
		t.Run(string(class), func(t *testing.T) {
			idptest.Run(t, func(t *testing.T) idptest.Backend {
				// The suite lists five groups; beyond three, only a paged
				// search gets them all.
				srv := startLDAP(t, harness.LDAPServerOptions{SizeLimit: 3})
				opts := options(srv, class)
				bad := opts
				bad.BindPassword = "not-" + opts.BindPassword
				return idptest.Backend{
					Provider:     newProvider(t, opts),
					Unauthorized: newProvider(t, bad),
					AddUser: func(t *testing.T, email string) {
						_, err := srv.AddUser(uid(email), email)
						idptest.Must(t, err)
					},
					AddGroup: func(t *testing.T, name string, emails ...string) {
						addGroup(t, srv, class, name, "made by hand", emails...)
					},
				}
			})
		})
	}
}

// addGroup adds a group as an administrator would, with the users of
// these e-mails as members.
func addGroup(t *testing.T, srv *harness.LDAPServer, class ldap.GroupClass, name, description string, emails ...string) string {
	t.Helper()
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	attr := "member"
	if class == ldap.GroupOfUniqueNames {
		attr = "uniqueMember"
	}
	var members []string
	for _, email := range emails {
		members = append(members, "uid="+uid(email)+","+srv.PeopleDN())
	}
	dn := "cn=" + name + "," + srv.GroupsDN()
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{string(class)})
	req.Attribute("cn", []string{name})
	req.Attribute("description", []string{description})
	req.Attribute(attr, members)
	if err := conn.Add(req); err != nil {
		t.Fatalf("add group %s: %v", dn, err)
	}
	return dn
}

func TestLDAPPlaceholder(t *testing.T) {
	for _, tc := range []struct {
		class ldap.GroupClass
		attr  string
	}{
		{ldap.GroupOfNames, "member"},
		{ldap.GroupOfUniqueNames, "uniqueMember"},
	} {
		t.Run("keeps the group's own DN as the only member of an empty "+string(tc.class), func(t *testing.T) {
			srv := startLDAP(t, harness.LDAPServerOptions{})
			p := newProvider(t, options(srv, tc.class))
			ctx := context.Background()
			ada, err := srv.AddUser("ada", "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			g, err := p.CreateGroup(ctx, "allot-team")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{g.ID}, memberValues(t, srv, g.ID, tc.attr)); diff != "" {
				t.Errorf("new group's %s values (-want +got):\n%s", tc.attr, diff)
			}
			if err := p.AddMembers(ctx, g, []idp.User{{ID: ada, Email: "ada@example.com"}}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{ada}, memberValues(t, srv, g.ID, tc.attr)); diff != "" {
				t.Errorf("%s values with a member, placeholder gone (-want +got):\n%s", tc.attr, diff)
			}
			if err := p.RemoveMembers(ctx, g, []idp.User{{ID: ada}}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{g.ID}, memberValues(t, srv, g.ID, tc.attr)); diff != "" {
				t.Errorf("%s values after the last member left (-want +got):\n%s", tc.attr, diff)
			}
		})
	}

	t.Run("shows members of a group whose DNs are written differently", func(t *testing.T) {
		srv := startLDAP(t, harness.LDAPServerOptions{})
		p := newProvider(t, options(srv, ldap.GroupOfNames))
		ctx := context.Background()
		ada, err := srv.AddUser("ada", "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		g, err := p.CreateGroup(ctx, "allot-team")
		if err != nil {
			t.Fatal(err)
		}
		// Someone adds Ada by hand, in upper case with spaces.
		conn, err := srv.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := goldap.NewModifyRequest(g.ID, nil)
		req.Add("member", []string{"UID=Ada, OU=People, " + strings.ToUpper(srv.BaseDN())})
		if err := conn.Modify(req); err != nil {
			t.Fatal(err)
		}
		groups, err := p.ListGroups(ctx, "allot-")
		if err != nil {
			t.Fatal(err)
		}
		want := []idp.User{{ID: ada, Email: "ada@example.com"}}
		if diff := cmp.Diff(want, groups[0].Members); diff != "" {
			t.Errorf("members (-want +got):\n%s", diff)
		}
		// Adding her again is recognised as a no-op.
		if err := p.AddMembers(ctx, groups[0], want); err != nil {
			t.Fatalf("AddMembers of a member written differently: %v", err)
		}
	})
}

func TestLDAPUniqueMemberWithUniqueID(t *testing.T) {
	// nameAndOptionalUID allows "DN#'BITS'B"; such a member is still the
	// user of that DN.
	srv := startLDAP(t, harness.LDAPServerOptions{})
	p := newProvider(t, options(srv, ldap.GroupOfUniqueNames))
	ctx := context.Background()
	ada, err := srv.AddUser("ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	dn := "cn=allot-team," + srv.GroupsDN()
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := goldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"groupOfUniqueNames"})
	req.Attribute("cn", []string{"allot-team"})
	req.Attribute("description", []string{ldap.DefaultMarker})
	req.Attribute("uniqueMember", []string{ada + "#'0101'B"})
	if err := conn.Add(req); err != nil {
		t.Fatal(err)
	}
	groups, err := p.ListGroups(ctx, "allot-")
	if err != nil {
		t.Fatal(err)
	}
	want := []idp.User{{ID: ada, Email: "ada@example.com"}}
	if len(groups) != 1 || !cmp.Equal(want, groups[0].Members) {
		t.Fatalf("groups = %+v, want allot-team with Ada", groups)
	}
	if err := p.RemoveMembers(ctx, groups[0], want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{dn}, memberValues(t, srv, dn, "uniqueMember")); diff != "" {
		t.Errorf("uniqueMember values after removing Ada (-want +got):\n%s", diff)
	}
}

func TestLDAPFindUserRefusesAmbiguousMail(t *testing.T) {
	srv := startLDAP(t, harness.LDAPServerOptions{})
	p := newProvider(t, options(srv, ldap.GroupOfNames))
	for _, u := range []string{"ada", "ada2"} {
		if _, err := srv.AddUser(u, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.FindUser(context.Background(), "ada@example.com"); !errors.Is(err, idp.ErrConflict) {
		t.Errorf("FindUser with two entries for one mail: error = %v, want one wrapping ErrConflict", err)
	}
}

func TestLDAPRefusesAGroupWhoseMarkerWasRemoved(t *testing.T) {
	srv := startLDAP(t, harness.LDAPServerOptions{})
	p := newProvider(t, options(srv, ldap.GroupOfNames))
	ctx := context.Background()
	g, err := p.CreateGroup(ctx, "allot-team")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := goldap.NewModifyRequest(g.ID, nil)
	req.Replace("description", []string{"taken over by the data team"})
	if err := conn.Modify(req); err != nil {
		t.Fatal(err)
	}
	// g still says Managed, as a listing made before the change would.
	if err := p.DeleteGroup(ctx, g); !errors.Is(err, idp.ErrConflict) {
		t.Errorf("DeleteGroup after the marker was removed: error = %v, want one wrapping ErrConflict", err)
	}
	if v := memberValues(t, srv, g.ID, "cn"); len(v) != 1 {
		t.Errorf("group is gone: %v", v)
	}
}

func TestLDAPReportsMissingRightsAsUnauthorized(t *testing.T) {
	srv := startLDAP(t, harness.LDAPServerOptions{})
	opts := options(srv, ldap.GroupOfNames)
	// The service account may only read ou=people.
	opts.GroupsBaseDN = srv.PeopleDN()
	if _, err := newProvider(t, opts).CreateGroup(context.Background(), "allot-team"); !errors.Is(err, idp.ErrUnauthorized) {
		t.Errorf("CreateGroup where the account may not write: error = %v, want one wrapping ErrUnauthorized", err)
	}
}

func TestLDAPOverTLS(t *testing.T) {
	srv := startLDAP(t, harness.LDAPServerOptions{TLS: true})
	trusted := &tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12}
	for _, tc := range []struct {
		name string
		url  string
		tls  bool
	}{
		{"ldaps", srv.LDAPSURL(), false},
		{"StartTLS", srv.URL(), true},
	} {
		t.Run("works over "+tc.name, func(t *testing.T) {
			opts := options(srv, ldap.GroupOfNames)
			opts.URL, opts.StartTLS, opts.TLSConfig = tc.url, tc.tls, trusted
			p := newProvider(t, opts)
			ctx := context.Background()
			name := "allot-" + strings.ToLower(tc.name)
			if _, err := p.CreateGroup(ctx, name); err != nil {
				t.Fatalf("CreateGroup over %s: %v", tc.name, err)
			}
			groups, err := p.ListGroups(ctx, name)
			if err != nil || len(groups) != 1 {
				t.Fatalf("ListGroups over %s = %v, %v; want the group", tc.name, groups, err)
			}
		})
		t.Run("refuses a server it cannot verify over "+tc.name, func(t *testing.T) {
			opts := options(srv, ldap.GroupOfNames)
			opts.URL, opts.StartTLS = tc.url, tc.tls
			opts.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
			_, err := newProvider(t, opts).ListGroups(context.Background(), "allot-")
			// go-ldap flattens the StartTLS handshake error into text.
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) && !strings.Contains(fmt.Sprint(err), "certificate signed by unknown authority") {
				t.Errorf("ListGroups against an unknown CA: error = %v, want x509's unknown authority", err)
			}
		})
	}
}

func TestLDAPNew(t *testing.T) {
	valid := ldap.Options{
		URL:          "ldaps://ldap.example.com",
		BindDN:       "cn=allot,dc=example,dc=com",
		BindPassword: "secret",
		UsersBaseDN:  "ou=people, dc=example, dc=com",
		GroupsBaseDN: "ou=groups,dc=example,dc=com",
	}
	for _, tc := range []struct {
		name   string
		change func(*ldap.Options)
		ok     bool
	}{
		{"accepts ldaps", func(*ldap.Options) {}, true},
		{"accepts ldap with StartTLS", func(o *ldap.Options) { o.URL, o.StartTLS = "ldap://ldap.example.com", true }, true},
		{"accepts plain ldap to loopback", func(o *ldap.Options) { o.URL = "ldap://127.0.0.1:3890" }, true},
		{"refuses plain ldap across the network", func(o *ldap.Options) { o.URL = "ldap://ldap.example.com" }, false},
		{"refuses StartTLS on ldaps", func(o *ldap.Options) { o.StartTLS = true }, false},
		{"refuses another scheme", func(o *ldap.Options) { o.URL = "https://ldap.example.com" }, false},
		{"refuses an empty password", func(o *ldap.Options) { o.BindPassword = "" }, false},
		{"refuses a base that is no DN", func(o *ldap.Options) { o.GroupsBaseDN = "groups" }, false},
		{"refuses an unknown group class", func(o *ldap.Options) { o.GroupClass = "posixGroup" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := valid
			tc.change(&opts)
			_, err := ldap.New(opts)
			if (err == nil) != tc.ok {
				t.Errorf("New: error = %v, want ok = %v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), opts.BindPassword) && opts.BindPassword != "" {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestLDAPHonoursContext(t *testing.T) {
	srv := startLDAP(t, harness.LDAPServerOptions{})
	p := newProvider(t, options(srv, ldap.GroupOfNames))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.ListGroups(ctx, "allot-"); !errors.Is(err, context.Canceled) {
		t.Errorf("ListGroups with a cancelled context: error = %v, want context.Canceled", err)
	}
}
