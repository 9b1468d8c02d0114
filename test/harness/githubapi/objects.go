package githubapi

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"strings"
)

// The JSON objects the server answers and delivers, built from templates.
// Callers hold s.mu.

// userID returns a stable ID for a login, team or organisation.
func (s *Server) userID(name string) int64 {
	key := strings.ToLower(name)
	if id, ok := s.userIDs[key]; ok {
		return id
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	id := int64(h.Sum32()%90_000_000) + 10_000_000
	s.userIDs[key] = id
	return id
}

func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%d", kind, id))
}

// replacer rewrites the example's hosts, and its repository to fullName.
func (s *Server) replacer(fullName string) *strings.Replacer {
	return strings.NewReplacer(exampleRepo, fullName, githubAPI, s.URL(), githubWeb, s.URL())
}

// user is a user object: login with type User, Bot or Organization.
func (s *Server) user(login, userType string) map[string]any {
	u := s.tmpl.object("user")
	rewrite(u, strings.NewReplacer(githubAPI, s.URL(), githubWeb, s.URL(), exampleUser, login))
	id := s.userID(login)
	set(u, map[string]any{
		"login": login, "id": id, "node_id": nodeID("04:"+userType, id), "type": userType,
		"avatar_url": fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", id),
	})
	return u
}

// userType guesses the type of a login the test named: bots end in [bot].
func userType(login string) string {
	if strings.HasSuffix(login, "[bot]") {
		return "Bot"
	}
	return "User"
}

// repository is a repository object, as pull requests embed it.
func (s *Server) repository(r *repo) map[string]any {
	obj := s.tmpl.object("repository")
	rewrite(obj, s.replacer(r.fullName()))
	set(obj, map[string]any{
		"id": r.id, "node_id": nodeID("010:Repository", r.id), "name": r.name, "full_name": r.fullName(),
		"owner": s.user(r.owner, "User"), "private": false, "fork": r.fork,
		"clone_url": r.cloneURL, "default_branch": r.defaultBranch,
		"created_at": stamp(r.created), "updated_at": stamp(r.created), "pushed_at": stamp(r.pushed),
		"open_issues_count": r.openPulls(), "open_issues": r.openPulls(),
	})
	return obj
}

// pushRepository is a repository object as push events have it: the
// owner has a name and email, and times are Unix seconds.
func (s *Server) pushRepository(r *repo) map[string]any {
	obj := s.tmpl.object("push_repository")
	rewrite(obj, s.replacer(r.fullName()))
	owner := s.user(r.owner, "User")
	owner["name"], owner["email"] = r.owner, r.owner+"@users.noreply.github.com"
	set(obj, map[string]any{
		"id": r.id, "node_id": nodeID("010:Repository", r.id), "name": r.name, "full_name": r.fullName(),
		"owner": owner, "private": false, "fork": r.fork,
		"clone_url": r.cloneURL, "default_branch": r.defaultBranch, "master_branch": r.defaultBranch,
		"created_at": r.created.Unix(), "updated_at": stamp(r.created), "pushed_at": r.pushed.Unix(),
	})
	return obj
}

// pullRequest is a pull request object as GET /pulls/{n} answers it and
// webhooks carry it.
func (s *Server) pullRequest(r *repo, p *pull) map[string]any {
	obj := s.tmpl.object("pull_request")
	rewrite(obj, s.replacer(r.fullName()))
	api := fmt.Sprintf("%srepos/%s/", s.URL(), r.fullName())
	web := fmt.Sprintf("%s%s/", s.URL(), r.fullName())
	headRepo := r
	if !strings.EqualFold(p.headRepo, r.fullName()) {
		headRepo = s.repos[strings.ToLower(p.headRepo)]
		if headRepo == nil { // a fork the test did not add
			owner, name, _ := strings.Cut(p.headRepo, "/")
			headRepo = &repo{owner: owner, name: name, id: s.userID(p.headRepo), fork: true, defaultBranch: r.defaultBranch,
				created: r.created, pushed: r.pushed, cloneURL: s.URL() + p.headRepo + ".git"}
		}
	}
	mergeable, state := s.mergeable(r, p)
	var mergedBy any
	if p.merged {
		mergedBy = s.user(p.mergedBy, userType(p.mergedBy))
	}
	var mergeCommit any
	if p.mergeCommit != "" {
		mergeCommit = p.mergeCommit
	}
	links := map[string]any{}
	for k, v := range map[string]string{
		"self": api + fmt.Sprintf("pulls/%d", p.number), "html": web + fmt.Sprintf("pull/%d", p.number),
		"issue": api + fmt.Sprintf("issues/%d", p.number), "comments": api + fmt.Sprintf("issues/%d/comments", p.number),
		"review_comments": api + fmt.Sprintf("pulls/%d/comments", p.number), "review_comment": api + "pulls/comments{/number}",
		"commits": api + fmt.Sprintf("pulls/%d/commits", p.number), "statuses": api + "statuses/" + p.head,
	} {
		links[k] = map[string]any{"href": v}
	}
	set(obj, map[string]any{
		"url": api + fmt.Sprintf("pulls/%d", p.number), "id": p.id, "node_id": nodeID("011:PullRequest", p.id),
		"html_url": web + fmt.Sprintf("pull/%d", p.number), "diff_url": web + fmt.Sprintf("pull/%d.diff", p.number),
		"patch_url": web + fmt.Sprintf("pull/%d.patch", p.number), "issue_url": api + fmt.Sprintf("issues/%d", p.number),
		"number": p.number, "state": p.state, "locked": false, "title": p.title, "user": s.user(p.author, p.authorType),
		"body": p.body, "created_at": stamp(p.created), "updated_at": stamp(p.updated),
		"closed_at": stampOrNil(p.closed), "merged_at": stampOrNil(p.mergedAt), "merge_commit_sha": mergeCommit,
		"assignee": nil, "assignees": []any{}, "requested_reviewers": []any{}, "requested_teams": []any{},
		"labels": []any{}, "milestone": nil, "draft": p.draft,
		"commits_url":         api + fmt.Sprintf("pulls/%d/commits", p.number),
		"review_comments_url": api + fmt.Sprintf("pulls/%d/comments", p.number),
		"comments_url":        api + fmt.Sprintf("issues/%d/comments", p.number),
		"statuses_url":        api + "statuses/" + p.head,
		"head":                s.branch(headRepo, p.headRef, p.head),
		"base":                s.branch(r, p.baseRef, p.baseSHA),
		"_links":              links, "author_association": s.association(r, p.author),
		"auto_merge": nil, "active_lock_reason": nil,
		"merged": p.merged, "mergeable": mergeable, "rebaseable": mergeable, "mergeable_state": state,
		"merged_by": mergedBy, "comments": r.commentCount(p.number), "review_comments": 0,
		"maintainer_can_modify": false, "commits": len(p.heads), "additions": len(p.files),
		"deletions": 0, "changed_files": len(p.files),
	})
	return obj
}

// pullRequestSimple is a pull request as lists have it, without the
// fields GitHub computes only for one pull request.
func (s *Server) pullRequestSimple(r *repo, p *pull) map[string]any {
	obj := s.pullRequest(r, p)
	for _, k := range []string{"merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments",
		"review_comments", "maintainer_can_modify", "commits", "additions", "deletions", "changed_files"} {
		delete(obj, k)
	}
	return obj
}

// branch is the head or base of a pull request.
func (s *Server) branch(r *repo, ref, sha string) map[string]any {
	return map[string]any{
		"label": r.owner + ":" + ref, "ref": ref, "sha": sha,
		"user": s.user(r.owner, "User"), "repo": s.repository(r),
	}
}

// association is GitHub's author_association of login in r.
func (s *Server) association(r *repo, login string) string {
	switch {
	case strings.EqualFold(login, r.owner):
		return "OWNER"
	case s.isOrgMember(r.owner, login):
		return "MEMBER"
	}
	return "NONE"
}

// issue is the issue side of a pull request, as issue_comment events
// carry it.
func (s *Server) issue(r *repo, p *pull) map[string]any {
	obj := s.tmpl.object("issue")
	rewrite(obj, s.replacer(r.fullName()))
	api := fmt.Sprintf("%srepos/%s/issues/%d", s.URL(), r.fullName(), p.number)
	web := fmt.Sprintf("%s%s/pull/%d", s.URL(), r.fullName(), p.number)
	set(obj, map[string]any{
		"url": api, "labels_url": api + "/labels{/name}", "comments_url": api + "/comments", "events_url": api + "/events",
		"html_url": web, "id": p.id, "node_id": nodeID("011:PullRequest", p.id), "number": p.number, "title": p.title,
		"user": s.user(p.author, p.authorType), "labels": []any{}, "state": p.state, "locked": false,
		"assignee": nil, "assignees": []any{}, "milestone": nil, "comments": r.commentCount(p.number),
		"created_at": stamp(p.created), "updated_at": stamp(p.updated), "closed_at": stampOrNil(p.closed),
		"author_association": s.association(r, p.author), "body": p.body,
	})
	obj["pull_request"] = map[string]any{
		"url": fmt.Sprintf("%srepos/%s/pulls/%d", s.URL(), r.fullName(), p.number), "html_url": web,
		"diff_url": web + ".diff", "patch_url": web + ".patch", "merged_at": stampOrNil(p.mergedAt),
	}
	return obj
}

// comment is an issue comment object.
func (s *Server) comment(r *repo, c *Comment) map[string]any {
	obj := s.tmpl.object("comment")
	rewrite(obj, s.replacer(r.fullName()))
	set(obj, map[string]any{
		"url":      fmt.Sprintf("%srepos/%s/issues/comments/%d", s.URL(), r.fullName(), c.ID),
		"html_url": c.HTMLURL, "issue_url": fmt.Sprintf("%srepos/%s/issues/%d", s.URL(), r.fullName(), c.Number),
		"id": c.ID, "node_id": nodeID("012:IssueComment", c.ID), "user": s.user(c.Login, c.UserType),
		"created_at": stamp(c.CreatedAt), "updated_at": stamp(c.UpdatedAt),
		"author_association": c.AuthorAssociation, "body": c.Body,
	})
	return obj
}

// status is a commit status object. No webhook example carries the REST
// shape, so it is written out; a test compares its keys with a recorded
// answer of api.github.com.
func (s *Server) status(r *repo, st *Status) map[string]any {
	return map[string]any{
		"url":         fmt.Sprintf("%srepos/%s/statuses/%s", s.URL(), r.fullName(), st.SHA),
		"avatar_url":  "https://avatars.githubusercontent.com/u/" + fmt.Sprint(s.userID(st.Creator)) + "?v=4",
		"id":          st.ID,
		"node_id":     nodeID("013:StatusContext", st.ID),
		"state":       st.State,
		"description": nilIfEmpty(st.Description),
		"target_url":  nilIfEmpty(st.TargetURL),
		"context":     st.Context,
		"created_at":  stamp(st.CreatedAt),
		"updated_at":  stamp(st.UpdatedAt),
		"creator":     s.user(st.Creator, userType(st.Creator)),
	}
}

// checkRun is a check run object.
func (s *Server) checkRun(r *repo, cr *CheckRun) map[string]any {
	obj := s.tmpl.object("check_run")
	rewrite(obj, s.replacer(r.fullName()))
	api := fmt.Sprintf("%srepos/%s/check-runs/%d", s.URL(), r.fullName(), cr.ID)
	output := obj["output"].(map[string]any)
	set(output, map[string]any{
		"title": nilIfEmpty(cr.Title), "summary": nilIfEmpty(cr.Summary), "text": nilIfEmpty(cr.Text),
		"annotations_count": 0, "annotations_url": api + "/annotations",
	})
	app := obj["app"].(map[string]any)
	set(app, map[string]any{
		"id": cr.AppID, "node_id": nodeID("03:App", cr.AppID), "owner": s.user(r.owner, "User"),
		"name": AppSlug, "html_url": s.URL() + "apps/" + AppSlug,
	})
	suite := obj["check_suite"].(map[string]any)
	set(suite, map[string]any{
		"id": cr.ID, "node_id": nodeID("010:CheckSuite", cr.ID), "head_sha": cr.HeadSHA, "status": cr.Status,
		"conclusion": nilIfEmpty(cr.Conclusion), "pull_requests": []any{}, "app": app,
		"url":        fmt.Sprintf("%srepos/%s/check-suites/%d", s.URL(), r.fullName(), cr.ID),
		"created_at": stamp(cr.StartedAt), "updated_at": stamp(cr.StartedAt),
	})
	var prs []any
	for _, p := range r.sortedPulls() {
		if p.state == "open" && p.head == cr.HeadSHA {
			prs = append(prs, map[string]any{
				"url": fmt.Sprintf("%srepos/%s/pulls/%d", s.URL(), r.fullName(), p.number), "id": p.id, "number": p.number,
				"head": map[string]any{"ref": p.headRef, "sha": p.head},
				"base": map[string]any{"ref": p.baseRef, "sha": p.baseSHA},
			})
		}
	}
	delete(obj, "deployment")
	set(obj, map[string]any{
		"id": cr.ID, "node_id": nodeID("08:CheckRun", cr.ID), "head_sha": cr.HeadSHA, "external_id": cr.ExternalID,
		"url": api, "html_url": fmt.Sprintf("%s%s/runs/%d", s.URL(), r.fullName(), cr.ID),
		"details_url": cr.DetailsURL, "status": cr.Status, "conclusion": nilIfEmpty(cr.Conclusion),
		"started_at": stamp(cr.StartedAt), "completed_at": stampOrNil(cr.CompletedAt), "output": output,
		"name": cr.Name, "check_suite": suite, "app": app, "pull_requests": append([]any{}, prs...),
	})
	return obj
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
