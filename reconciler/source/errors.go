package source

import (
	"compress/flate"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/format/objfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
	"golang.org/x/crypto/ssh/knownhosts"
)

// The kinds of failure a caller may branch on. Fetch wraps them in an
// *Error; test for them with errors.Is. Whatever the kind, a failed Fetch
// means the repository could not be read, and a reconciler must not prune
// anything on that pass.
var (
	// ErrInvalidConfig marks a Config that New refuses.
	ErrInvalidConfig = errors.New("invalid git source configuration")
	// ErrUnreachable marks a server that could not be reached or did not
	// answer in time: connection refused, DNS failure, timeout, 5xx.
	ErrUnreachable = errors.New("git server unreachable")
	// ErrAuth marks credentials the server rejected or did not get.
	ErrAuth = errors.New("git authentication failed")
	// ErrHostKey marks an SSH server whose host key is not in the
	// known_hosts file, or differs from it.
	ErrHostKey = errors.New("ssh host key not trusted")
	// ErrRepositoryNotFound marks a URL or path that holds no repository.
	// Hosting services also answer this way to a private repository when
	// the credentials are missing. A local path that exists but that
	// allot may not read is ErrPermission instead.
	ErrRepositoryNotFound = errors.New("git repository not found")
	// ErrBranchNotFound marks a repository without the configured branch.
	ErrBranchNotFound = errors.New("branch not found")
	// ErrTooLarge marks a commit whose tree holds more files or bytes than
	// the configured limits; the working copy is left as it was.
	ErrTooLarge = errors.New("repository content over the limit")
	// ErrUnsafeContent marks a commit whose tree holds something allot
	// will not check out, such as a symbolic link that leaves the working
	// copy; the working copy is left as it was.
	ErrUnsafeContent = errors.New("unsafe repository content")
	// ErrCorrupt marks git data that cannot be read back: objects, packs
	// or references of the working copy damaged on disk, or a working tree
	// that does not hold its commit after the checkout. Fetch discards a
	// damaged working copy and clones again once; this kind reaches the
	// caller only when that fails too, or when the repository itself
	// sends damaged data.
	ErrCorrupt = errors.New("git data damaged")
	// ErrPermission marks a file or folder the file system does not let
	// allot read or write: a local source repository (or one owned by
	// another user, which git refuses), or Config.Dir.
	ErrPermission = errors.New("permission denied")
)

// Op names the step of a Fetch that failed.
type Op string

// The steps of a Fetch.
const (
	// OpOpen opens or creates the working copy in Config.Dir.
	OpOpen Op = "open"
	// OpFetch downloads the branch from the remote.
	OpFetch Op = "fetch"
	// OpCheckout checks the fetched commit out into the working copy and
	// verifies it.
	OpCheckout Op = "checkout"
	// OpHistory reads, and deepens when shallow, the history of the
	// branch for Descends.
	OpHistory Op = "history"
)

// Error is the error Fetch and Descends return. Its text never holds a
// credential.
type Error struct {
	// URL is the repository address without credentials.
	URL string
	// Op is the step that failed.
	Op Op
	// Err is the cause; errors.Is finds the kind (ErrAuth, ...) in it.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("git %s %s: %v", e.Op, e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// redacted hides secrets in the text of an error but keeps its chain for
// errors.Is and errors.As.
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string { return redact(r.err.Error(), r.secrets) }

func (r *redacted) Unwrap() error { return r.err }

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// classify maps an error from go-git to one of the kinds above, or nil when
// it is none of them: a canceled context, say, or an https server whose
// certificate is not trusted.
func classify(err error) error {
	var (
		perm     *plumbing.PermanentError
		unexp    *plumbing.UnexpectedError
		keyErr   *knownhosts.KeyError
		netErr   net.Error
		opErr    *net.OpError
		dnsErr   *net.DNSError
		httpErr  *githttp.Err
		refsErr  git.NoMatchingRefSpecError
		kindsErr = []error{ErrInvalidConfig, ErrUnreachable, ErrAuth, ErrHostKey,
			ErrRepositoryNotFound, ErrBranchNotFound, ErrTooLarge, ErrUnsafeContent, ErrCorrupt, ErrPermission}
	)
	for _, kind := range kindsErr {
		if errors.Is(err, kind) {
			return kind
		}
	}
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		strings.Contains(err.Error(), "ssh: unable to authenticate"):
		return ErrAuth
	case errors.As(err, &keyErr):
		return ErrHostKey
	case errors.Is(err, fs.ErrPermission),
		// git refuses a repository another user owns.
		strings.Contains(err.Error(), "detected dubious ownership"):
		return ErrPermission
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return ErrRepositoryNotFound
	case errors.As(err, &refsErr),
		errors.Is(err, transport.ErrEmptyRemoteRepository):
		return ErrBranchNotFound
	case errors.Is(err, context.Canceled):
		// The caller gave up; that says nothing about the server.
		return nil
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &opErr),
		errors.As(err, &dnsErr),
		errors.As(err, &netErr) && netErr.Timeout():
		return ErrUnreachable
	case errors.As(err, &httpErr) && httpErr.Response != nil && httpErr.StatusCode() >= 500:
		return ErrUnreachable
	case damaged(err):
		return ErrCorrupt
	// go-git wraps some causes in types without Unwrap.
	case errors.As(err, &perm):
		return classify(perm.Err)
	case errors.As(err, &unexp):
		return classify(unexp.Err)
	}
	return nil
}

// damage is what go-git reports when git data it wrote cannot be read
// back: missing or truncated objects and packs, malformed references.
var damage = []error{
	plumbing.ErrObjectNotFound, plumbing.ErrInvalidType,
	object.ErrFileNotFound, object.ErrDirectoryNotFound, object.ErrEntryNotFound,
	packfile.ErrMalformedPackFile, packfile.ErrInvalidDelta, packfile.ErrDeltaCmd,
	packfile.ErrReferenceDeltaNotFound, packfile.ErrInflatedSizeMismatch, packfile.ErrLengthOverflow,
	idxfile.ErrMalformedIdxFile, idxfile.ErrUnsupportedVersion,
	objfile.ErrHeader, objfile.ErrNegativeSize,
	dotgit.ErrPackfileNotFound, dotgit.ErrIdxNotFound, dotgit.ErrPackedRefsBadFormat,
	dotgit.ErrPackedRefsDuplicatedRef, dotgit.ErrEmptyRefFile,
	index.ErrMalformedSignature, index.ErrInvalidChecksum, index.ErrMalformedIndexFile,
	zlib.ErrHeader, zlib.ErrChecksum, zlib.ErrDictionary,
	io.ErrUnexpectedEOF,
}

// damaged reports whether err says git data could not be read back.
func damaged(err error) bool {
	var flateErr flate.CorruptInputError
	if errors.As(err, &flateErr) {
		return true
	}
	for _, d := range damage {
		if errors.Is(err, d) {
			return true
		}
	}
	return false
}
