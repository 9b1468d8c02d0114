package githubapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Delivery is one webhook delivery the server sent.
type Delivery struct {
	// ID is the X-GitHub-Delivery GUID.
	ID      string
	Event   string
	Action  string
	Payload []byte
	// Status is the receiver's answer; zero when it could not be reached,
	// and Err says why.
	Status int
	Err    error
	// target is the X-GitHub-Hook-Installation-Target-Type and -ID.
	targetType string
	targetID   int64
}

// event is a delivery to make.
type event struct {
	name, action string
	payload      []byte
	targetType   string
	targetID     int64
}

// DeliverTo makes the server deliver webhooks to url, signed with secret,
// for what happens from now on: pull_request opened (OpenPR),
// synchronize (Push) and closed (a merge); issue_comment created
// (AddComment, or a comment made through the API) and edited; and a push
// to the default branch after a merge. Deliveries for the test's own
// actions are made before the action returns; those for API requests
// follow the answer, as GitHub's do, and Wait waits for them.
func (s *Server) DeliverTo(url string, secret []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL, s.hookSecret = url, slices.Clone(secret)
}

// Deliveries returns the deliveries made so far, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deliveries)
}

// LastDelivery returns the latest delivery; ok is false before the first.
func (s *Server) LastDelivery() (d Delivery, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.deliveries) == 0 {
		return Delivery{}, false
	}
	return s.deliveries[len(s.deliveries)-1], true
}

// Redeliver sends a delivery again with the same ID and payload, as
// GitHub's "Redeliver" button does, and returns the new attempt.
func (s *Server) Redeliver(d Delivery) Delivery {
	return s.send(event{name: d.Event, action: d.Action, payload: d.Payload, targetType: d.targetType, targetID: d.targetID}, d.ID)
}

// Wait waits until the deliveries that follow API requests are made.
func (s *Server) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.pending > 0 {
		s.idle.Wait()
	}
}

// deliver makes the deliveries for a test's action, in order.
func (s *Server) deliver(evs ...event) {
	for _, ev := range evs {
		s.send(ev, newGUID())
	}
}

// deliverLater makes the deliveries for an API request after its answer.
func (s *Server) deliverLater(evs ...event) {
	s.mu.Lock()
	if s.hookURL == "" || s.closing || len(evs) == 0 {
		s.mu.Unlock()
		return
	}
	s.pending++
	s.mu.Unlock()
	go func() {
		s.deliver(evs...)
		s.mu.Lock()
		s.pending--
		s.idle.Broadcast()
		s.mu.Unlock()
	}()
}

// send posts one delivery as GitHub does and records it.
func (s *Server) send(ev event, guid string) Delivery {
	s.mu.Lock()
	target, secret := s.hookURL, s.hookSecret
	s.mu.Unlock()
	d := Delivery{ID: guid, Event: ev.name, Action: ev.action, Payload: ev.payload, targetType: ev.targetType, targetID: ev.targetID}
	if target == "" {
		return d
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(ev.payload))
	if err != nil {
		d.Err = err
	} else {
		sum256 := hmac.New(sha256.New, secret)
		sum256.Write(ev.payload)
		sum1 := hmac.New(sha1.New, secret)
		sum1.Write(ev.payload)
		h := req.Header
		h.Set("Content-Type", "application/json")
		h.Set("User-Agent", "GitHub-Hookshot/a1b2c3d")
		h.Set("X-GitHub-Event", ev.name)
		h.Set("X-GitHub-Delivery", guid)
		h.Set("X-GitHub-Hook-ID", "1")
		h.Set("X-GitHub-Hook-Installation-Target-Type", ev.targetType)
		h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.FormatInt(ev.targetID, 10))
		h.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(sum1.Sum(nil)))
		h.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(sum256.Sum(nil)))
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req) // GitHub waits 10 s
		if err != nil {
			d.Err = err
		} else {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			d.Status = resp.StatusCode
		}
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	s.mu.Unlock()
	return d
}

// newGUID returns a random UUID, as X-GitHub-Delivery carries.
func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// The builders below fill a real payload of the event with the server's
// state. Callers hold s.mu.

// finish sets the fields every payload about r has, and encodes it.
func (s *Server) finish(name, action string, r *repo, payload map[string]any, sender string) event {
	payload["sender"] = s.user(sender, userType(sender))
	delete(payload, "organization")
	delete(payload, "enterprise")
	ev := event{name: name, action: action, targetType: "repository", targetID: r.id}
	if in := s.installationOf(r.fullName()); in != nil {
		payload["installation"] = map[string]any{"id": in.id, "node_id": nodeID("023:IntegrationInstallation", in.id)}
		ev.targetType, ev.targetID = "integration", in.app
	} else {
		delete(payload, "installation")
	}
	body, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("githubapi: encode %s payload: %v", name, err))
	}
	ev.payload = body
	return ev
}

// pullRequestEvent is a pull_request delivery; extra sets more fields,
// such as before and after for synchronize.
func (s *Server) pullRequestEvent(action string, r *repo, p *pull, sender string, extra map[string]any) event {
	payload := s.tmpl.payload("pull_request." + action)
	payload["action"], payload["number"] = action, p.number
	payload["pull_request"], payload["repository"] = s.pullRequest(r, p), s.repository(r)
	for k, v := range extra {
		payload[k] = v
	}
	return s.finish("pull_request", action, r, payload, sender)
}

// commentEvent is an issue_comment delivery about a pull request.
func (s *Server) commentEvent(action string, r *repo, p *pull, c *Comment, extra map[string]any) event {
	payload := s.tmpl.payload("issue_comment." + action)
	payload["action"], payload["issue"], payload["comment"] = action, s.issue(r, p), s.comment(r, c)
	payload["repository"] = s.repository(r)
	for k, v := range extra {
		payload[k] = v
	}
	return s.finish("issue_comment", action, r, payload, c.Login)
}

// pushEvent is the push delivery of a merge of p onto its base branch:
// one commit whose files are p's.
func (s *Server) pushEvent(r *repo, p *pull, before, after, message, sender string) event {
	payload := s.tmpl.payload("push")
	rewrite(payload, s.replacer(r.fullName()))
	commit := payload["head_commit"].(map[string]any)
	added, modified, removed := []string{}, []string{}, []string{}
	for _, f := range p.files {
		switch f.Status {
		case "added":
			added = append(added, f.Filename)
		case "removed":
			removed = append(removed, f.Filename)
		case "renamed":
			added, removed = append(added, f.Filename), append(removed, f.PreviousFilename)
		default:
			modified = append(modified, f.Filename)
		}
	}
	web := s.URL() + r.fullName()
	set(commit, map[string]any{
		"id": after, "tree_id": fakeSHA("tree", after), "distinct": true, "message": message,
		"timestamp": stamp(s.now), "url": web + "/commit/" + after,
		"author":    map[string]any{"name": sender, "email": sender + "@users.noreply.github.com", "username": sender},
		"committer": map[string]any{"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
		"added":     added, "modified": modified, "removed": removed,
	})
	set(payload, map[string]any{
		"ref": "refs/heads/" + p.baseRef, "before": before, "after": after,
		"created": false, "deleted": false, "forced": false, "base_ref": nil,
		"compare": fmt.Sprintf("%s/compare/%.12s...%.12s", web, before, after),
		"commits": []any{commit}, "head_commit": commit, "repository": s.pushRepository(r),
		"pusher": map[string]any{"name": sender, "email": sender + "@users.noreply.github.com"},
	})
	return s.finish("push", "", r, payload, sender)
}
