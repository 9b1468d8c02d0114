package githubapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Status is a commit status.
type Status struct {
	ID          int64
	SHA         string
	State       string
	Context     string
	Description string
	TargetURL   string
	// Creator is the login that set it.
	Creator   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CheckRun is a check run.
type CheckRun struct {
	ID         int64
	AppID      int64
	Name       string
	HeadSHA    string
	ExternalID string
	// Status is queued, in_progress or completed; Conclusion is set once
	// completed.
	Status      string
	Conclusion  string
	DetailsURL  string
	Title       string
	Summary     string
	Text        string
	StartedAt   time.Time
	CompletedAt time.Time
}

// GitHub's limits on statuses and check runs.
const (
	maxDescription = 140
	maxSummary     = 65535
)

var (
	statusStates     = []string{"error", "failure", "pending", "success"}
	checkStatuses    = []string{"queued", "in_progress", "completed"}
	checkConclusions = []string{"action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out"}
)

// Statuses returns the statuses set on sha, oldest first.
func (s *Server) Statuses(repoName, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.mustRepo(repoName).statuses {
		if st.SHA == sha {
			out = append(out, *st)
		}
	}
	return out
}

// AddStatus sets a commit status as someone other than the code under
// test would, for example a success of RequiredCheck that makes a pull
// request mergeable. Empty fields get defaults.
func (s *Server) AddStatus(repoName string, st Status) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	now := s.tick()
	st.ID, st.CreatedAt, st.UpdatedAt = s.id(), now, now
	st.State, st.Context, st.Creator = cmp.Or(st.State, "success"), cmp.Or(st.Context, RequiredCheck), cmp.Or(st.Creator, "octocat")
	r.statuses = append(r.statuses, &st)
	return st
}

// CheckRuns returns the check runs on sha, oldest first.
func (s *Server) CheckRuns(repoName, sha string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []CheckRun
	for _, cr := range s.mustRepo(repoName).checkRuns {
		if cr.HeadSHA == sha {
			out = append(out, *cr)
		}
	}
	return out
}

// createStatus answers POST /repos/{owner}/{repo}/statuses/{sha}.
func (s *Server) createStatus(w http.ResponseWriter, r *http.Request) {
	const docs = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
	var body struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !readBody(w, r, &body) {
		return
	}
	switch {
	case !slices.Contains(statusStates, body.State):
		validationFailed(w, "Status", "state", "state is not included in the list", docs)
		return
	case len([]rune(body.Description)) > maxDescription:
		validationFailed(w, "Status", "description", fmt.Sprintf("description is too long (maximum is %d characters)", maxDescription), docs)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	now := s.tick()
	st := &Status{
		ID: s.id(), SHA: r.PathValue("sha"), State: body.State, Context: cmp.Or(body.Context, "default"),
		Description: body.Description, TargetURL: body.TargetURL, Creator: info(r).actor.login, CreatedAt: now, UpdatedAt: now,
	}
	rp.statuses = append(rp.statuses, st)
	obj := s.status(rp, st)
	w.Header().Set("Location", obj["url"].(string))
	writeJSON(w, http.StatusCreated, obj)
}

// listStatuses answers GET /repos/{owner}/{repo}/commits/{ref}/statuses,
// newest first.
func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	var list []*Status
	for _, st := range slices.Backward(rp.statuses) {
		if st.SHA == r.PathValue("sha") {
			list = append(list, st)
		}
	}
	lo, hi := s.page(w, r, len(list))
	out := []any{}
	for _, st := range list[lo:hi] {
		out = append(out, s.status(rp, st))
	}
	writeJSON(w, http.StatusOK, out)
}

// checkRunBody is what creating or updating a check run may say.
type checkRunBody struct {
	Name        *string    `json:"name"`
	HeadSHA     string     `json:"head_sha"`
	DetailsURL  *string    `json:"details_url"`
	ExternalID  *string    `json:"external_id"`
	Status      *string    `json:"status"`
	Conclusion  *string    `json:"conclusion"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	Output      *struct {
		Title   *string `json:"title"`
		Summary *string `json:"summary"`
		Text    *string `json:"text"`
	} `json:"output"`
}

// invalid returns GitHub's message for a check run body it refuses, or "".
func (b *checkRunBody) invalid() string {
	switch {
	case b.Status != nil && !slices.Contains(checkStatuses, *b.Status):
		return "Invalid request.\n\nstatus is not included in the list"
	case b.Conclusion != nil && !slices.Contains(checkConclusions, *b.Conclusion):
		return "Invalid request.\n\nconclusion is not included in the list"
	case b.Status != nil && *b.Status == "completed" && b.Conclusion == nil:
		return "Invalid request.\n\nNo conclusion was supplied for a completed check run."
	case b.Output != nil && (b.Output.Title == nil || b.Output.Summary == nil):
		return "Invalid request.\n\n\"title\" and \"summary\" are required in \"output\"."
	case b.Output != nil && len([]rune(*b.Output.Summary)) > maxSummary:
		return fmt.Sprintf("Invalid request.\n\nOnly %d characters are allowed; %d were supplied.", maxSummary, len([]rune(*b.Output.Summary)))
	}
	return ""
}

// apply writes the body's fields onto cr at now.
func (b *checkRunBody) apply(cr *CheckRun, now time.Time) {
	if b.Name != nil {
		cr.Name = *b.Name
	}
	if b.DetailsURL != nil {
		cr.DetailsURL = *b.DetailsURL
	}
	if b.ExternalID != nil {
		cr.ExternalID = *b.ExternalID
	}
	if b.StartedAt != nil {
		cr.StartedAt = b.StartedAt.UTC().Truncate(time.Second)
	}
	if b.Status != nil {
		cr.Status = *b.Status
		if cr.Status != "completed" {
			cr.Conclusion, cr.CompletedAt = "", time.Time{}
		}
	}
	if b.Conclusion != nil { // a conclusion completes the run
		cr.Status, cr.Conclusion, cr.CompletedAt = "completed", *b.Conclusion, now
	}
	if b.CompletedAt != nil {
		cr.CompletedAt = b.CompletedAt.UTC().Truncate(time.Second)
	}
	if b.Output != nil {
		cr.Title, cr.Summary = *b.Output.Title, *b.Output.Summary
		if b.Output.Text != nil {
			cr.Text = *b.Output.Text
		}
	}
}

// checkRunsAllowed answers 403 unless a GitHub App's installation makes
// the request: only apps may write check runs.
func checkRunsAllowed(w http.ResponseWriter, r *http.Request) bool {
	if info(r).actor.installation == 0 {
		writeError(w, http.StatusForbidden, "You must authenticate via a GitHub App.", "https://docs.github.com/rest/checks/runs#create-a-check-run")
		return false
	}
	return true
}

// createCheckRun answers POST /repos/{owner}/{repo}/check-runs.
func (s *Server) createCheckRun(w http.ResponseWriter, r *http.Request) {
	var body checkRunBody
	if !checkRunsAllowed(w, r) || !readBody(w, r, &body) {
		return
	}
	msg := body.invalid()
	if body.Name == nil || *body.Name == "" || body.HeadSHA == "" {
		msg = "Invalid request.\n\n\"name\" and \"head_sha\" are required."
	}
	if msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg, "https://docs.github.com/rest/checks/runs#create-a-check-run")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	now := s.tick()
	cr := &CheckRun{ID: s.id(), AppID: s.installs[info(r).actor.installation].app, HeadSHA: body.HeadSHA, Status: "queued", StartedAt: now}
	body.apply(cr, now)
	rp.checkRuns = append(rp.checkRuns, cr)
	writeJSON(w, http.StatusCreated, s.checkRun(rp, cr))
}

// checkRunOf finds the check run a request names, answering 404 when
// there is none. Callers hold s.mu.
func (s *Server) checkRunOf(w http.ResponseWriter, r *http.Request) (*repo, *CheckRun) {
	rp := s.repoOf(w, r)
	if rp == nil {
		return nil, nil
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(rp.checkRuns, func(cr *CheckRun) bool { return cr.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/checks/runs#get-a-check-run")
		return nil, nil
	}
	return rp, rp.checkRuns[i]
}

// updateCheckRun answers PATCH /repos/{owner}/{repo}/check-runs/{id}.
func (s *Server) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	var body checkRunBody
	if !checkRunsAllowed(w, r) || !readBody(w, r, &body) {
		return
	}
	if msg := body.invalid(); msg != "" {
		writeError(w, http.StatusUnprocessableEntity, msg, "https://docs.github.com/rest/checks/runs#update-a-check-run")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, cr := s.checkRunOf(w, r)
	if cr == nil {
		return
	}
	body.apply(cr, s.tick())
	writeJSON(w, http.StatusOK, s.checkRun(rp, cr))
}

// getCheckRun answers GET /repos/{owner}/{repo}/check-runs/{id}.
func (s *Server) getCheckRun(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp, cr := s.checkRunOf(w, r); cr != nil {
		writeJSON(w, http.StatusOK, s.checkRun(rp, cr))
	}
}

// listCheckRuns answers GET /repos/{owner}/{repo}/commits/{ref}/check-runs,
// newest first, filtered by check_name, status and app_id; filter=latest,
// the default, keeps only the newest run of each name and app.
func (s *Server) listCheckRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	seen := map[string]bool{}
	var list []*CheckRun
	for _, cr := range slices.Backward(rp.checkRuns) {
		key := fmt.Sprintf("%d/%s", cr.AppID, cr.Name)
		switch {
		case cr.HeadSHA != r.PathValue("sha"),
			q.Has("check_name") && cr.Name != q.Get("check_name"),
			q.Has("status") && cr.Status != q.Get("status"),
			q.Has("app_id") && strconv.FormatInt(cr.AppID, 10) != q.Get("app_id"),
			q.Get("filter") != "all" && seen[key]:
			continue
		}
		seen[key] = true
		list = append(list, cr)
	}
	lo, hi := s.page(w, r, len(list))
	runs := []any{}
	for _, cr := range list[lo:hi] {
		runs = append(runs, s.checkRun(rp, cr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(list), "check_runs": runs})
}
