package idptest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Okta group types.
const (
	OktaGroup    = "OKTA_GROUP"
	OktaAppGroup = "APP_GROUP"
	OktaBuiltIn  = "BUILT_IN"
)

// OktaOptions tunes NewOkta.
type OktaOptions struct {
	// Token is the API token the server accepts as "SSWS TOKEN";
	// "okta-api-token" when empty.
	Token string
	// PageSize caps every page whatever limit the client asks for;
	// DefaultPageSize when zero.
	PageSize int
	// RetryAfter makes 429 answers carry a Retry-After header as well as
	// Okta's X-Rate-Limit-* headers, as a proxy in front of Okta may.
	RetryAfter bool
}

// Okta is an in-process stand-in for Okta's Users and Groups APIs with
// SSWS API-token authentication: user search (search=profile.email eq
// "x"), group search (search=profile.name sw "x") and group members, both
// paged with limit/after and Link rel="next" headers, group creation and
// deletion, and membership changes. Objects, error bodies (errorCode,
// errorSummary, errorCauses) and rate-limit headers (X-Rate-Limit-Limit,
// -Remaining, -Reset in epoch seconds, with a matching Date) follow
// Okta's documentation. Membership changes on a group that is not an
// OKTA_GROUP are refused with 403.
type Okta struct {
	faults
	opts OktaOptions
	srv  *httptest.Server

	mu     sync.Mutex
	users  []*oktaUser
	groups []*oktaGroup
}

type oktaUser struct {
	ID      string
	Email   string
	Created time.Time
}

type oktaGroup struct {
	ID          string
	Type        string
	Name        string
	Description string
	Members     []string
	Created     time.Time
}

// NewOkta starts a fake Okta org, closed when the test ends.
func NewOkta(t testing.TB, opts OktaOptions) *Okta {
	if opts.Token == "" {
		opts.Token = "okta-api-token"
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	o := &Okta{opts: opts}
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, o.api(h)) }
	api("GET /api/v1/users", o.listUsers)
	api("GET /api/v1/groups", o.listGroups)
	api("POST /api/v1/groups", o.createGroup)
	api("DELETE /api/v1/groups/{id}", o.deleteGroup)
	api("GET /api/v1/groups/{id}/users", o.members)
	api("PUT /api/v1/groups/{id}/users/{user}", o.join)
	api("DELETE /api/v1/groups/{id}/users/{user}", o.leave)
	o.srv = httptest.NewServer(mux)
	t.Cleanup(o.srv.Close)
	return o
}

// URL is the org's base URL, https://ORG.okta.com for a real org.
func (o *Okta) URL() string { return o.srv.URL }

// Token is the API token the server accepts.
func (o *Okta) Token() string { return o.opts.Token }

// AddUser adds an active user whose login and e-mail are email, and
// returns its ID.
func (o *Okta) AddUser(email string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	u := &oktaUser{ID: "00u" + randomID(), Email: email, Created: time.Now().UTC()}
	o.users = append(o.users, u)
	return u.ID
}

// UserID returns the ID of the user with this e-mail, or "".
func (o *Okta) UserID(email string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, u := range o.users {
		if strings.EqualFold(u.Email, email) {
			return u.ID
		}
	}
	return ""
}

// AddGroup adds a group of type typ (OktaGroup, OktaAppGroup...) as an
// administrator or an imported directory would, and returns its ID.
func (o *Okta) AddGroup(typ, name, description string, memberIDs ...string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := &oktaGroup{
		ID: "00g" + randomID(), Type: typ, Name: name, Description: description,
		Members: slices.Clone(memberIDs), Created: time.Now().UTC(),
	}
	o.groups = append(o.groups, g)
	return g.ID
}

func (u *oktaUser) json(base string) map[string]any {
	ts := u.Created.Format("2006-01-02T15:04:05.000Z")
	return map[string]any{
		"id":          u.ID,
		"status":      "ACTIVE",
		"created":     ts,
		"activated":   ts,
		"lastUpdated": ts,
		"profile": map[string]any{
			"login":     u.Email,
			"email":     u.Email,
			"firstName": strings.SplitN(u.Email, "@", 2)[0],
			"lastName":  "Test",
		},
		"_links": map[string]any{"self": map[string]string{"href": base + "/api/v1/users/" + u.ID}},
	}
}

func (g *oktaGroup) json(base string) map[string]any {
	ts := g.Created.Format("2006-01-02T15:04:05.000Z")
	objectClass := "okta:user_group"
	if g.Type == OktaAppGroup {
		objectClass = "okta:windows_security_principal"
	}
	return map[string]any{
		"id":                    g.ID,
		"created":               ts,
		"lastUpdated":           ts,
		"lastMembershipUpdated": ts,
		"objectClass":           []string{objectClass},
		"type":                  g.Type,
		"profile":               map[string]any{"name": g.Name, "description": g.Description},
		"_links": map[string]any{
			"self":  map[string]string{"href": base + "/api/v1/groups/" + g.ID},
			"users": map[string]string{"href": base + "/api/v1/groups/" + g.ID + "/users"},
		},
	}
}

// oktaError writes Okta's error body.
func oktaError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	var cs []map[string]string
	for _, c := range causes {
		cs = append(cs, map[string]string{"errorSummary": c})
	}
	if cs == nil {
		cs = []map[string]string{}
	}
	writeJSON(w, status, map[string]any{
		"errorCode":    code,
		"errorSummary": summary,
		"errorLink":    code,
		"errorId":      "oae" + randomID(),
		"errorCauses":  cs,
	})
}

// api checks the API token and the rate limit of a request.
func (o *Okta) api(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "SSWS "+o.opts.Token {
			oktaError(w, http.StatusUnauthorized, "E0000011", "Invalid token provided")
			return
		}
		if d := o.takeRateLimit(); d > 0 {
			now := time.Now().UTC().Truncate(time.Second)
			w.Header().Set("Date", now.Format(http.TimeFormat))
			w.Header().Set("X-Rate-Limit-Limit", "600")
			w.Header().Set("X-Rate-Limit-Remaining", "0")
			w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Add(d).Unix(), 10))
			if o.opts.RetryAfter {
				w.Header().Set("Retry-After", seconds(d))
			}
			oktaError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
			return
		}
		o.count(r)
		o.mu.Lock()
		defer o.mu.Unlock()
		next(w, r)
	})
}

// searchExpr matches the one-clause search expressions the fake serves:
// ATTRIBUTE eq|sw "VALUE".
var searchExpr = regexp.MustCompile(`^(\S+) (eq|sw) "((?:[^"\\]|\\.)*)"$`)

// parseSearch reads `attr op "value"`, unescaping the value.
func parseSearch(s string) (attr, op, value string, ok bool) {
	m := searchExpr.FindStringSubmatch(s)
	if m == nil {
		return "", "", "", false
	}
	value = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[3])
	return m[1], m[2], value, true
}

func (o *Okta) listUsers(w http.ResponseWriter, r *http.Request) {
	attr, op, value, ok := parseSearch(r.URL.Query().Get("search"))
	if !ok || attr != "profile.email" || op != "eq" {
		oktaError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.")
		return
	}
	var matched []*oktaUser
	for _, u := range o.users {
		if strings.EqualFold(u.Email, value) {
			matched = append(matched, u)
		}
	}
	writePageOf(o, w, r, matched, func(u *oktaUser) string { return u.ID }, func(u *oktaUser) any { return u.json(o.srv.URL) })
}

func (o *Okta) listGroups(w http.ResponseWriter, r *http.Request) {
	search := r.URL.Query().Get("search")
	attr, op, value, ok := parseSearch(search)
	if search != "" && (!ok || attr != "profile.name" || (op != "sw" && op != "eq")) {
		oktaError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.")
		return
	}
	var matched []*oktaGroup
	for _, g := range o.groups {
		name, v := strings.ToLower(g.Name), strings.ToLower(value)
		if search == "" || (op == "sw" && strings.HasPrefix(name, v)) || (op == "eq" && name == v) {
			matched = append(matched, g)
		}
	}
	writePageOf(o, w, r, matched, func(g *oktaGroup) string { return g.ID }, func(g *oktaGroup) any { return g.json(o.srv.URL) })
}

// writePageOf writes the page of items after the request's cursor, with
// Link headers for this page and, when there is more, the next.
func writePageOf[T any](o *Okta, w http.ResponseWriter, r *http.Request, items []T, id func(T) string, render func(T) any) {
	first := 0
	if after := r.URL.Query().Get("after"); after != "" {
		first = slices.IndexFunc(items, func(it T) bool { return id(it) == after }) + 1
		if first == 0 {
			oktaError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", "after: invalid cursor")
			return
		}
	}
	limit := intParam(r, "limit", o.opts.PageSize)
	got := page(items, first, limit, o.opts.PageSize)
	self := *r.URL
	self.Scheme, self.Host = "http", r.Host
	w.Header().Add("Link", "<"+self.String()+`>; rel="self"`)
	if first+len(got) < len(items) && len(got) > 0 {
		next := self
		q := next.Query()
		q.Set("after", id(got[len(got)-1]))
		next.RawQuery = q.Encode()
		w.Header().Add("Link", "<"+next.String()+`>; rel="next"`)
	}
	out := []any{}
	for _, it := range got {
		out = append(out, render(it))
	}
	writeJSON(w, http.StatusOK, out)
}

func (o *Okta) createGroup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Profile struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"profile"`
	}
	if err := readJSON(r, &body); err != nil || body.Profile.Name == "" {
		oktaError(w, http.StatusBadRequest, "E0000001", "Api validation failed: name", "name: The field cannot be left blank")
		return
	}
	for _, g := range o.groups {
		if strings.EqualFold(g.Name, body.Profile.Name) {
			oktaError(w, http.StatusBadRequest, "E0000001", "Api validation failed: name",
				"name: An object with this field already exists in the current organization")
			return
		}
	}
	g := &oktaGroup{
		ID: "00g" + randomID(), Type: OktaGroup, Name: body.Profile.Name,
		Description: body.Profile.Description, Created: time.Now().UTC(),
	}
	o.groups = append(o.groups, g)
	writeJSON(w, http.StatusOK, g.json(o.srv.URL))
}

func (o *Okta) deleteGroup(w http.ResponseWriter, r *http.Request) {
	i := o.groupIndex(r.PathValue("id"))
	if i < 0 {
		o.notFound(w, r.PathValue("id"), "UserGroup")
		return
	}
	if o.groups[i].Type == OktaBuiltIn {
		oktaError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return
	}
	o.groups = slices.Delete(o.groups, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (o *Okta) members(w http.ResponseWriter, r *http.Request) {
	i := o.groupIndex(r.PathValue("id"))
	if i < 0 {
		o.notFound(w, r.PathValue("id"), "UserGroup")
		return
	}
	var users []*oktaUser
	for _, id := range o.groups[i].Members {
		if u := o.user(id); u != nil {
			users = append(users, u)
		}
	}
	writePageOf(o, w, r, users, func(u *oktaUser) string { return u.ID }, func(u *oktaUser) any { return u.json(o.srv.URL) })
}

func (o *Okta) join(w http.ResponseWriter, r *http.Request) {
	g, u, ok := o.membership(w, r)
	if !ok {
		return
	}
	if !slices.Contains(g.Members, u.ID) {
		g.Members = append(g.Members, u.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *Okta) leave(w http.ResponseWriter, r *http.Request) {
	g, u, ok := o.membership(w, r)
	if !ok {
		return
	}
	g.Members = slices.DeleteFunc(g.Members, func(id string) bool { return id == u.ID })
	w.WriteHeader(http.StatusNoContent)
}

// membership finds the group and user of a membership change; only
// OKTA_GROUP memberships can be changed through the API.
func (o *Okta) membership(w http.ResponseWriter, r *http.Request) (*oktaGroup, *oktaUser, bool) {
	i := o.groupIndex(r.PathValue("id"))
	if i < 0 {
		o.notFound(w, r.PathValue("id"), "UserGroup")
		return nil, nil, false
	}
	u := o.user(r.PathValue("user"))
	if u == nil {
		o.notFound(w, r.PathValue("user"), "User")
		return nil, nil, false
	}
	if o.groups[i].Type != OktaGroup {
		oktaError(w, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
		return nil, nil, false
	}
	return o.groups[i], u, true
}

func (o *Okta) notFound(w http.ResponseWriter, id, kind string) {
	oktaError(w, http.StatusNotFound, "E0000007", fmt.Sprintf("Not found: Resource not found: %s (%s)", id, kind))
}

func (o *Okta) user(id string) *oktaUser {
	for _, u := range o.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (o *Okta) groupIndex(id string) int {
	return slices.IndexFunc(o.groups, func(g *oktaGroup) bool { return g.ID == id })
}
