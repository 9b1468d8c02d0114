package githubapi

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PR is a pull request to open with OpenPR, and what PullRequest reports.
type PR struct {
	// Number is the next free one when zero.
	Number int
	Title  string
	Body   string
	// Author is the login of who opened it; AuthorType is "User" (the
	// default) or "Bot".
	Author     string
	AuthorType string
	HeadSHA    string
	// HeadRef is the head branch; "feature" unless set.
	HeadRef string
	// HeadRepo is the full name of the repository the head branch is in;
	// the base repository unless set. Another one makes a pull request
	// from a fork.
	HeadRepo string
	// BaseRef is the repository's default branch unless set, and BaseSHA
	// that branch's commit.
	BaseRef string
	BaseSHA string
	Draft   bool
	// Files are the files it changes, as GET .../pulls/{n}/files lists
	// them and the push after its merge reports them.
	Files []File

	// Set by the server, ignored by OpenPR.
	State          string
	Merged         bool
	MergeCommitSHA string
	Mergeable      *bool
	MergeableState string
}

// File is a file a pull request changes.
type File struct {
	Filename string
	// Status is added, modified (the default), removed or renamed.
	Status string
	// PreviousFilename is the old name of a renamed file.
	PreviousFilename string
}

// pull is a pull request's state.
type pull struct {
	number                     int
	id                         int64
	title, body                string
	author, authorType         string
	head, headRef, headRepo    string
	baseRef, baseSHA           string
	heads                      []string // every head it had, oldest first
	draft, conflict, computing bool
	state                      string
	merged                     bool
	mergeCommit, mergedBy      string
	created, updated           time.Time
	closed, mergedAt           time.Time
	files                      []File
}

// OpenPR opens a pull request, delivers pull_request "opened", and returns
// its number.
func (s *Server) OpenPR(repoName string, spec PR) int {
	s.mu.Lock()
	r := s.mustRepo(repoName)
	now := s.tick()
	number := cmp.Or(spec.Number, r.nextNumber)
	if r.pulls[number] != nil {
		s.mu.Unlock()
		panic(fmt.Sprintf("githubapi: %s#%d is already open", repoName, number))
	}
	r.nextNumber = max(r.nextNumber, number+1)
	p := &pull{
		number: number, id: s.id(), title: cmp.Or(spec.Title, fmt.Sprintf("Pull request %d", number)), body: spec.Body,
		author: cmp.Or(spec.Author, "octocat"), authorType: cmp.Or(spec.AuthorType, userType(spec.Author)),
		head: cmp.Or(spec.HeadSHA, fakeSHA("head", repoName, fmt.Sprint(number))), headRef: cmp.Or(spec.HeadRef, "feature"),
		headRepo: cmp.Or(spec.HeadRepo, r.fullName()),
		baseRef:  cmp.Or(spec.BaseRef, r.defaultBranch),
		draft:    spec.Draft, state: "open", created: now, updated: now, files: slices.Clone(spec.Files),
	}
	p.baseSHA = cmp.Or(spec.BaseSHA, r.branches[p.baseRef], fakeSHA("branch", repoName, p.baseRef))
	p.heads = []string{p.head}
	r.pulls[number] = p
	ev := s.pullRequestEvent("opened", r, p, p.author, nil)
	s.mu.Unlock()
	s.deliver(ev)
	return number
}

// Push moves a pull request's head to sha and delivers pull_request
// "synchronize".
func (s *Server) Push(repoName string, number int, sha string) {
	s.mu.Lock()
	r := s.mustRepo(repoName)
	p := s.mustPull(r, number)
	before := p.head
	p.head, p.updated = sha, s.tick()
	p.heads = append(p.heads, sha)
	ev := s.pullRequestEvent("synchronize", r, p, p.author, map[string]any{"before": before, "after": sha})
	s.mu.Unlock()
	s.deliver(ev)
}

// SetFiles sets the files a pull request changes.
func (s *Server) SetFiles(repoName string, number int, files ...File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPull(s.mustRepo(repoName), number).files = slices.Clone(files)
}

// SetConflict marks a pull request as conflicting with its base (dirty),
// or not.
func (s *Server) SetConflict(repoName string, number int, conflict bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPull(s.mustRepo(repoName), number).conflict = conflict
}

// SetComputing makes GitHub still be computing a pull request's
// mergeability: mergeable null, mergeable_state "unknown".
func (s *Server) SetComputing(repoName string, number int, computing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPull(s.mustRepo(repoName), number).computing = computing
}

// PullRequest reports a pull request's state.
func (s *Server) PullRequest(repoName string, number int) PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.mustRepo(repoName)
	p := s.mustPull(r, number)
	mergeable, state := s.mergeable(r, p)
	out := PR{
		Number: p.number, Title: p.title, Body: p.body, Author: p.author, AuthorType: p.authorType,
		HeadSHA: p.head, HeadRef: p.headRef, HeadRepo: p.headRepo, BaseRef: p.baseRef, BaseSHA: p.baseSHA,
		Draft: p.draft, Files: slices.Clone(p.files),
		State: p.state, Merged: p.merged, MergeCommitSHA: p.mergeCommit, MergeableState: state,
	}
	if b, ok := mergeable.(bool); ok {
		out.Mergeable = &b
	}
	return out
}

func (s *Server) mustPull(r *repo, number int) *pull {
	p := r.pulls[number]
	if p == nil {
		panic(fmt.Sprintf("githubapi: no pull request %s#%d", r.fullName(), number))
	}
	return p
}

// mergeable computes mergeable and mergeable_state: draft, dirty on a
// conflict, blocked until the newest RequiredCheck status or check run on
// the head succeeded, clean otherwise. Callers hold s.mu.
func (s *Server) mergeable(r *repo, p *pull) (any, string) {
	switch {
	case p.state != "open" || p.computing:
		return nil, "unknown"
	case p.draft:
		return !p.conflict, "draft"
	case p.conflict:
		return false, "dirty"
	case !r.requiredCheckPassed(p.head):
		return true, "blocked"
	}
	return true, "clean"
}

// requiredCheckPassed reports whether the newest RequiredCheck on sha,
// status or check run, succeeded. IDs grow with time, so the highest is
// the newest.
func (r *repo) requiredCheckPassed(sha string) bool {
	var newest int64
	passed := false
	for _, st := range r.statuses {
		if st.SHA == sha && st.Context == RequiredCheck && st.ID > newest {
			newest, passed = st.ID, st.State == "success"
		}
	}
	for _, cr := range r.checkRuns {
		if cr.HeadSHA == sha && cr.Name == RequiredCheck && cr.ID > newest {
			newest, passed = cr.ID, cr.Status == "completed" && cr.Conclusion == "success"
		}
	}
	return passed
}

// getPull answers GET /repos/{owner}/{repo}/pulls/{number}.
func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp, p := s.pullOf(w, r); p != nil {
		writeJSON(w, http.StatusOK, s.pullRequest(rp, p))
	}
}

// listFiles answers GET /repos/{owner}/{repo}/pulls/{number}/files, at
// most 3,000 files as GitHub does.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, p := s.pullOf(w, r)
	if p == nil {
		return
	}
	files := p.files[:min(len(p.files), 3000)]
	lo, hi := s.page(w, r, len(files))
	out := []any{}
	for _, f := range files[lo:hi] {
		sha := fakeSHA("blob", rp.fullName(), p.head, f.Filename)
		obj := map[string]any{
			"sha": sha, "filename": f.Filename, "status": cmp.Or(f.Status, "modified"),
			"additions": 1, "deletions": 0, "changes": 1,
			"blob_url":     fmt.Sprintf("%s%s/blob/%s/%s", s.URL(), rp.fullName(), p.head, f.Filename),
			"raw_url":      fmt.Sprintf("%s%s/raw/%s/%s", s.URL(), rp.fullName(), p.head, f.Filename),
			"contents_url": fmt.Sprintf("%srepos/%s/contents/%s?ref=%s", s.URL(), rp.fullName(), f.Filename, p.head),
			"patch":        "@@ -0,0 +1 @@\n+",
		}
		if f.PreviousFilename != "" {
			obj["previous_filename"] = f.PreviousFilename
		}
		out = append(out, obj)
	}
	writeJSON(w, http.StatusOK, out)
}

// commitPulls answers GET /repos/{owner}/{repo}/commits/{sha}/pulls: the
// pull requests whose head ever was sha, or whose merge made it.
func (s *Server) commitPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	sha := r.PathValue("sha")
	var found []*pull
	for _, p := range rp.sortedPulls() {
		if strings.EqualFold(p.mergeCommit, sha) || slices.ContainsFunc(p.heads, func(h string) bool { return strings.EqualFold(h, sha) }) {
			found = append(found, p)
		}
	}
	lo, hi := s.page(w, r, len(found))
	out := []any{}
	for _, p := range found[lo:hi] {
		out = append(out, s.pullRequestSimple(rp, p))
	}
	writeJSON(w, http.StatusOK, out)
}

// listPulls answers GET /repos/{owner}/{repo}/pulls: state open (the
// default), closed or all; base, a branch name; sort created (the default)
// or updated; direction desc unless asc.
func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	q := r.URL.Query()
	state := cmp.Or(q.Get("state"), "open")
	var found []*pull
	for _, p := range rp.sortedPulls() {
		if (state == "all" || p.state == state) && (q.Get("base") == "" || p.baseRef == q.Get("base")) {
			found = append(found, p)
		}
	}
	key := func(p *pull) time.Time { return p.created }
	if q.Get("sort") == "updated" {
		key = func(p *pull) time.Time { return p.updated }
	}
	slices.SortStableFunc(found, func(a, b *pull) int {
		if q.Get("direction") == "asc" {
			return key(a).Compare(key(b))
		}
		return key(b).Compare(key(a))
	})
	lo, hi := s.page(w, r, len(found))
	out := []any{}
	for _, p := range found[lo:hi] {
		out = append(out, s.pullRequestSimple(rp, p))
	}
	writeJSON(w, http.StatusOK, out)
}
