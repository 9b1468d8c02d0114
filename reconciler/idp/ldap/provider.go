// Package ldap keeps allot's groups in an LDAP directory such as OpenLDAP
// or 389 Directory Server.
//
// Groups are groupOfNames entries (or groupOfUniqueNames) named
// cn=NAME directly under a groups base DN; their ID is their DN. A group
// is allot's when one of its description values is the marker
// (managed-by=allot by default). Users are found by their mail attribute
// anywhere under a users base DN; their ID is their DN too.
//
// Both object classes require at least one member, so an empty group
// holds a placeholder: its own DN. The placeholder is added when the last
// member leaves and removed, in the same modify operation, when the first
// joins; ListGroups never shows it. The group's own DN is used rather than
// the bind DN so that an empty group grants nothing to anyone.
//
// Each call opens its own connection (ldaps://, or ldap:// upgraded with
// StartTLS, or plain ldap:// to a loopback address only), binds with the
// configured DN and password, and closes it.
package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/allot-dev/allot/internal/netaddr"
	"github.com/allot-dev/allot/reconciler/idp"
)

// GroupClass is the object class of allot's groups.
type GroupClass string

// The group object classes the backend writes.
const (
	// GroupOfNames keeps members in the member attribute.
	GroupOfNames GroupClass = "groupOfNames"
	// GroupOfUniqueNames keeps members in the uniqueMember attribute.
	GroupOfUniqueNames GroupClass = "groupOfUniqueNames"
)

// DefaultMarker is the description value that marks allot's groups.
const DefaultMarker = "managed-by=allot"

// Defaults for Options.
const (
	DefaultPageSize = 500
	DefaultTimeout  = 30 * time.Second
	// DefaultBusyRetryAfter is how long a caller is told to wait when the
	// server answers "busy" (LDAP has no retry-after of its own).
	DefaultBusyRetryAfter = 30 * time.Second
)

// Options configures a Provider.
type Options struct {
	// URL is the server: ldaps://HOST[:636], or ldap://HOST[:389] with
	// StartTLS. Plain ldap:// without StartTLS is refused unless the host
	// is a loopback address, since the bind password would cross the
	// network in clear.
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool
	// TLSConfig verifies the server for ldaps:// and StartTLS; nil uses
	// the system's roots. ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	// BindDN and BindPassword are the credentials of the account allot
	// uses, which needs to read users and to add, change and delete
	// entries under GroupsBaseDN. They are never logged.
	BindDN       string
	BindPassword string
	// UsersBaseDN is searched, with its whole subtree, for users by mail.
	UsersBaseDN string
	// GroupsBaseDN holds allot's groups, one level below it.
	GroupsBaseDN string
	// GroupClass is GroupOfNames (the default) or GroupOfUniqueNames.
	GroupClass GroupClass
	// Marker is the description value that marks allot's groups;
	// DefaultMarker when empty.
	Marker string
	// PageSize is the page size of the group search (RFC 2696 paged
	// results); DefaultPageSize when zero.
	PageSize uint32
	// Timeout bounds connecting and each LDAP operation; DefaultTimeout
	// when zero. A context deadline, when sooner, wins.
	Timeout time.Duration
	// BusyRetryAfter is the RetryAfter of the *idp.RateLimitError returned
	// when the server answers "busy"; DefaultBusyRetryAfter when zero.
	BusyRetryAfter time.Duration
}

// Provider is an idp.Provider for an LDAP directory. It is safe for concurrent use.
type Provider struct {
	opts       Options
	tls        *tls.Config
	memberAttr string
}

var _ idp.Provider = (*Provider)(nil)

// New checks opts and returns a Provider. It does not connect.
func New(opts Options) (*Provider, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ldap: URL %q is not an ldap:// or ldaps:// address", opts.URL)
	}
	switch u.Scheme {
	case "ldaps":
		if opts.StartTLS {
			return nil, fmt.Errorf("ldap: StartTLS is for ldap:// URLs; %s already uses TLS", opts.URL)
		}
	case "ldap":
		if !opts.StartTLS && !netaddr.IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("ldap: %s would send the bind password in clear; use ldaps:// or set StartTLS", opts.URL)
		}
	default:
		return nil, fmt.Errorf("ldap: URL %q is not an ldap:// or ldaps:// address", opts.URL)
	}
	if opts.BindDN == "" || opts.BindPassword == "" {
		return nil, errors.New("ldap: a bind DN and password are required")
	}
	for _, dn := range []*string{&opts.BindDN, &opts.UsersBaseDN, &opts.GroupsBaseDN} {
		parsed, err := goldap.ParseDN(*dn)
		if err != nil || len(parsed.RDNs) == 0 {
			return nil, fmt.Errorf("ldap: %q is not a distinguished name", *dn)
		}
		// The server returns DNs without the spaces people write after
		// commas; IDs built from the base must read the same.
		*dn = parsed.String()
	}
	p := &Provider{opts: opts}
	switch opts.GroupClass {
	case "", GroupOfNames:
		p.opts.GroupClass, p.memberAttr = GroupOfNames, "member"
	case GroupOfUniqueNames:
		p.memberAttr = "uniqueMember"
	default:
		return nil, fmt.Errorf("ldap: group class %q is neither %s nor %s", opts.GroupClass, GroupOfNames, GroupOfUniqueNames)
	}
	if p.opts.Marker == "" {
		p.opts.Marker = DefaultMarker
	}
	if p.opts.PageSize == 0 {
		p.opts.PageSize = DefaultPageSize
	}
	if p.opts.Timeout == 0 {
		p.opts.Timeout = DefaultTimeout
	}
	if p.opts.BusyRetryAfter == 0 {
		p.opts.BusyRetryAfter = DefaultBusyRetryAfter
	}
	p.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		p.tls = opts.TLSConfig.Clone()
	}
	if p.tls.ServerName == "" {
		p.tls.ServerName = u.Hostname()
	}
	return p, nil
}

// connect dials the server, upgrades to TLS when asked and binds. The
// returned function closes the connection; the connection is also closed
// when ctx ends, which aborts the operation under way.
func (p *Provider) connect(ctx context.Context) (*goldap.Conn, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	dialer := &net.Dialer{Timeout: p.opts.Timeout}
	if deadline, ok := ctx.Deadline(); ok {
		dialer.Deadline = deadline
	}
	conn, err := goldap.DialURL(p.opts.URL, goldap.DialWithDialer(dialer), goldap.DialWithTLSConfig(p.tls))
	if err != nil {
		return nil, nil, p.fail(ctx, "connect to "+p.opts.URL, err)
	}
	conn.SetTimeout(p.opts.Timeout)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	done := func() {
		stop()
		_ = conn.Close()
	}
	if p.opts.StartTLS {
		if err := conn.StartTLS(p.tls); err != nil {
			done()
			return nil, nil, p.fail(ctx, "start TLS with "+p.opts.URL, err)
		}
	}
	if err := conn.Bind(p.opts.BindDN, p.opts.BindPassword); err != nil {
		done()
		return nil, nil, p.fail(ctx, "bind to "+p.opts.URL+" as "+p.opts.BindDN, err)
	}
	return conn, done, nil
}
