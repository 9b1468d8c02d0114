package githubapi

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// AppSlug is the slug of every GitHub App the server plays; the app's
// comments are by the bot user "allot[bot]".
const AppSlug = "allot"

// actor is who a request's credentials name.
type actor struct {
	login    string
	userType string // User or Bot
	// installation is set for installation tokens.
	installation int64
	// app is set for a GitHub App's JWT.
	app int64
}

func (a actor) name() string {
	if a.app != 0 {
		return fmt.Sprintf("app:%d", a.app)
	}
	return a.login
}

// installation is a GitHub App installed on some repositories.
type installation struct {
	id, app int64
	repos   map[string]bool // lower-case full names
}

// Token returns a new personal access token that acts as the user login.
func (s *Server) Token(login string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := "ghp_" + randomHex(18)
	s.tokens[token] = actor{login: login, userType: "User"}
	return token
}

// App registers a GitHub App and returns its private key, PEM-encoded as
// GitHub hands it out (PKCS #1).
func (s *Server) App(appID int64) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("githubapi: generate RSA key: %v", err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = &key.PublicKey
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// Install installs the app on repos (owner/name) as installationID; the
// installation's tokens reach only those repositories, and webhook
// deliveries about them name the installation.
func (s *Server) Install(appID, installationID int64, repos ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.installs[installationID]
	if in == nil {
		in = &installation{id: installationID, app: appID, repos: map[string]bool{}}
		s.installs[installationID] = in
	}
	for _, r := range repos {
		in.repos[strings.ToLower(r)] = true
	}
}

// installationOf returns the installation on a repository, if any.
// Callers hold s.mu.
func (s *Server) installationOf(fullName string) *installation {
	for _, in := range s.installs {
		if in.repos[strings.ToLower(fullName)] {
			return in
		}
	}
	return nil
}

// authenticate reads the Authorization header: "token X" or "Bearer X",
// X a personal or installation token or an app's JWT. It returns the
// status and message to refuse with, if any.
func (s *Server) authenticate(r *http.Request) (actor, int, string) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if cred == "" || !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
		return actor{}, http.StatusUnauthorized, "Requires authentication"
	}
	s.mu.Lock()
	who, ok := s.tokens[cred]
	s.mu.Unlock()
	// An app's JWT reaches the /app endpoints and the lookup of its
	// installation on a repository.
	isApp := strings.HasPrefix(r.URL.Path, "/app/") || r.URL.Path == "/app" ||
		strings.HasPrefix(r.URL.Path, "/repos/") && strings.HasSuffix(r.URL.Path, "/installation")
	switch {
	case ok && isApp:
		return actor{}, http.StatusUnauthorized, "A JSON web token could not be decoded"
	case ok:
		return who, 0, ""
	case strings.Count(cred, ".") != 2:
		return actor{}, http.StatusUnauthorized, "Bad credentials"
	}
	app, msg := s.verifyJWT(cred)
	switch {
	case msg != "":
		return actor{}, http.StatusUnauthorized, msg
	case !isApp:
		return actor{}, http.StatusUnauthorized, "Bad credentials"
	}
	return actor{app: app}, 0, ""
}

// verifyJWT checks an app's RS256 JWT as GitHub does: signed by a
// registered app's key, iss the app's ID, issued in the past and expiring
// in at most ten minutes. Times are the wall clock's, which the client
// signs with.
func (s *Server) verifyJWT(token string) (appID int64, msg string) {
	parts := strings.Split(token, ".")
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat json.Number     `json:"iat"`
		Exp json.Number     `json:"exp"`
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil {
		return 0, "A JSON web token could not be decoded"
	}
	if header.Alg != "RS256" {
		return 0, "A JSON web token could not be decoded"
	}
	appID, err = strconv.ParseInt(strings.Trim(string(claims.Iss), `"`), 10, 64)
	if err != nil {
		return 0, "'Issuer' claim ('iss') must be an Integer"
	}
	s.mu.Lock()
	pub := s.apps[appID]
	s.mu.Unlock()
	if pub == nil {
		return 0, fmt.Sprintf("Integration not found for app ID %d", appID)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return 0, "A JSON web token could not be decoded"
	}
	now := time.Now().Unix()
	iat, errIat := claims.Iat.Int64()
	exp, errExp := claims.Exp.Int64()
	switch {
	case errIat != nil || iat > now+60:
		return 0, "'Issued at' claim ('iat') must be an Integer representing a time in the past"
	case errExp != nil || exp <= now:
		return 0, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case exp-iat > 600:
		return 0, "'Expiration time' claim ('exp') is too far in the future"
	}
	return appID, ""
}

func decodeSegment(seg string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	return dec.Decode(v)
}

// createInstallationToken answers POST /app/installations/{id}/access_tokens
// for the app that owns the installation. Tokens expire in an hour of
// wall-clock time, which the client compares them with.
func (s *Server) createInstallationToken(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.installs[id]
	if in == nil || in.app != info(r).actor.app {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app")
		return
	}
	token := "ghs_" + randomHex(18)
	s.tokens[token] = actor{login: AppSlug + "[bot]", userType: "Bot", installation: id}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":      token,
		"expires_at": stamp(time.Now().Add(time.Hour)),
		"permissions": map[string]string{
			"checks": "write", "contents": "write", "issues": "write", "members": "read",
			"metadata": "read", "pull_requests": "write", "statuses": "write",
		},
		"repository_selection": "selected",
	})
}

// AddTeamMember makes login an active member of org/team.
func (s *Server) AddTeamMember(org, team, login string) { s.setMembership(org, team, login, "active") }

// InviteTeamMember makes login a pending member of org/team: invited, not
// yet joined.
func (s *Server) InviteTeamMember(org, team, login string) {
	s.setMembership(org, team, login, "pending")
}

// RemoveTeamMember takes login out of org/team.
func (s *Server) RemoveTeamMember(org, team, login string) { s.setMembership(org, team, login, "") }

func (s *Server) setMembership(org, team, login, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(org + "/" + team)
	if s.teams[key] == nil {
		s.teams[key] = map[string]string{}
	}
	if state == "" {
		delete(s.teams[key], strings.ToLower(login))
		return
	}
	s.teams[key][strings.ToLower(login)] = state
}

// isOrgMember reports whether login is an active member of any team of
// org. Callers hold s.mu.
func (s *Server) isOrgMember(org, login string) bool {
	for key, members := range s.teams {
		if strings.HasPrefix(key, strings.ToLower(org)+"/") && members[strings.ToLower(login)] == "active" {
			return true
		}
	}
	return false
}

// getMembership answers GET /orgs/{org}/teams/{team}/memberships/{user}.
func (s *Server) getMembership(w http.ResponseWriter, r *http.Request) {
	org, team, login := r.PathValue("org"), r.PathValue("team"), r.PathValue("user")
	s.mu.Lock()
	defer s.mu.Unlock()
	state := s.teams[strings.ToLower(org+"/"+team)][strings.ToLower(login)]
	if state == "" {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/teams/members#get-team-membership-for-a-user")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"url":   fmt.Sprintf("%sorganizations/%d/team/%d/memberships/%s", s.URL(), s.userID(org), s.userID(org+"/"+team), login),
		"role":  "member",
		"state": state,
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// repoInstallation answers GET /repos/{owner}/{repo}/installation, which
// takes the app's JWT: the app's installation on the repository, or 404.
func (s *Server) repoInstallation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	in := s.installationOf(rp.fullName())
	if in == nil || in.app != info(r).actor.app {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": in.id, "app_id": in.app, "target_type": "Organization", "repository_selection": "selected",
		"access_tokens_url": fmt.Sprintf("%sapp/installations/%d/access_tokens", s.URL(), in.id),
		"account":           s.user(rp.owner, "Organization"),
		"permissions":       map[string]string{"checks": "write", "contents": "write", "issues": "write", "pull_requests": "write", "statuses": "write", "members": "read"},
		"events":            []string{"issue_comment", "pull_request", "push"},
	})
}
