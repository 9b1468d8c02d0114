package githubapi

import (
	"cmp"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RequiredCheck is the status context or check run name that a pull
// request needs to pass before it is mergeable, as a branch protection
// rule would say.
const RequiredCheck = "allot"

// Repo is a repository to add with AddRepo.
type Repo struct {
	// FullName is "owner/name".
	FullName string
	// CloneURL is what clone_url says, for example a local git HTTP
	// server's; empty means a URL on the fake that serves nothing.
	CloneURL string
	// DefaultBranch is "main" unless set.
	DefaultBranch string
	// HeadSHA is the default branch's commit; empty means a made-up one.
	HeadSHA string
	// GitDir is a real git repository (bare or not) holding the branches:
	// when set, the contents, git refs and pull-request creation
	// endpoints read and write it with git, as GitHub would its own.
	GitDir string
}

// repo is a repository's state.
type repo struct {
	owner, name     string
	id              int64
	fork            bool
	cloneURL        string
	gitDir          string
	defaultBranch   string
	branches        map[string]string // name → commit
	created, pushed time.Time
	pulls           map[int]*pull
	nextNumber      int
	comments        []*Comment
	reactions       []*Reaction
	statuses        []*Status
	checkRuns       []*CheckRun
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

func (r *repo) openPulls() int {
	n := 0
	for _, p := range r.pulls {
		if p.state == "open" {
			n++
		}
	}
	return n
}

func (r *repo) sortedPulls() []*pull {
	return slices.SortedFunc(maps.Values(r.pulls), func(a, b *pull) int { return cmp.Compare(a.number, b.number) })
}

func (r *repo) commentCount(number int) int {
	n := 0
	for _, c := range r.comments {
		if c.Number == number {
			n++
		}
	}
	return n
}

// AddRepo adds a repository.
func (s *Server) AddRepo(spec Repo) {
	owner, name, ok := strings.Cut(spec.FullName, "/")
	if !ok || owner == "" || name == "" {
		panic(fmt.Sprintf("githubapi: AddRepo(%q): want owner/name", spec.FullName))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	r := &repo{
		owner: owner, name: name, id: s.id(),
		cloneURL:      cmp.Or(spec.CloneURL, s.URL()+spec.FullName+".git"),
		gitDir:        spec.GitDir,
		defaultBranch: cmp.Or(spec.DefaultBranch, "main"),
		branches:      map[string]string{},
		created:       now, pushed: now,
		pulls: map[int]*pull{}, nextNumber: 1,
	}
	r.branches[r.defaultBranch] = cmp.Or(spec.HeadSHA, fakeSHA("branch", spec.FullName, r.defaultBranch))
	s.repos[strings.ToLower(spec.FullName)] = r
}

// mustRepo returns a repository the test added. Callers hold s.mu.
func (s *Server) mustRepo(fullName string) *repo {
	r := s.repos[strings.ToLower(fullName)]
	if r == nil {
		panic(fmt.Sprintf("githubapi: no repository %q: add it with AddRepo", fullName))
	}
	return r
}

// repoOf finds the repository a request names and checks the caller may
// see it: installation tokens reach only the repositories installed on.
// It answers 404 otherwise. Callers hold s.mu.
func (s *Server) repoOf(w http.ResponseWriter, r *http.Request) *repo {
	full := r.PathValue("owner") + "/" + r.PathValue("repo")
	rp := s.repos[strings.ToLower(full)]
	who := info(r).actor
	if rp == nil || who.installation != 0 && !s.installs[who.installation].repos[strings.ToLower(full)] {
		writeError(w, http.StatusNotFound, "Not Found", docsREST)
		return nil
	}
	return rp
}

// pullOf finds the pull request a request names, answering 404 when
// there is none. Callers hold s.mu.
func (s *Server) pullOf(w http.ResponseWriter, r *http.Request) (*repo, *pull) {
	rp := s.repoOf(w, r)
	if rp == nil {
		return nil, nil
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	p := rp.pulls[n]
	if p == nil {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
		return nil, nil
	}
	return rp, p
}

// getRepo answers GET /repos/{owner}/{repo}.
func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp := s.repoOf(w, r); rp != nil {
		writeJSON(w, http.StatusOK, s.repository(rp))
	}
}

// fakeSHA makes a commit ID from parts, for commits no git repository
// holds.
func fakeSHA(parts ...string) string {
	sum := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// getBranchRef answers GET /repos/{owner}/{repo}/git/ref/heads/{branch}.
func (s *Server) getBranchRef(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoOf(w, r)
	if rp == nil {
		return
	}
	branch := r.PathValue("branch")
	sha, ok := rp.branches[branch]
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/refs#get-a-reference")
		return
	}
	api := fmt.Sprintf("%srepos/%s/git/", s.URL(), rp.fullName())
	writeJSON(w, http.StatusOK, map[string]any{
		"ref": "refs/heads/" + branch, "node_id": nodeID("REF_", s.userID(rp.fullName()+branch)), "url": api + "refs/heads/" + branch,
		"object": map[string]any{"sha": sha, "type": "commit", "url": api + "commits/" + sha},
	})
}
