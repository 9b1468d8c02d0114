package harness

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func startLDAPServer(t *testing.T, opts LDAPServerOptions) *LDAPServer {
	t.Helper()
	srv, err := StartLDAPServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// searchNames returns the DNs a search finds, sorted, failing on an error.
func searchNames(t *testing.T, conn *ldap.Conn, base, filter string) []string {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{"dn"}, nil))
	if err != nil {
		t.Fatalf("search %s under %s: %v", filter, base, err)
	}
	var dns []string
	for _, e := range res.Entries {
		dns = append(dns, e.DN)
	}
	slices.Sort(dns)
	return dns
}

func TestLDAPServerServesTheBaseAndUsers(t *testing.T) {
	srv := startLDAPServer(t, LDAPServerOptions{})
	if !strings.HasPrefix(srv.URL(), "ldap://127.0.0.1:") {
		t.Errorf("URL() = %q, want a loopback ldap:// address", srv.URL())
	}
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := []string{srv.ServiceDN(), srv.BaseDN(), srv.GroupsDN(), srv.PeopleDN()}
	slices.Sort(want)
	if got := searchNames(t, conn, srv.BaseDN(), "(objectClass=*)"); !slices.Equal(got, want) {
		t.Errorf("entries = %v, want %v", got, want)
	}

	dn, err := srv.AddUser("ada", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := "uid=ada," + srv.PeopleDN(); dn != want {
		t.Errorf("AddUser returned %q, want %q", dn, want)
	}
	if got := searchNames(t, conn, srv.PeopleDN(), "(mail=ada@example.com)"); !slices.Equal(got, []string{dn}) {
		t.Errorf("search by mail = %v, want [%s]", got, dn)
	}
	if _, err := srv.AddUser("ada", "other@example.com"); !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		t.Errorf("adding uid=ada twice: error = %v, want entryAlreadyExists", err)
	}

	wrong, err := ldap.DialURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Bind(srv.BindDN(), "not-"+srv.Password()); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with a wrong password: error = %v, want invalidCredentials", err)
	}
}

func TestLDAPServerServiceAccount(t *testing.T) {
	srv := startLDAPServer(t, LDAPServerOptions{SizeLimit: 2})
	for _, uid := range []string{"a", "b", "c"} {
		if _, err := srv.AddUser(uid, uid+"@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := ldap.DialURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(srv.ServiceDN(), srv.ServicePassword()); err != nil {
		t.Fatalf("bind as the service account: %v", err)
	}

	t.Run("writes under ou=groups only", func(t *testing.T) {
		group := ldap.NewAddRequest("cn=g,"+srv.GroupsDN(), nil)
		group.Attribute("objectClass", []string{"groupOfNames"})
		group.Attribute("cn", []string{"g"})
		group.Attribute("member", []string{"uid=a," + srv.PeopleDN()})
		if err := conn.Add(group); err != nil {
			t.Errorf("add a group under ou=groups: %v", err)
		}
		person := ldap.NewAddRequest("uid=d,"+srv.PeopleDN(), nil)
		person.Attribute("objectClass", []string{"inetOrgPerson"})
		person.Attribute("uid", []string{"d"})
		person.Attribute("cn", []string{"d"})
		person.Attribute("sn", []string{"d"})
		if err := conn.Add(person); !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("add a user under ou=people: error = %v, want insufficientAccessRights", err)
		}
	})

	t.Run("is held to the size limit unless it pages", func(t *testing.T) {
		req := ldap.NewSearchRequest(srv.PeopleDN(), ldap.ScopeSingleLevel, ldap.NeverDerefAliases,
			0, 0, false, "(mail=*)", []string{"mail"}, nil)
		if _, err := conn.Search(req); !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			t.Errorf("plain search for 3 users with a limit of 2: error = %v, want sizeLimitExceeded", err)
		}
		req.Controls = nil
		res, err := conn.SearchWithPaging(req, 1)
		if err != nil || len(res.Entries) != 3 {
			t.Errorf("paged search = %d entries, %v; want 3", len(res.Entries), err)
		}
	})
}

func TestLDAPServerTLS(t *testing.T) {
	srv := startLDAPServer(t, LDAPServerOptions{TLS: true})
	if !strings.HasPrefix(srv.LDAPSURL(), "ldaps://127.0.0.1:") {
		t.Fatalf("LDAPSURL() = %q, want a loopback ldaps:// address", srv.LDAPSURL())
	}
	check := func(t *testing.T, conn *ldap.Conn) {
		t.Helper()
		if err := conn.Bind(srv.BindDN(), srv.Password()); err != nil {
			t.Fatalf("bind: %v", err)
		}
		if _, ok := conn.TLSConnectionState(); !ok {
			t.Error("the connection does not use TLS")
		}
	}
	t.Run("serves ldaps with a certificate the CA signed", func(t *testing.T) {
		conn, err := ldap.DialURL(srv.LDAPSURL(), ldap.DialWithTLSConfig(srv.TLSConfig()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		check(t, conn)
	})
	t.Run("upgrades with StartTLS", func(t *testing.T) {
		conn, err := ldap.DialURL(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cfg := srv.TLSConfig()
		cfg.ServerName = "127.0.0.1"
		if err := conn.StartTLS(cfg); err != nil {
			t.Fatalf("StartTLS: %v", err)
		}
		check(t, conn)
	})
	t.Run("is not trusted without the CA", func(t *testing.T) {
		_, err := ldap.DialURL(srv.LDAPSURL(), ldap.DialWithTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
		if err == nil {
			t.Error("dialled ldaps without trusting the test CA")
		}
	})
}

func TestLDAPServerCloseStopsAndCleansUp(t *testing.T) {
	srv, err := StartLDAPServer(LDAPServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir, addr := srv.dir, strings.TrimPrefix(srv.URL(), "ldap://")
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("folder %s is still there after Close: %v", dir, err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("something still answers on %s after Close", addr)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

func TestLDAPServerRefusesABaseWithoutDC(t *testing.T) {
	if _, err := StartLDAPServer(LDAPServerOptions{BaseDN: "o=allot"}); err == nil || !strings.Contains(err.Error(), "dc=") {
		t.Errorf("StartLDAPServer with base o=allot: error = %v, want one asking for a dc= component", err)
	}
}
