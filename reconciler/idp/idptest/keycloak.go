package idptest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// KeycloakOptions tunes NewKeycloak.
type KeycloakOptions struct {
	// Realm is the one realm the server has; "allot" when empty. Its
	// service-account client gets tokens from the same realm.
	Realm string
	// ClientID and ClientSecret are the credentials of the confidential
	// client that may use the admin API; "allot" and "allot-secret" when
	// empty.
	ClientID, ClientSecret string
	// TokenLifetime is the expires_in of issued tokens; 5 minutes when
	// zero, as Keycloak's default access-token lifespan.
	TokenLifetime time.Duration
}

// Keycloak is an in-process stand-in for the Keycloak admin REST API:
// the client-credentials token endpoint of one realm, user search by
// e-mail, top-level group search with first/max pagination, group
// creation with attributes, group members with first/max pagination,
// membership changes through the user's groups, and group deletion.
// Representations follow Keycloak's UserRepresentation and
// GroupRepresentation; groups come back without their attributes unless
// the client asks for briefRepresentation=false, as Keycloak does.
type Keycloak struct {
	faults
	tokens
	opts KeycloakOptions
	srv  *httptest.Server

	mu     sync.Mutex
	users  []*kcUser
	groups []*kcGroup
}

type kcUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Enabled  bool   `json:"enabled"`
	Created  int64  `json:"createdTimestamp"`
}

type kcGroup struct {
	ID         string
	Name       string
	Attributes map[string][]string
	Members    []string
}

// representation renders g as a GroupRepresentation.
func (g *kcGroup) representation(brief bool) map[string]any {
	rep := map[string]any{
		"id":            g.ID,
		"name":          g.Name,
		"path":          "/" + g.Name,
		"subGroupCount": 0,
		"subGroups":     []any{},
	}
	if !brief {
		attrs := g.Attributes
		if attrs == nil {
			attrs = map[string][]string{}
		}
		rep["attributes"] = attrs
		rep["realmRoles"] = []string{}
		rep["clientRoles"] = map[string]any{}
		rep["access"] = map[string]bool{"view": true, "manage": true, "manageMembership": true}
	}
	return rep
}

// NewKeycloak starts a fake Keycloak, closed when the test ends.
func NewKeycloak(t testing.TB, opts KeycloakOptions) *Keycloak {
	if opts.Realm == "" {
		opts.Realm = "allot"
	}
	if opts.ClientID == "" {
		opts.ClientID = "allot"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "allot-secret"
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = 5 * time.Minute
	}
	k := &Keycloak{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /realms/{realm}/protocol/openid-connect/token", k.token)
	admin := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, k.admin(h)) }
	admin("GET /admin/realms/{realm}/users", k.listUsers)
	admin("GET /admin/realms/{realm}/groups", k.listGroups)
	admin("POST /admin/realms/{realm}/groups", k.createGroup)
	admin("DELETE /admin/realms/{realm}/groups/{id}", k.deleteGroup)
	admin("GET /admin/realms/{realm}/groups/{id}/members", k.members)
	admin("PUT /admin/realms/{realm}/users/{user}/groups/{group}", k.join)
	admin("DELETE /admin/realms/{realm}/users/{user}/groups/{group}", k.leave)
	k.srv = httptest.NewServer(mux)
	t.Cleanup(k.srv.Close)
	return k
}

// URL is the server's base URL, without the /admin or /realms paths.
func (k *Keycloak) URL() string { return k.srv.URL }

// Realm is the server's realm.
func (k *Keycloak) Realm() string { return k.opts.Realm }

// ClientID is the client that may get tokens.
func (k *Keycloak) ClientID() string { return k.opts.ClientID }

// ClientSecret is that client's secret.
func (k *Keycloak) ClientSecret() string { return k.opts.ClientSecret }

// AddUser adds a user with this e-mail (Keycloak keeps e-mails lower
// case) and returns its ID.
func (k *Keycloak) AddUser(email string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	u := &kcUser{
		ID:       newUUID(),
		Username: strings.ToLower(email),
		Email:    strings.ToLower(email),
		Enabled:  true,
		Created:  time.Now().UnixMilli(),
	}
	k.users = append(k.users, u)
	return u.ID
}

// UserID returns the ID of the user with this e-mail, or "".
func (k *Keycloak) UserID(email string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, u := range k.users {
		if strings.EqualFold(u.Email, email) {
			return u.ID
		}
	}
	return ""
}

// AddGroup adds a top-level group with these attributes and members, as
// an administrator would in the console, and returns its ID.
func (k *Keycloak) AddGroup(name string, attributes map[string][]string, memberIDs ...string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := &kcGroup{ID: newUUID(), Name: name, Attributes: attributes, Members: slices.Clone(memberIDs)}
	k.groups = append(k.groups, g)
	return g.ID
}

// token is the client-credentials grant of the realm's token endpoint.
func (k *Keycloak) token(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("realm") != k.opts.Realm {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm does not exist"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{
			"error": "unsupported_grant_type", "error_description": "Unsupported grant_type",
		})
		return
	}
	id, secret := clientCredentials(r)
	if id != k.opts.ClientID || secret != k.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials",
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":       k.issue(),
		"expires_in":         int(k.opts.TokenLifetime / time.Second),
		"refresh_expires_in": 0,
		"token_type":         "Bearer",
		"not-before-policy":  0,
		"scope":              "profile email",
	})
}

// admin checks the bearer token, the realm and the rate limit of an admin
// API request.
func (k *Keycloak) admin(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.valid(r) {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "HTTP 401 Unauthorized"})
			return
		}
		if d := k.takeRateLimit(); d > 0 {
			w.Header().Set("Retry-After", seconds(d))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "Too Many Requests"})
			return
		}
		k.count(r)
		if r.PathValue("realm") != k.opts.Realm {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "Realm not found."})
			return
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		next(w, r)
	})
}

// listUsers searches users by e-mail: a substring match, or an exact one
// with exact=true. Other search parameters are not served.
func (k *Keycloak) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	email := strings.ToLower(q.Get("email"))
	exact := q.Get("exact") == "true"
	out := []*kcUser{}
	for _, u := range k.users {
		if (exact && u.Email == email) || (!exact && strings.Contains(u.Email, email)) {
			out = append(out, u)
		}
	}
	writeJSON(w, http.StatusOK, page(out, intParam(r, "first", 0), intParam(r, "max", 100), 100))
}

// listGroups returns the top-level groups whose name contains search,
// ignoring case, ordered by name, first/max at a time.
func (k *Keycloak) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	search := strings.ToLower(q.Get("search"))
	brief := q.Get("briefRepresentation") != "false"
	var matched []*kcGroup
	for _, g := range k.groups {
		if strings.Contains(strings.ToLower(g.Name), search) {
			matched = append(matched, g)
		}
	}
	slices.SortFunc(matched, func(a, b *kcGroup) int { return strings.Compare(a.Name, b.Name) })
	out := []map[string]any{}
	for _, g := range page(matched, intParam(r, "first", 0), intParam(r, "max", len(matched)), max(len(matched), 1)) {
		out = append(out, g.representation(brief))
	}
	writeJSON(w, http.StatusOK, out)
}

// createGroup adds a top-level group; 409 when the name is taken.
func (k *Keycloak) createGroup(w http.ResponseWriter, r *http.Request) {
	var rep struct {
		Name       string              `json:"name"`
		Attributes map[string][]string `json:"attributes"`
	}
	if err := readJSON(r, &rep); err != nil || rep.Name == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"errorMessage": "Group name is missing"})
		return
	}
	for _, g := range k.groups {
		if g.Name == rep.Name {
			writeJSON(w, http.StatusConflict, map[string]string{
				"errorMessage": "Top level group named '" + rep.Name + "' already exists.",
			})
			return
		}
	}
	g := &kcGroup{ID: newUUID(), Name: rep.Name, Attributes: rep.Attributes}
	k.groups = append(k.groups, g)
	w.Header().Set("Location", k.srv.URL+"/admin/realms/"+k.opts.Realm+"/groups/"+g.ID)
	w.WriteHeader(http.StatusCreated)
}

func (k *Keycloak) deleteGroup(w http.ResponseWriter, r *http.Request) {
	i := k.groupIndex(r.PathValue("id"))
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Could not find group by id"})
		return
	}
	k.groups = slices.Delete(k.groups, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}

// members returns a group's members ordered by username, first/max at a
// time (max 100 by default, as Keycloak).
func (k *Keycloak) members(w http.ResponseWriter, r *http.Request) {
	i := k.groupIndex(r.PathValue("id"))
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Could not find group by id"})
		return
	}
	var users []*kcUser
	for _, id := range k.groups[i].Members {
		if u := k.user(id); u != nil {
			users = append(users, u)
		}
	}
	slices.SortFunc(users, func(a, b *kcUser) int { return strings.Compare(a.Username, b.Username) })
	out := []*kcUser{}
	out = append(out, page(users, intParam(r, "first", 0), intParam(r, "max", 100), 100)...)
	writeJSON(w, http.StatusOK, out)
}

// join adds the user to the group; 204 whether or not it was a member.
func (k *Keycloak) join(w http.ResponseWriter, r *http.Request) {
	u, g, ok := k.membership(w, r)
	if !ok {
		return
	}
	if !slices.Contains(g.Members, u.ID) {
		g.Members = append(g.Members, u.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// leave removes the user from the group; 204 whether or not it was a
// member.
func (k *Keycloak) leave(w http.ResponseWriter, r *http.Request) {
	u, g, ok := k.membership(w, r)
	if !ok {
		return
	}
	g.Members = slices.DeleteFunc(g.Members, func(id string) bool { return id == u.ID })
	w.WriteHeader(http.StatusNoContent)
}

func (k *Keycloak) membership(w http.ResponseWriter, r *http.Request) (*kcUser, *kcGroup, bool) {
	u := k.user(r.PathValue("user"))
	if u == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "User not found"})
		return nil, nil, false
	}
	i := k.groupIndex(r.PathValue("group"))
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Group not found"})
		return nil, nil, false
	}
	return u, k.groups[i], true
}

func (k *Keycloak) user(id string) *kcUser {
	for _, u := range k.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (k *Keycloak) groupIndex(id string) int {
	return slices.IndexFunc(k.groups, func(g *kcGroup) bool { return g.ID == id })
}

// newUUID makes a random version-4 UUID, the form of Keycloak's IDs.
func newUUID() string {
	b := []byte(randomID() + randomID())
	s := string(b)
	return s[0:8] + "-" + s[8:12] + "-4" + s[13:16] + "-a" + s[17:20] + "-" + s[20:32]
}
