package githubapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Comment is a pull request's conversation comment.
type Comment struct {
	ID     int64
	Number int
	Login  string
	// UserType is User or Bot.
	UserType          string
	Body              string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	HTMLURL           string
	AuthorAssociation string
}

// Reaction is a reaction to a comment.
type Reaction struct {
	ID        int64
	CommentID int64
	Login     string
	Content   string
	CreatedAt time.Time
}

// reactions GitHub accepts.
var reactionContents = []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}

// AddComment posts a comment by login (a Bot when it ends in [bot]) on a
// pull request, delivers issue_comment "created", and returns the
// comment.
func (s *Server) AddComment(repoName string, number int, login, body string) Comment {
	s.mu.Lock()
	r := s.mustRepo(repoName)
	p := s.mustPull(r, number)
	c := s.addComment(r, p, login, userType(login), body)
	ev := s.commentEvent("created", r, p, c, nil)
	s.mu.Unlock()
	s.deliver(ev)
	return *c
}

// addComment stores a new comment. Callers hold s.mu.
func (s *Server) addComment(r *repo, p *pull, login, typ, body string) *Comment {
	now := s.tick()
	id := s.id()
	c := &Comment{
		ID: id, Number: p.number, Login: login, UserType: typ, Body: body, CreatedAt: now, UpdatedAt: now,
		HTMLURL:           fmt.Sprintf("%s%s/pull/%d#issuecomment-%d", s.URL(), r.fullName(), p.number, id),
		AuthorAssociation: s.association(r, login),
	}
	r.comments = append(r.comments, c)
	return c
}

// Comments returns a pull request's comments, oldest first.
func (s *Server) Comments(repoName string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.mustRepo(repoName).comments {
		if c.Number == number {
			out = append(out, *c)
		}
	}
	return out
}

// Reactions returns the reactions to a comment, oldest first.
func (s *Server) Reactions(repoName string, commentID int64) []Reaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Reaction
	for _, re := range s.mustRepo(repoName).reactions {
		if re.CommentID == commentID {
			out = append(out, *re)
		}
	}
	return out
}

// listComments answers GET /repos/{owner}/{repo}/issues/{number}/comments,
// oldest first.
func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, p := s.pullOf(w, r)
	if p == nil {
		return
	}
	var list []*Comment
	for _, c := range rp.comments {
		if c.Number == p.number {
			list = append(list, c)
		}
	}
	lo, hi := s.page(w, r, len(list))
	out := []any{}
	for _, c := range list[lo:hi] {
		out = append(out, s.comment(rp, c))
	}
	writeJSON(w, http.StatusOK, out)
}

// createComment answers POST /repos/{owner}/{repo}/issues/{number}/comments
// and, as GitHub does, delivers issue_comment "created" afterwards.
func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Body *string `json:"body"`
	}
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	rp, p := s.pullOf(w, r)
	if p == nil {
		s.mu.Unlock()
		return
	}
	if body.Body == nil || *body.Body == "" || len([]rune(*body.Body)) > 65536 {
		s.mu.Unlock()
		validationFailed(w, "IssueComment", "body", "body is missing or longer than 65536 characters",
			"https://docs.github.com/rest/issues/comments#create-an-issue-comment")
		return
	}
	who := info(r).actor
	c := s.addComment(rp, p, who.login, who.userType, *body.Body)
	obj := s.comment(rp, c)
	ev := s.commentEvent("created", rp, p, c, nil)
	s.mu.Unlock()
	w.Header().Set("Location", obj["url"].(string))
	writeJSON(w, http.StatusCreated, obj)
	s.deliverLater(ev)
}

// commentOf finds the comment a request names, answering 404 when there
// is none. Callers hold s.mu.
func (s *Server) commentOf(w http.ResponseWriter, r *http.Request) (*repo, *Comment) {
	rp := s.repoOf(w, r)
	if rp == nil {
		return nil, nil
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(rp.comments, func(c *Comment) bool { return c.ID == id })
	if i < 0 {
		writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/issues/comments#get-an-issue-comment")
		return nil, nil
	}
	return rp, rp.comments[i]
}

// getComment answers GET /repos/{owner}/{repo}/issues/comments/{id}.
func (s *Server) getComment(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rp, c := s.commentOf(w, r); c != nil {
		writeJSON(w, http.StatusOK, s.comment(rp, c))
	}
}

// editComment answers PATCH /repos/{owner}/{repo}/issues/comments/{id}
// and delivers issue_comment "edited" afterwards.
func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Body *string `json:"body"`
	}
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	rp, c := s.commentOf(w, r)
	if c == nil {
		s.mu.Unlock()
		return
	}
	if body.Body == nil || *body.Body == "" || len([]rune(*body.Body)) > 65536 {
		s.mu.Unlock()
		validationFailed(w, "IssueComment", "body", "body is missing or longer than 65536 characters",
			"https://docs.github.com/rest/issues/comments#update-an-issue-comment")
		return
	}
	old := c.Body
	c.Body, c.UpdatedAt = *body.Body, s.tick()
	obj := s.comment(rp, c)
	ev := s.commentEvent("edited", rp, rp.pulls[c.Number], c, map[string]any{"changes": map[string]any{"body": map[string]any{"from": old}}})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, obj)
	s.deliverLater(ev)
}

// createReaction answers POST
// /repos/{owner}/{repo}/issues/comments/{id}/reactions: 201 for a new
// reaction, 200 when the user already reacted so.
func (s *Server) createReaction(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content string `json:"content"`
	}
	if !readBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp, c := s.commentOf(w, r)
	if c == nil {
		return
	}
	if !slices.Contains(reactionContents, body.Content) {
		validationFailed(w, "Reaction", "content", "content is not included in the list",
			"https://docs.github.com/rest/reactions/reactions#create-reaction-for-an-issue-comment")
		return
	}
	who := info(r).actor
	status := http.StatusOK
	i := slices.IndexFunc(rp.reactions, func(re *Reaction) bool {
		return re.CommentID == c.ID && re.Login == who.login && re.Content == body.Content
	})
	if i < 0 {
		rp.reactions = append(rp.reactions, &Reaction{ID: s.id(), CommentID: c.ID, Login: who.login, Content: body.Content, CreatedAt: s.tick()})
		i, status = len(rp.reactions)-1, http.StatusCreated
	}
	re := rp.reactions[i]
	writeJSON(w, status, map[string]any{
		"id": re.ID, "node_id": nodeID("016:Reaction", re.ID), "user": s.user(re.Login, who.userType),
		"content": re.Content, "created_at": stamp(re.CreatedAt),
	})
}
