package githubapi

import "net/http"

// routes lists the endpoints the server answers; others get GitHub's 404.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /app/installations/{id}/access_tokens", s.createInstallationToken)
	m.HandleFunc("GET /orgs/{org}/teams/{team}/memberships/{user}", s.getMembership)
	m.HandleFunc("GET /users/{username}", s.getUser)

	m.HandleFunc("GET /repos/{owner}/{repo}", s.getRepo)
	m.HandleFunc("GET /repos/{owner}/{repo}/installation", s.repoInstallation)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	m.HandleFunc("GET /repos/{owner}/{repo}/git/ref/heads/{branch...}", s.getBranchRef)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	m.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/files", s.listFiles)
	m.HandleFunc("PUT /repos/{owner}/{repo}/pulls/{number}/merge", s.mergePull)
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{sha}/pulls", s.commitPulls)
	m.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.createPull)
	m.HandleFunc("POST /repos/{owner}/{repo}/git/refs", s.createRef)
	m.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", s.getContents)
	m.HandleFunc("PUT /repos/{owner}/{repo}/contents/{path...}", s.putContents)

	// .../issues/{number}/comments and .../issues/comments/{id} overlap
	// as patterns, so one handler tells them apart.
	m.HandleFunc("/repos/{owner}/{repo}/issues/{a}/{b}", s.issues)
	m.HandleFunc("POST /repos/{owner}/{repo}/issues/comments/{id}/reactions", s.createReaction)

	m.HandleFunc("POST /repos/{owner}/{repo}/statuses/{sha}", s.createStatus)
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{sha}/statuses", s.listStatuses)
	m.HandleFunc("POST /repos/{owner}/{repo}/check-runs", s.createCheckRun)
	m.HandleFunc("GET /repos/{owner}/{repo}/check-runs/{id}", s.getCheckRun)
	m.HandleFunc("PATCH /repos/{owner}/{repo}/check-runs/{id}", s.updateCheckRun)
	m.HandleFunc("GET /repos/{owner}/{repo}/commits/{sha}/check-runs", s.listCheckRuns)
	s.mux = m
}

// issues routes the comment endpoints under /repos/{owner}/{repo}/issues/.
func (s *Server) issues(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "comments" && r.Method == http.MethodGet:
		r.SetPathValue("id", b)
		s.getComment(w, r)
	case a == "comments" && r.Method == http.MethodPatch:
		r.SetPathValue("id", b)
		s.editComment(w, r)
	case b == "comments" && r.Method == http.MethodGet:
		r.SetPathValue("number", a)
		s.listComments(w, r)
	case b == "comments" && r.Method == http.MethodPost:
		r.SetPathValue("number", a)
		s.createComment(w, r)
	default:
		writeError(w, http.StatusNotFound, "Not Found", docsREST)
	}
}
