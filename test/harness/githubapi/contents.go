package githubapi

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Documentation links of the endpoints that write to a repository.
const (
	docsContents   = "https://docs.github.com/rest/repos/contents"
	docsRefs       = "https://docs.github.com/rest/git/refs#create-a-reference"
	docsCreatePull = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
)

// git runs git in a repository's GitDir with no user or system
// configuration, and returns its output without the trailing newline.
func git(dir string, stdin []byte, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=GitHub", "-c", "user.email=noreply@github.com", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSuffix(stdout.String(), "\n"), nil
}

// gitRepoOf is repoOf for the endpoints that need the repository's
// GitDir; without one they answer 404, as for a path nothing holds.
// Callers hold s.mu.
func (s *Server) gitRepoOf(w http.ResponseWriter, r *http.Request, docs string) *repo {
	rp := s.repoOf(w, r)
	if rp == nil {
		return nil
	}
	if rp.gitDir == "" {
		writeError(w, http.StatusNotFound, "Not Found", docs)
		return nil
	}
	return rp
}

// resolve returns the commit a branch name or commit ID names in the
// repository, or "".
func (rp *repo) resolve(ref string) string {
	for _, name := range []string{"refs/heads/" + ref, ref} {
		if sha, err := git(rp.gitDir, nil, nil, "rev-parse", "--verify", "--quiet", name+"^{commit}"); err == nil && sha != "" {
			return sha
		}
	}
	return ""
}

// getContents answers GET /repos/{owner}/{repo}/contents/{path} for a
// file, at ?ref= (a branch or commit; the default branch when absent).
func (s *Server) getContents(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.gitRepoOf(w, r, docsContents)
	if rp == nil {
		return
	}
	ref := cmp.Or(r.URL.Query().Get("ref"), rp.defaultBranch)
	commit := rp.resolve(ref)
	file := r.PathValue("path")
	blob := ""
	if commit != "" {
		blob, _ = git(rp.gitDir, nil, nil, "rev-parse", "--verify", "--quiet", commit+":"+file)
	}
	if blob == "" {
		writeError(w, http.StatusNotFound, "Not Found", docsContents+"#get-repository-content")
		return
	}
	kind, err := git(rp.gitDir, nil, nil, "cat-file", "-t", blob)
	if err != nil || kind != "blob" {
		writeError(w, http.StatusNotFound, "Not Found", docsContents+"#get-repository-content")
		return
	}
	content, err := git(rp.gitDir, nil, nil, "cat-file", "blob", blob)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "githubapi: "+err.Error(), docsContents)
		return
	}
	writeJSON(w, http.StatusOK, s.contentObject(rp, file, blob, ref, []byte(content+"\n")))
}

// contentObject is a file as the contents API shows it. git cat-file
// output loses the last newline; callers add it back. Callers hold s.mu.
func (s *Server) contentObject(rp *repo, file, blob, ref string, content []byte) map[string]any {
	api := fmt.Sprintf("%srepos/%s/contents/%s?ref=%s", s.URL(), rp.fullName(), file, ref)
	return map[string]any{
		"type": "file", "encoding": "base64", "size": len(content),
		"name": filepath.Base(file), "path": file, "sha": blob, "url": api,
		"content":      base64.StdEncoding.EncodeToString(content),
		"html_url":     fmt.Sprintf("%s%s/blob/%s/%s", s.URL(), rp.fullName(), ref, file),
		"git_url":      fmt.Sprintf("%srepos/%s/git/blobs/%s", s.URL(), rp.fullName(), blob),
		"download_url": fmt.Sprintf("%s%s/raw/%s/%s", s.URL(), rp.fullName(), ref, file),
	}
}

// putContents answers PUT /repos/{owner}/{repo}/contents/{path}: it
// commits the new content of one file onto a branch, refusing with 409
// when sha is not the file's blob there (or is missing for a file that
// exists), as GitHub does.
func (s *Server) putContents(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Message string `json:"message"`
		Content string `json:"content"`
		SHA     string `json:"sha"`
		Branch  string `json:"branch"`
	}
	if !readBody(w, r, &body) {
		return
	}
	content, err := base64.StdEncoding.DecodeString(body.Content)
	if err != nil || body.Message == "" {
		validationFailed(w, "Contents", "content", "message and base64 content are required", docsContents+"#create-or-update-file-contents")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.gitRepoOf(w, r, docsContents)
	if rp == nil {
		return
	}
	branch := cmp.Or(body.Branch, rp.defaultBranch)
	parent := rp.resolve("refs/heads/" + branch)
	if parent == "" {
		writeError(w, http.StatusNotFound, "Branch "+branch+" not found", docsContents)
		return
	}
	file := r.PathValue("path")
	current, _ := git(rp.gitDir, nil, nil, "rev-parse", "--verify", "--quiet", parent+":"+file)
	if current != body.SHA {
		writeError(w, http.StatusConflict, file+" does not match "+body.SHA, docsContents+"#create-or-update-file-contents")
		return
	}
	commit, blob, err := commitFile(rp.gitDir, parent, file, body.Message, content)
	if err == nil {
		_, err = git(rp.gitDir, nil, nil, "update-ref", "refs/heads/"+branch, commit, parent)
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "githubapi: "+err.Error(), docsContents)
		return
	}
	rp.branches[branch], rp.pushed = commit, s.tick()
	writeJSON(w, http.StatusOK, map[string]any{
		"content": s.contentObject(rp, file, blob, branch, content),
		"commit":  map[string]any{"sha": commit, "message": body.Message, "parents": []any{map[string]any{"sha": parent}}},
	})
}

// commitFile makes a commit on parent that sets file to content, and
// returns it and the file's blob.
func commitFile(dir, parent, file, message string, content []byte) (commit, blob string, err error) {
	index := filepath.Join(os.TempDir(), fmt.Sprintf("githubapi-index-%s", fakeSHA(dir, parent, file)))
	defer os.Remove(index)
	env := []string{"GIT_INDEX_FILE=" + index}
	if blob, err = git(dir, content, nil, "hash-object", "-w", "--stdin"); err != nil {
		return "", "", err
	}
	if _, err = git(dir, nil, env, "read-tree", parent); err != nil {
		return "", "", err
	}
	if _, err = git(dir, nil, env, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+file); err != nil {
		return "", "", err
	}
	tree, err := git(dir, nil, env, "write-tree")
	if err != nil {
		return "", "", err
	}
	commit, err = git(dir, nil, nil, "commit-tree", tree, "-p", parent, "-m", message)
	return commit, blob, err
}

// createRef answers POST /repos/{owner}/{repo}/git/refs for a branch:
// 422 when it exists or sha is no commit.
func (s *Server) createRef(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.gitRepoOf(w, r, docsRefs)
	if rp == nil {
		return
	}
	branch, ok := strings.CutPrefix(body.Ref, "refs/heads/")
	switch {
	case !ok || branch == "":
		validationFailed(w, "Reference", "ref", "ref must be refs/heads/NAME", docsRefs)
		return
	case rp.resolve(body.Ref) != "":
		validationFailed(w, "Reference", "ref", "Reference already exists", docsRefs)
		return
	case rp.resolve(body.SHA) == "":
		validationFailed(w, "Reference", "sha", "Object does not exist", docsRefs)
		return
	}
	if _, err := git(rp.gitDir, nil, nil, "update-ref", body.Ref, body.SHA); err != nil {
		writeError(w, http.StatusInternalServerError, "githubapi: "+err.Error(), docsRefs)
		return
	}
	rp.branches[branch] = body.SHA
	api := fmt.Sprintf("%srepos/%s/git/", s.URL(), rp.fullName())
	writeJSON(w, http.StatusCreated, map[string]any{
		"ref": body.Ref, "url": api + body.Ref,
		"object": map[string]any{"sha": body.SHA, "type": "commit", "url": api + "commits/" + body.SHA},
	})
}

// createPull answers POST /repos/{owner}/{repo}/pulls from a branch of the
// repository: it lists the files the branch changes from its merge base
// with base, keeps the head under refs/pull/N/head as GitHub does, and
// delivers pull_request "opened".
func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
		Draft bool   `json:"draft"`
	}
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	rp := s.gitRepoOf(w, r, docsCreatePull)
	if rp == nil {
		s.mu.Unlock()
		return
	}
	headRef := body.Head
	if owner, ref, ok := strings.Cut(body.Head, ":"); ok && strings.EqualFold(owner, rp.owner) {
		headRef = ref
	}
	head, base := rp.resolve("refs/heads/"+headRef), rp.resolve("refs/heads/"+body.Base)
	if body.Title == "" || head == "" || base == "" {
		s.mu.Unlock()
		validationFailed(w, "PullRequest", "head", "title, and head and base branches of this repository, are required", docsCreatePull)
		return
	}
	diff, err := git(rp.gitDir, nil, nil, "diff", "--name-status", "--no-renames", base+"..."+head)
	if err != nil || diff == "" {
		s.mu.Unlock()
		validationFailed(w, "PullRequest", "head", "No commits between "+body.Base+" and "+headRef, docsCreatePull)
		return
	}
	var files []File
	for _, line := range strings.Split(diff, "\n") {
		status, name, _ := strings.Cut(line, "\t")
		files = append(files, File{Filename: name, Status: map[string]string{"A": "added", "D": "removed"}[status[:1]]})
	}
	now := s.tick()
	who := info(r).actor
	p := &pull{
		number: rp.nextNumber, id: s.id(), title: body.Title, body: body.Body,
		author: who.login, authorType: cmp.Or(who.userType, userType(who.login)),
		head: head, headRef: headRef, headRepo: rp.fullName(), baseRef: body.Base, baseSHA: base,
		heads: []string{head}, draft: body.Draft, state: "open", created: now, updated: now, files: files,
	}
	rp.nextNumber++
	rp.pulls[p.number] = p
	if _, err := git(rp.gitDir, nil, nil, "update-ref", fmt.Sprintf("refs/pull/%d/head", p.number), head); err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusInternalServerError, "githubapi: "+err.Error(), docsCreatePull)
		return
	}
	obj := s.pullRequest(rp, p)
	ev := s.pullRequestEvent("opened", rp, p, p.author, nil)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, obj)
	s.deliverLater(ev)
}
