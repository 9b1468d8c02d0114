package githubapi

import (
	"net/http"
	"strings"
)

// SetPublicEmail makes email the public e-mail address of login's profile,
// as a user picks one of their verified addresses on GitHub; "" hides it.
func (s *Server) SetPublicEmail(login, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emails == nil {
		s.emails = map[string]string{}
	}
	s.emails[strings.ToLower(login)] = email
}

// getUser answers GET /users/{username}: the public profile, whose email
// is null unless the user made one public.
// https://docs.github.com/rest/users/users#get-a-user
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	login := r.PathValue("username")
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.user(login, userType(login))
	var email any
	if e := s.emails[strings.ToLower(login)]; e != "" {
		email = e
	}
	u["email"], u["name"], u["company"], u["blog"], u["location"], u["bio"] = email, nil, nil, "", nil, nil
	writeJSON(w, http.StatusOK, u)
}
