package githubapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Merge is a merge the server made.
type Merge struct {
	Repo   string
	Number int
	// SHA is the head that was merged, Method how, Title the commit title
	// asked for, and MergeSHA the merge commit.
	SHA      string
	Method   string
	Title    string
	MergeSHA string
}

// Merges returns the merges made so far, in order.
func (s *Server) Merges() []Merge {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.merges)
}

// mergePull answers PUT /repos/{owner}/{repo}/pulls/{number}/merge as
// GitHub does: 405 unless the pull request is open and clean (or unstable,
// or has_hooks), 409 when sha is not its head. It merges through OnMerge,
// then delivers pull_request "closed" and, for the default branch, a push.
func (s *Server) mergePull(w http.ResponseWriter, r *http.Request) {
	var body struct {
		CommitTitle   string `json:"commit_title"`
		CommitMessage string `json:"commit_message"`
		SHA           string `json:"sha"`
		MergeMethod   string `json:"merge_method"`
	}
	if r.ContentLength != 0 && !readBody(w, r, &body) {
		return
	}
	method := cmp.Or(body.MergeMethod, "merge")
	if method != "merge" && method != "squash" && method != "rebase" {
		validationFailed(w, "PullRequest", "merge_method", "merge_method must be one of merge, squash, rebase", docsMerge)
		return
	}
	s.mu.Lock()
	rp, p := s.pullOf(w, r)
	if p == nil {
		s.mu.Unlock()
		return
	}
	if msg := s.refuseMerge(rp, p, body.SHA); msg != "" {
		s.mu.Unlock()
		status := http.StatusMethodNotAllowed
		if strings.HasPrefix(msg, "Head branch") {
			status = http.StatusConflict
		}
		writeError(w, status, msg, docsMerge)
		return
	}
	repoName, number, head := rp.fullName(), p.number, p.head
	title := body.CommitTitle
	if title == "" {
		title = fmt.Sprintf("Merge pull request #%d from %s:%s", p.number, strings.Split(p.headRepo, "/")[0], p.headRef)
		if method == "squash" {
			title = fmt.Sprintf("%s (#%d)", p.title, p.number)
		}
	}
	hook := s.OnMerge
	s.mu.Unlock()

	mergeSHA := fakeSHA("merge", repoName, fmt.Sprint(number), head, method)
	if hook != nil {
		var err error
		if mergeSHA, err = hook(repoName, number, head, method); err != nil {
			writeError(w, http.StatusInternalServerError, "githubapi: OnMerge: "+err.Error(), docsMerge)
			return
		}
	}

	s.mu.Lock()
	if p.head != head || p.state != "open" { // changed while merging
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "Head branch was modified. Review and try the merge again.", docsMerge)
		return
	}
	who := info(r).actor
	now := s.tick()
	p.merged, p.mergeCommit, p.mergedBy = true, mergeSHA, who.login
	p.state, p.closed, p.mergedAt, p.updated = "closed", now, now, now
	before := rp.branches[p.baseRef]
	rp.branches[p.baseRef], rp.pushed = mergeSHA, now
	s.merges = append(s.merges, Merge{Repo: repoName, Number: number, SHA: head, Method: method, Title: title, MergeSHA: mergeSHA})
	events := []event{s.pullRequestEvent("closed", rp, p, who.login, nil)}
	if p.baseRef == rp.defaultBranch {
		events = append(events, s.pushEvent(rp, p, before, mergeSHA, title, who.login))
	}
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{"sha": mergeSHA, "merged": true, "message": "Pull Request successfully merged"})
	s.deliverLater(events...)
}

// refuseMerge returns GitHub's message for a merge it refuses, or "".
// Callers hold s.mu.
func (s *Server) refuseMerge(r *repo, p *pull, sha string) string {
	if p.state != "open" {
		return "Pull Request is not mergeable"
	}
	if sha != "" && !strings.EqualFold(sha, p.head) {
		return "Head branch was modified. Review and try the merge again."
	}
	switch _, state := s.mergeable(r, p); state {
	case "clean", "unstable", "has_hooks":
		return ""
	}
	return "Pull Request is not mergeable"
}
