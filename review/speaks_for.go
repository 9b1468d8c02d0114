package review

import (
	"context"
	"slices"
	"strings"

	"github.com/allot-dev/allot/schemas"
)

// speaksFor reports whether login may act for an environment with /wake
// and /extend: the author of the merged pull request that created it, an
// approver of its team in platform (allot.yaml on the base branch; nil
// when it could not be read), or the request's owner or one of its
// members. Owners and members are e-mail addresses and logins are not, so
// they are known by the public e-mail address of their GitHub profile,
// which GitHub only lets be one of their verified addresses.
// comment.WhoMayAct says the same in the replies and the help: change
// both together.
func (t *turn) speaksFor(ctx context.Context, pr *PullRequest, platform *schemas.PlatformSpec, spec schemas.EnvironmentSpec, login string) bool {
	if strings.EqualFold(login, pr.Author) {
		return true
	}
	if platform != nil && approverCheck(PolicyFrom(platform, []string{spec.Team}, true).Approvers, t.isMember(ctx))(login) {
		return true
	}
	email, err := t.gh.PublicEmail(ctx, login)
	if err != nil {
		t.bot.log().Warn("read the commenter's profile", "login", login, "error", err)
		return false
	}
	return ownerOrMember(spec, email)
}

// ownerOrMember reports whether the address is the request's owner or one
// of its members.
func ownerOrMember(spec schemas.EnvironmentSpec, email string) bool {
	email = strings.TrimSpace(email)
	if email == "" {
		return false
	}
	return strings.EqualFold(spec.Owner, email) || slices.ContainsFunc(spec.Members, func(m string) bool { return strings.EqualFold(m, email) })
}
