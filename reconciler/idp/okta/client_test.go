package okta

import (
	"net/http"
	"testing"
)

func TestNextLink(t *testing.T) {
	h := http.Header{}
	h.Add("Link", `<https://example.okta.com/api/v1/groups?limit=2>; rel="self"`)
	h.Add("Link", `<https://example.okta.com/api/v1/groups?after=00g2&limit=2>; rel="next"`)
	if got, want := nextLink(h), "https://example.okta.com/api/v1/groups?after=00g2&limit=2"; got != want {
		t.Errorf("nextLink = %q, want %q", got, want)
	}
	one := http.Header{"Link": {`<https://a/x?limit=2>; rel="self", <https://a/x?after=1>; rel=next`}}
	if got := nextLink(one); got != "https://a/x?after=1" {
		t.Errorf("nextLink of one combined header = %q", got)
	}
	if got := nextLink(http.Header{"Link": {`<https://a/x>; rel="self"`}}); got != "" {
		t.Errorf("nextLink without next = %q, want empty", got)
	}
}
