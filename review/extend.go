package review

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/allot-dev/allot/review/comment"
	"github.com/allot-dev/allot/schemas"
)

// `/extend DURATION|DATE`, commented on the merged pull request that
// created an environment (or on its expiry notice, which is there too),
// makes allot open a pull request of its own that changes the request's
// expires, counted in its allot.dev/extensions annotation. That pull
// request is checked like any other, and merged without an approver when
// policy.extensions allows it (see extensionApproval), so git stays the
// only source of truth.

// ExtensionBranchPrefix starts the head branch of the pull requests
// `/extend` opens.
const ExtensionBranchPrefix = "allot/extend/"

// PlatformFile is where allot.yaml lives in the requests repository.
const PlatformFile = "allot.yaml"

// Reasons an extension is refused; the reply adds the limit.
const (
	ReasonExtendNotMerged  = "it works on the merged pull request that created the environment"
	ReasonExtendUnknown    = "unknown environment"
	ReasonExtendNotAllowed = "only " + comment.WhoMayAct + " may extend it"
	ReasonExtendOff        = "extensions are off"
	ReasonExtendTooMany    = "too many extensions"
	ReasonExtendTooLong    = "too long"
	ReasonExtendNotLater   = "not later than the current expiry"
	ReasonExtendNoExpiry   = "the environment does not expire"
	ReasonExtendBadValue   = "not a duration or a date"
)

// extensionRequest is a parsed /extend: an optional environment and a
// duration to add or a date to expire at.
type extensionRequest struct {
	env  string
	add  time.Duration
	at   time.Time
	date string // the date as written, for the request file
}

// parseExtend reads the arguments of /extend.
func parseExtend(args string) (extensionRequest, error) {
	fields := strings.Fields(args)
	var req extensionRequest
	switch len(fields) {
	case 1:
	case 2:
		req.env, fields = fields[0], fields[1:]
	default:
		return req, errors.New(ReasonExtendBadValue)
	}
	if d, err := schemas.ParseTTL(fields[0]); err == nil {
		req.add = d
		return req, nil
	}
	if d, err := time.Parse(time.DateOnly, fields[0]); err == nil {
		req.at, req.date = d.AddDate(0, 0, 1), fields[0]
		return req, nil
	}
	return req, errors.New(ReasonExtendBadValue)
}

// extendRefusal is an /extend that was not done, with its reply.
type extendRefusal struct{ reason, detail string }

func (e *extendRefusal) Error() string {
	if e.detail == "" {
		return e.reason
	}
	return e.reason + ": " + e.detail
}

func refuse(reason, format string, args ...any) error {
	return &extendRefusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// extend handles the /extend commands of the triggering comment: each
// opens an extension pull request or gets a reply saying why not.
func (t *turn) extend(ctx context.Context) error {
	var replies []string
	ok := true
	for _, c := range t.commands {
		if c.Name != Extend {
			continue
		}
		number, what, err := t.extendOne(ctx, c)
		var refusal *extendRefusal
		switch {
		case errors.As(err, &refusal):
			ok = false
			replies = append(replies, comment.Refused{Author: t.p.Comment.User.Login, Command: strings.TrimPrefix(c.Word, "/"), Args: c.Args, Reason: refusal.Error()}.Line())
		case err != nil && ctx.Err() == nil:
			// Say so rather than leave the comment unanswered.
			ok = false
			t.bot.log().Error("extend", "repository", t.repo.String(), "pr", t.number, "error", comment.Mask(err.Error(), t.bot.Secrets))
			replies = append(replies, fmt.Sprintf("@%s: %s failed: %s. Try again later, or ask the platform team.", comment.Escape(t.p.Comment.User.Login), comment.Code(comment.Clip(c.Word+" "+c.Args, 100)), comment.Escape(comment.Clip(err.Error(), comment.MaxMessage))))
		case err != nil:
			return err
		default:
			replies = append(replies, fmt.Sprintf("@%s: allot opened #%d to %s.", comment.Escape(t.p.Comment.User.Login), number, what))
		}
	}
	reaction := ReactionAck
	if !ok {
		reaction = ReactionConfused
	}
	if err := t.gh.React(ctx, t.repo, t.comment, reaction); err != nil {
		return err
	}
	_, err := t.gh.CreateComment(ctx, t.repo, t.number, replyMarker+"\n"+comment.Mask(strings.Join(replies, "\n\n")+"\n", t.bot.Secrets))
	return err
}

// extendOne checks one /extend against the policy on the base branch and
// opens its pull request; it says what the pull request does.
func (t *turn) extendOne(ctx context.Context, c Command) (int, string, error) {
	req, err := parseExtend(c.Args)
	if err != nil {
		return 0, "", refuse(ReasonExtendBadValue, "write a duration such as 7d or 12h, or a date such as 2027-01-31, optionally after the environment's name")
	}
	rw, ok := t.gh.(RepoWriter)
	if !ok {
		return 0, "", errors.New("this GitHub client cannot open pull requests")
	}
	pr, err := t.gh.PullRequest(ctx, t.repo, t.number)
	if err != nil {
		return 0, "", err
	}
	branch := cmp.Or(t.bot.Branch, pr.BaseRef)
	if !pr.Merged || pr.BaseRef != branch {
		return 0, "", refuse(ReasonExtendNotMerged, "comment on the pull request that created it once it is merged into %s", branch)
	}
	files, err := t.gh.Files(ctx, t.repo, t.number)
	if err != nil {
		return 0, "", err
	}
	target, err := t.extensionTarget(files, req.env)
	if err != nil {
		return 0, "", err
	}
	tip, err := t.gh.BranchHead(ctx, t.repo, branch)
	if err != nil {
		return 0, "", err
	}
	platform, err := readPlatform(ctx, rw, t.repo, tip)
	if err != nil {
		return 0, "", err
	}
	raw, blob, err := rw.ReadFile(ctx, t.repo, tip, target.File)
	if errors.Is(err, ErrFileNotFound) {
		return 0, "", refuse(ReasonExtendUnknown, "%s is no longer on %s", target.File, branch)
	}
	if err != nil {
		return 0, "", err
	}
	var env schemas.Environment
	if err := sigsyaml.Unmarshal(raw, &env); err != nil {
		return 0, "", refuse(ReasonExtendUnknown, "%s on %s does not parse: %v", target.File, branch, err)
	}
	login := t.p.Comment.User.Login
	if !t.speaksFor(ctx, pr, platform, env.Spec, login) {
		return 0, "", refuse(ReasonExtendNotAllowed, "%s is none of them", login)
	}
	limits := platform.ExtensionLimits()
	count := env.ExtensionCount()
	switch {
	case limits.MaxCount == 0:
		return 0, "", refuse(ReasonExtendOff, "policy.extensions.maxCount is 0 in allot.yaml")
	case count >= limits.MaxCount:
		return 0, "", refuse(ReasonExtendTooMany, "%s was extended %s, the most policy.extensions.maxCount (%d) allows", env.Metadata.Name, comment.Count(count, "time"), limits.MaxCount)
	}
	current := currentExpiry(&env, target.Expires)
	at := req.at
	if at.IsZero() {
		at = current.Add(req.add)
	}
	added := at.Sub(current)
	switch {
	case added <= 0:
		return 0, "", refuse(ReasonExtendNotLater, "it expires at %s", stampUTC(current))
	case added > limits.MaxDuration:
		return 0, "", refuse(ReasonExtendTooLong, "it adds %s, and policy.extensions.maxDuration allows %s at a time", comment.Duration(added), comment.Duration(limits.MaxDuration))
	}
	if maxTTL, err := schemas.ParseTTL(platform.Policy.MaxTTL); err == nil && at.Sub(t.bot.now()) > maxTTL {
		return 0, "", refuse(ReasonExtendTooLong, "it would expire more than policy.maxTTL (%s) from now", platform.Policy.MaxTTL)
	}
	expires := cmp.Or(req.date, at.UTC().Format(time.RFC3339))
	content, err := setExpiry(raw, expires, count+1)
	if err != nil {
		return 0, "", refuse(ReasonExtendUnknown, "%s: %v", target.File, err)
	}
	title := fmt.Sprintf("Extend %s until %s", env.Metadata.Name, stampUTC(at))
	body := fmt.Sprintf("%sextension %s %d -->\n@%s asked for this in #%d (`%s`): `expires` becomes `%s`, extension %d of %d.\n",
		allotPrefix, markerWord(env.Metadata.Name), count+1, comment.Escape(login), t.number, comment.Escape(comment.Clip(c.Word+" "+c.Args, 100)), expires, count+1, limits.MaxCount)
	number, err := rw.ProposeChange(ctx, t.repo, FileChange{
		// The comment's ID keeps a branch left by an earlier attempt from
		// blocking this one.
		Base: branch, BaseSHA: tip, Branch: fmt.Sprintf("%s%s-%d-%d", ExtensionBranchPrefix, markerWord(env.Metadata.Name), count+1, t.comment),
		Path: target.File, Blob: blob, Content: content,
		Message: title, Title: title, Body: body,
	})
	how := "it merges once its check passes"
	if limits.RequireApproval {
		how = "it merges once its check passes and an approver approves it"
	}
	return number, fmt.Sprintf("extend %s until %s (extension %d of %d); %s", comment.Code(env.Metadata.Name), stampUTC(at), count+1, limits.MaxCount, how), err
}

// extensionTarget picks the environment a /extend on a pull request that
// changed files means: the one named, or the only one of its requests
// allot has applied.
func (t *turn) extensionTarget(files []string, name string) (target struct {
	File    string
	Expires time.Time
}, err error) {
	var names []string
	for _, f := range files {
		ext := path.Ext(f)
		if strings.HasPrefix(f, "environments/") && (ext == ".yaml" || ext == ".yml") {
			names = append(names, strings.TrimSuffix(path.Base(f), ext))
		}
	}
	var known []string
	for _, n := range names {
		if e, ok := t.bot.knownExpiry(n); ok && slices.Contains(files, e.File) && (name == "" || n == name) {
			known = append(known, n)
			target.File, target.Expires = e.File, e.Expires
		}
	}
	switch {
	case name != "" && len(known) == 0:
		return target, refuse(ReasonExtendUnknown, "this pull request created no environment %s that allot runs with an expiry", name)
	case len(known) == 0:
		return target, refuse(ReasonExtendUnknown, "this pull request created no environment that allot runs with an expiry")
	case len(known) > 1:
		return target, refuse(ReasonExtendUnknown, "this pull request created %s; name one: /extend %s 7d", comment.List(known, 10, "environment", nil), known[0])
	}
	return target, nil
}

// currentExpiry is when a request on the base branch expires: its date,
// which git holds, or for a TTL counted from the merge, when the
// reconciler's record says it ends (applied).
func currentExpiry(env *schemas.Environment, applied time.Time) time.Time {
	if e, err := schemas.ParseExpiry(env.Spec.Expires); err == nil && !e.At.IsZero() {
		return e.At
	}
	return applied
}

// readPlatform reads allot.yaml at a commit of the base branch.
func readPlatform(ctx context.Context, rw RepoWriter, repo Repo, ref string) (*schemas.PlatformSpec, error) {
	raw, _, err := rw.ReadFile(ctx, repo, ref, PlatformFile)
	if err != nil {
		return nil, err
	}
	var p schemas.Platform
	if err := sigsyaml.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("%s at %s: %w", PlatformFile, comment.ShortSHA(ref), err)
	}
	return &p.Spec, nil
}

// setExpiry rewrites a request's spec.expires and its extension count,
// keeping the rest of the file as it is.
func setExpiry(raw []byte, expires string, count int) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not one YAML mapping")
	}
	root := doc.Content[0]
	spec := mappingAt(root, "spec")
	meta := mappingAt(root, "metadata")
	if spec == nil || meta == nil {
		return nil, errors.New("no spec or metadata mapping")
	}
	setScalar(spec, "expires", expires, "!!str")
	annotations := mappingAt(meta, "annotations")
	if annotations == nil {
		annotations = &yaml.Node{Kind: yaml.MappingNode, Style: meta.Style & yaml.FlowStyle}
		meta.Content = append(meta.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "annotations"}, annotations)
	}
	setScalar(annotations, schemas.AnnotationExtensions, strconv.Itoa(count), "!!str")
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2) // as requests are written
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// mappingAt returns the mapping under key, or nil.
func mappingAt(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	return nil
}

// setScalar sets key to a scalar value in mapping m, adding it if absent.
func setScalar(m *yaml.Node, key, value, tag string) {
	node := &yaml.Node{Kind: yaml.ScalarNode, Value: value, Tag: tag}
	if tag == "!!str" {
		node.Style = yaml.DoubleQuotedStyle
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = node
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, node)
}

func stampUTC(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
