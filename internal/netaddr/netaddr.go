// Package netaddr holds allot's one rule for "is this address this
// machine": plain http, plain LDAP and the like are allowed only to such
// an address, so that no credential crosses a network in clear.
package netaddr

import (
	"net"
	"net/netip"
	"strings"
)

// IsLoopback reports whether host, with or without a port ("127.0.0.1",
// "[::1]:8080", "LocalHost:389"), certainly names this machine: the name
// localhost in any case (with or without the root's trailing dot), any
// address of 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address. Names
// below localhost ("x.localhost") are not: not every resolver keeps them
// on this machine.
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
