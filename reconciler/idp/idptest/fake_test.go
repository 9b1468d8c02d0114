package idptest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests pin the documented shapes the fakes serve, so that a change
// to a fake that would let a backend drift from the real service shows.

func send(t *testing.T, method, target, auth, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func TestKeycloakShapes(t *testing.T) {
	kc := NewKeycloak(t, KeycloakOptions{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {kc.ClientID()}, "client_secret": {"wrong"}}.Encode()
	tokenURL := kc.URL() + "/realms/" + kc.Realm() + "/protocol/openid-connect/token"
	resp, data := send(t, "POST", tokenURL, "", "application/x-www-form-urlencoded", form)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(data), `"unauthorized_client"`) {
		t.Errorf("token with a wrong secret: %s %s, want 401 unauthorized_client", resp.Status, data)
	}
	form = url.Values{"grant_type": {"client_credentials"}, "client_id": {kc.ClientID()}, "client_secret": {kc.ClientSecret()}}.Encode()
	_, data = send(t, "POST", tokenURL, "", "application/x-www-form-urlencoded", form)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	decode(t, data, &tok)
	bearer := "Bearer " + tok.AccessToken
	admin := kc.URL() + "/admin/realms/" + kc.Realm()

	resp, _ = send(t, "POST", admin+"/groups", bearer, "application/json", `{"name":"g","attributes":{"k":["v"]}}`)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(resp.Header.Get("Location"), admin+"/groups/") {
		t.Errorf("create group: %s, Location %q; want 201 and the group's URL", resp.Status, resp.Header.Get("Location"))
	}
	_, data = send(t, "GET", admin+"/groups?search=g", bearer, "", "")
	if strings.Contains(string(data), "attributes") {
		t.Errorf("groups in brief representation carry attributes: %s", data)
	}
	_, data = send(t, "GET", admin+"/groups?search=g&briefRepresentation=false", bearer, "", "")
	if !strings.Contains(string(data), `"attributes":{"k":["v"]}`) {
		t.Errorf("groups in full representation lack attributes: %s", data)
	}
	resp, data = send(t, "POST", admin+"/groups", bearer, "application/json", `{"name":"g"}`)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(data), "errorMessage") {
		t.Errorf("create a taken group: %s %s, want 409 with errorMessage", resp.Status, data)
	}
}

func TestOktaShapes(t *testing.T) {
	o := NewOkta(t, OktaOptions{})
	auth := "SSWS " + o.Token()
	for _, name := range []string{"allot-a", "allot-b", "allot-c"} {
		o.AddGroup(OktaGroup, name, "")
	}
	q := url.Values{"search": {`profile.name sw "allot-"`}, "limit": {"200"}}.Encode()
	resp, data := send(t, "GET", o.URL()+"/api/v1/groups?"+q, auth, "", "")
	var first []map[string]any
	decode(t, data, &first)
	var next string
	for _, link := range resp.Header.Values("Link") {
		if strings.HasSuffix(link, `rel="next"`) {
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if len(first) != DefaultPageSize || next == "" {
		t.Fatalf("first page: %d groups, next %q; want %d and a next link", len(first), next, DefaultPageSize)
	}
	resp, data = send(t, "GET", next, auth, "", "")
	var second []map[string]any
	decode(t, data, &second)
	if len(second) != 1 || len(resp.Header.Values("Link")) != 1 {
		t.Errorf("second page: %d groups, links %v; want 1 and only a self link", len(second), resp.Header.Values("Link"))
	}
	if first[0]["type"] != OktaGroup || first[0]["profile"].(map[string]any)["name"] != "allot-a" {
		t.Errorf("group object: %v", first[0])
	}

	o.RateLimitNext(9 * time.Second)
	resp, data = send(t, "GET", o.URL()+"/api/v1/groups?"+q, auth, "", "")
	date, _ := http.ParseTime(resp.Header.Get("Date"))
	reset, _ := strconv.ParseInt(resp.Header.Get("X-Rate-Limit-Reset"), 10, 64)
	if resp.StatusCode != http.StatusTooManyRequests || reset-date.Unix() != 9 || !strings.Contains(string(data), "E0000047") {
		t.Errorf("rate limited: %s, Date %s, reset %d, %s; want 429, reset 9s after Date, E0000047",
			resp.Status, resp.Header.Get("Date"), reset, data)
	}
	resp, data = send(t, "GET", o.URL()+"/api/v1/groups", "SSWS wrong", "", "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(data), "E0000011") {
		t.Errorf("bad token: %s %s, want 401 E0000011", resp.Status, data)
	}
}

func TestEntraShapes(t *testing.T) {
	e := NewEntra(t, EntraOptions{})
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {e.ClientID()},
		"client_secret": {e.ClientSecret()}, "scope": {graphScope},
	}.Encode()
	_, data := send(t, "POST", e.TokenURL(), "", "application/x-www-form-urlencoded", form)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	decode(t, data, &tok)
	bearer := "Bearer " + tok.AccessToken
	ada := e.AddUser("ada@example.com")
	for _, name := range []string{"allot-a", "allot-b", "allot-c"} {
		e.AddGroup(name, "")
	}
	filter := url.QueryEscape("startswith(displayName,'allot-')")
	_, data = send(t, "GET", e.GraphURL()+"/v1.0/groups?$filter="+filter, bearer, "", "")
	var page struct {
		Value    []map[string]any `json:"value"`
		NextLink string           `json:"@odata.nextLink"`
	}
	decode(t, data, &page)
	if len(page.Value) != DefaultPageSize || page.NextLink == "" {
		t.Fatalf("first page: %d groups, next %q; want %d and a next link", len(page.Value), page.NextLink, DefaultPageSize)
	}
	gid := page.Value[0]["id"].(string)
	ref := `{"@odata.id":"https://graph.microsoft.com/v1.0/directoryObjects/` + ada + `"}`
	resp, _ := send(t, "POST", e.GraphURL()+"/v1.0/groups/"+gid+"/members/$ref", bearer, "application/json", ref)
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("add member: %s, want 204", resp.Status)
	}
	resp, data = send(t, "POST", e.GraphURL()+"/v1.0/groups/"+gid+"/members/$ref", bearer, "application/json", ref)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "already exist") {
		t.Errorf("add member twice: %s %s, want 400 saying it already exists", resp.Status, data)
	}
	resp, _ = send(t, "DELETE", e.GraphURL()+"/v1.0/groups/"+gid+"/members/"+ada+"/$ref", bearer, "", "")
	resp2, _ := send(t, "DELETE", e.GraphURL()+"/v1.0/groups/"+gid+"/members/"+ada+"/$ref", bearer, "", "")
	if resp.StatusCode != http.StatusNoContent || resp2.StatusCode != http.StatusNotFound {
		t.Errorf("remove member, twice: %s then %s, want 204 then 404", resp.Status, resp2.Status)
	}
	e.RateLimitNext(3 * time.Second)
	resp, _ = send(t, "GET", e.GraphURL()+"/v1.0/groups", bearer, "", "")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("rate limited: %s, Retry-After %q; want 429 and 3", resp.Status, resp.Header.Get("Retry-After"))
	}
}
