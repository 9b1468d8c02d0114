package restapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/allot-dev/allot/internal/netaddr"
)

// ParseURL checks the URL of a service endpoint, what names it in errors
// ("URL", "token URL"): https, or plain http to a loopback address only,
// so that no credential crosses a network in clear; a host; and no user,
// query or fragment, since credentials come from allot.yaml's idp
// settings. It returns the URL without a trailing slash.
func ParseURL(backend, what, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, fmt.Errorf("%s: the %s does not parse: %w", backend, what, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%s: the %s %q must be https://host/path", backend, what, u.Redacted())
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: the %s %q must have no user, query or fragment; credentials go in allot.yaml's idp settings", backend, what, u.Redacted())
	}
	if u.Scheme == "http" && !netaddr.IsLoopback(u.Host) {
		return nil, fmt.Errorf("%s: the %s %q is plain http to a host that is not loopback; use https so that credentials do not cross the network in clear", backend, what, u.Redacted())
	}
	return u, nil
}
