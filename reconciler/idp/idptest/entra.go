package idptest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// graphScope is the scope a client-credentials token for Microsoft Graph
// asks for.
const graphScope = "https://graph.microsoft.com/.default"

// EntraOptions tunes NewEntra.
type EntraOptions struct {
	// Tenant is the tenant in the token endpoint's path; "allot-tenant"
	// when empty.
	Tenant string
	// ClientID and ClientSecret are the app registration's credentials;
	// "allot-app" and "allot-secret" when empty.
	ClientID, ClientSecret string
	// TokenLifetime is the expires_in of issued tokens; 3599s when zero,
	// as Entra ID's.
	TokenLifetime time.Duration
	// PageSize caps every page whatever $top the client asks for;
	// DefaultPageSize when zero.
	PageSize int
}

// Entra is an in-process stand-in for Microsoft Entra ID: the v2.0
// client-credentials token endpoint of one tenant, and the Microsoft
// Graph v1.0 calls on users and groups the entra backend makes: user
// lookup ($filter=mail eq 'x'), group listing ($filter=startswith(
// displayName,'x') or displayName eq 'x'), group members, both paged with
// @odata.nextLink, group creation and deletion, and member references
// (members/$ref). Bodies, error shapes ({"error":{"code","message"}}) and
// the 429 Retry-After header follow Graph's documentation; Graph's own
// quirks are kept: display names need not be unique, adding a member
// twice is a 400, removing a non-member a 404.
type Entra struct {
	faults
	tokens
	opts EntraOptions
	srv  *httptest.Server

	mu     sync.Mutex
	users  []*entraUser
	groups []*entraGroup
}

type entraUser struct {
	ID   string
	Mail string
}

type entraGroup struct {
	ID              string
	DisplayName     string
	Description     string
	MailNickname    string
	SecurityEnabled bool
	MailEnabled     bool
	GroupTypes      []string
	Members         []string
	Created         time.Time
}

// NewEntra starts a fake Entra ID tenant, closed when the test ends.
func NewEntra(t testing.TB, opts EntraOptions) *Entra {
	if opts.Tenant == "" {
		opts.Tenant = "allot-tenant"
	}
	if opts.ClientID == "" {
		opts.ClientID = "allot-app"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "allot-secret"
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = 3599 * time.Second
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	e := &Entra{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", e.token)
	graph := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, e.graph(h)) }
	graph("GET /v1.0/users", e.listUsers)
	graph("GET /v1.0/groups", e.listGroups)
	graph("POST /v1.0/groups", e.createGroup)
	graph("DELETE /v1.0/groups/{id}", e.deleteGroup)
	graph("GET /v1.0/groups/{id}/members", e.members)
	graph("POST /v1.0/groups/{id}/members/$ref", e.addMember)
	graph("DELETE /v1.0/groups/{id}/members/{member}/$ref", e.removeMember)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// GraphURL is the Graph base URL, https://graph.microsoft.com for the
// real service.
func (e *Entra) GraphURL() string { return e.srv.URL }

// TokenURL is the tenant's token endpoint,
// https://login.microsoftonline.com/TENANT/oauth2/v2.0/token for the real
// service.
func (e *Entra) TokenURL() string { return e.srv.URL + "/" + e.opts.Tenant + "/oauth2/v2.0/token" }

// ClientID is the app registration's client ID.
func (e *Entra) ClientID() string { return e.opts.ClientID }

// ClientSecret is the app registration's secret.
func (e *Entra) ClientSecret() string { return e.opts.ClientSecret }

// AddUser adds a user with this mail and returns its object ID.
func (e *Entra) AddUser(mail string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := &entraUser{ID: newUUID(), Mail: mail}
	e.users = append(e.users, u)
	return u.ID
}

// UserID returns the object ID of the user with this mail, or "".
func (e *Entra) UserID(mail string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, u := range e.users {
		if strings.EqualFold(u.Mail, mail) {
			return u.ID
		}
	}
	return ""
}

// AddGroup adds a security group as an administrator would in the portal,
// and returns its object ID.
func (e *Entra) AddGroup(displayName, description string, memberIDs ...string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := &entraGroup{
		ID: newUUID(), DisplayName: displayName, Description: description,
		MailNickname: "g" + randomID(), SecurityEnabled: true, GroupTypes: []string{},
		Members: slices.Clone(memberIDs), Created: time.Now().UTC(),
	}
	e.groups = append(e.groups, g)
	return g.ID
}

func (u *entraUser) json() map[string]any {
	local := strings.SplitN(u.Mail, "@", 2)[0]
	return map[string]any{
		"@odata.type":       "#microsoft.graph.user",
		"id":                u.ID,
		"displayName":       local,
		"givenName":         local,
		"surname":           "Test",
		"mail":              u.Mail,
		"userPrincipalName": u.Mail,
		"businessPhones":    []string{},
	}
}

func (g *entraGroup) json() map[string]any {
	return map[string]any{
		"id":                    g.ID,
		"createdDateTime":       g.Created.Format(time.RFC3339),
		"displayName":           g.DisplayName,
		"description":           nullable(g.Description),
		"mail":                  nil,
		"mailEnabled":           g.MailEnabled,
		"mailNickname":          g.MailNickname,
		"securityEnabled":       g.SecurityEnabled,
		"groupTypes":            g.GroupTypes,
		"visibility":            nil,
		"onPremisesSyncEnabled": nil,
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// graphError writes Graph's error body.
func graphError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]string{
			"date":       time.Now().UTC().Format(time.RFC3339),
			"request-id": newUUID(),
		},
	}})
}

// token is the v2.0 client-credentials grant.
func (e *Entra) token(w http.ResponseWriter, r *http.Request) {
	aad := func(status int, code, description string, number int) {
		writeJSON(w, status, map[string]any{
			"error":             code,
			"error_description": fmt.Sprintf("AADSTS%d: %s", number, description),
			"error_codes":       []int{number},
			"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
			"trace_id":          newUUID(),
			"correlation_id":    newUUID(),
			"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", number),
		})
	}
	if r.PathValue("tenant") != e.opts.Tenant {
		aad(http.StatusBadRequest, "invalid_request", "Tenant '"+r.PathValue("tenant")+"' not found.", 90002)
		return
	}
	if err := r.ParseForm(); err != nil {
		aad(http.StatusBadRequest, "invalid_request", "The request body must contain the following parameter: 'grant_type'.", 900144)
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		aad(http.StatusBadRequest, "unsupported_grant_type", "The provided value for the input parameter 'grant_type' is not valid.", 70003)
		return
	}
	if r.PostForm.Get("scope") != graphScope {
		aad(http.StatusBadRequest, "invalid_scope", "The provided value for the input parameter 'scope' is not valid.", 70011)
		return
	}
	id, secret := clientCredentials(r)
	if id != e.opts.ClientID {
		aad(http.StatusBadRequest, "unauthorized_client", "Application with identifier '"+id+"' was not found in the directory.", 700016)
		return
	}
	if secret != e.opts.ClientSecret {
		aad(http.StatusUnauthorized, "invalid_client", "Invalid client secret provided.", 7000215)
		return
	}
	lifetime := int(e.opts.TokenLifetime / time.Second)
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     lifetime,
		"ext_expires_in": lifetime,
		"access_token":   e.issue(),
	})
}

// graph checks the bearer token and the rate limit of a Graph request.
func (e *Entra) graph(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.valid(r) {
			graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
			return
		}
		if d := e.takeRateLimit(); d > 0 {
			w.Header().Set("Retry-After", seconds(d))
			graphError(w, http.StatusTooManyRequests, "TooManyRequests", "Too many requests")
			return
		}
		e.count(r)
		e.mu.Lock()
		defer e.mu.Unlock()
		next(w, r)
	})
}

var (
	filterEq         = regexp.MustCompile(`^(\w+) eq '((?:[^']|'')*)'$`)
	filterStartsWith = regexp.MustCompile(`^startswith\((\w+),\s*'((?:[^']|'')*)'\)$`)
)

// parseFilter reads the one-clause OData filters the fake serves.
func parseFilter(s string) (fn, prop, value string, ok bool) {
	if m := filterEq.FindStringSubmatch(s); m != nil {
		return "eq", m[1], strings.ReplaceAll(m[2], "''", "'"), true
	}
	if m := filterStartsWith.FindStringSubmatch(s); m != nil {
		return "startswith", m[1], strings.ReplaceAll(m[2], "''", "'"), true
	}
	return "", "", "", false
}

func (e *Entra) listUsers(w http.ResponseWriter, r *http.Request) {
	fn, prop, value, ok := parseFilter(r.URL.Query().Get("$filter"))
	if !ok || fn != "eq" || prop != "mail" {
		graphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
		return
	}
	var matched []*entraUser
	for _, u := range e.users {
		if strings.EqualFold(u.Mail, value) {
			matched = append(matched, u)
		}
	}
	writeCollection(e, w, r, "users", matched, (*entraUser).json)
}

func (e *Entra) listGroups(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("$filter")
	fn, prop, value, ok := parseFilter(filter)
	if filter != "" && (!ok || prop != "displayName") {
		graphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified.")
		return
	}
	var matched []*entraGroup
	for _, g := range e.groups {
		name, v := strings.ToLower(g.DisplayName), strings.ToLower(value)
		if filter == "" || (fn == "eq" && name == v) || (fn == "startswith" && strings.HasPrefix(name, v)) {
			matched = append(matched, g)
		}
	}
	writeCollection(e, w, r, "groups", matched, (*entraGroup).json)
}

// writeCollection writes one page of items with an @odata.nextLink to the
// next when there is more. The skip token is the offset.
func writeCollection[T any](e *Entra, w http.ResponseWriter, r *http.Request, context string, items []T, render func(T) map[string]any) {
	first := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "X"))
		if err != nil || n < 0 {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid paging token.")
			return
		}
		first = n
	}
	got := page(items, first, intParam(r, "$top", e.opts.PageSize), e.opts.PageSize)
	values := []map[string]any{}
	for _, it := range got {
		values = append(values, render(it))
	}
	body := map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + context,
		"value":          values,
	}
	if end := first + len(got); end < len(items) && len(got) > 0 {
		next := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		q := r.URL.Query()
		q.Set("$skiptoken", "X"+strconv.Itoa(end))
		next.RawQuery = q.Encode()
		body["@odata.nextLink"] = next.String()
	}
	writeJSON(w, http.StatusOK, body)
}

func (e *Entra) createGroup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DisplayName     string   `json:"displayName"`
		Description     string   `json:"description"`
		MailEnabled     *bool    `json:"mailEnabled"`
		MailNickname    string   `json:"mailNickname"`
		SecurityEnabled *bool    `json:"securityEnabled"`
		GroupTypes      []string `json:"groupTypes"`
	}
	if err := readJSON(r, &body); err != nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload.")
		return
	}
	for prop, missing := range map[string]bool{
		"displayName":     body.DisplayName == "",
		"mailNickname":    body.MailNickname == "",
		"mailEnabled":     body.MailEnabled == nil,
		"securityEnabled": body.SecurityEnabled == nil,
	} {
		if missing {
			graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property '"+prop+"' of resource 'Group'.")
			return
		}
	}
	if len(body.MailNickname) > 64 || strings.ContainsAny(body.MailNickname, "@()\\[]\";:<>, ") {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of resource 'Group'.")
		return
	}
	if body.GroupTypes == nil {
		body.GroupTypes = []string{}
	}
	g := &entraGroup{
		ID: newUUID(), DisplayName: body.DisplayName, Description: body.Description,
		MailNickname: body.MailNickname, MailEnabled: *body.MailEnabled, SecurityEnabled: *body.SecurityEnabled,
		GroupTypes: body.GroupTypes, Created: time.Now().UTC(),
	}
	e.groups = append(e.groups, g)
	w.Header().Set("Location", "https://graph.microsoft.com/v2/directoryObjects/"+g.ID+"/Microsoft.DirectoryServices.Group")
	writeJSON(w, http.StatusCreated, g.json())
}

func (e *Entra) deleteGroup(w http.ResponseWriter, r *http.Request) {
	i := e.groupIndex(r.PathValue("id"))
	if i < 0 {
		notFoundResource(w, r.PathValue("id"))
		return
	}
	e.groups = slices.Delete(e.groups, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

func (e *Entra) members(w http.ResponseWriter, r *http.Request) {
	i := e.groupIndex(r.PathValue("id"))
	if i < 0 {
		notFoundResource(w, r.PathValue("id"))
		return
	}
	var users []*entraUser
	for _, id := range e.groups[i].Members {
		if u := e.user(id); u != nil {
			users = append(users, u)
		}
	}
	writeCollection(e, w, r, "directoryObjects", users, (*entraUser).json)
}

// addMember adds the directory object @odata.id names; 400 when it is
// already a member, as Graph answers.
func (e *Entra) addMember(w http.ResponseWriter, r *http.Request) {
	i := e.groupIndex(r.PathValue("id"))
	if i < 0 {
		notFoundResource(w, r.PathValue("id"))
		return
	}
	var body struct {
		ID string `json:"@odata.id"`
	}
	if err := readJSON(r, &body); err != nil || body.ID == "" {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier ''.")
		return
	}
	ref, err := url.Parse(body.ID)
	if err != nil || !strings.HasSuffix(path.Dir(ref.Path), "/directoryObjects") && !strings.HasSuffix(path.Dir(ref.Path), "/users") {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid object identifier '"+body.ID+"'.")
		return
	}
	id := path.Base(ref.Path)
	if e.user(id) == nil {
		notFoundResource(w, id)
		return
	}
	g := e.groups[i]
	if slices.Contains(g.Members, id) {
		graphError(w, http.StatusBadRequest, "Request_BadRequest",
			"One or more added object references already exist for the following modified properties: 'members'.")
		return
	}
	g.Members = append(g.Members, id)
	w.WriteHeader(http.StatusNoContent)
}

// removeMember removes a member reference; 404 when it is not a member.
func (e *Entra) removeMember(w http.ResponseWriter, r *http.Request) {
	i := e.groupIndex(r.PathValue("id"))
	if i < 0 {
		notFoundResource(w, r.PathValue("id"))
		return
	}
	g, id := e.groups[i], r.PathValue("member")
	if !slices.Contains(g.Members, id) {
		notFoundResource(w, id)
		return
	}
	g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
	w.WriteHeader(http.StatusNoContent)
}

func notFoundResource(w http.ResponseWriter, id string) {
	graphError(w, http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func (e *Entra) user(id string) *entraUser {
	for _, u := range e.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (e *Entra) groupIndex(id string) int {
	return slices.IndexFunc(e.groups, func(g *entraGroup) bool { return g.ID == id })
}
