package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/allot-dev/allot/reconciler/idp"
)

// MaxErrorDetail bounds how much of a server's error message an error
// shows.
const MaxErrorDetail = 300

// redacted replaces a secret in what a server said.
const redacted = "[redacted]"

// StatusError is a service's refusal: which backend and request, the HTTP
// status, the service's error code and message, and the idp error the
// status stands for, which Unwrap returns, so that callers check it with
// errors.Is(err, idp.ErrNotFound) and the like.
type StatusError struct {
	Backend    string // such as "okta"
	Request    string // method and path, such as "PATCH /Groups/42"
	StatusCode int
	// Code is the service's error code, such as "E0000007" or
	// "Request_ResourceNotFound"; empty when it has none.
	Code string
	// Detail is the service's message, masked and at most
	// MaxErrorDetail bytes.
	Detail string
	// Kind is the idp error the refusal stands for, or nil.
	Kind error
	// Hint says what to check, for the reader of a refusal of
	// credentials.
	Hint string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Backend, e.Request, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Kind != nil {
		msg += ": " + e.Kind.Error()
	}
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// Unwrap returns the idp error the refusal stands for.
func (e *StatusError) Unwrap() error { return e.Kind }

// IsStatus says whether err is a refusal with this status whose service
// code is code (any when empty) and whose detail holds text.
func IsStatus(err error, status int, code, text string) bool {
	var e *StatusError
	return errors.As(err, &e) && e.StatusCode == status && (code == "" || e.Code == code) && strings.Contains(e.Detail, text)
}

// statusError maps an error answer to a *StatusError. auth is the
// credential the request carried, masked like the secrets; renewed says
// that it was already a new one after a refusal.
func (c *Client) statusError(k call, resp *http.Response, data []byte, auth string, renewed bool) error {
	code, msg := "", ""
	if c.ErrorBody != nil {
		code, msg = c.ErrorBody(data)
	}
	if strings.TrimSpace(msg) == "" {
		msg = string(data)
	}
	secrets := append([]string{auth, strings.TrimPrefix(auth, "Bearer ")}, c.Secrets...)
	e := &StatusError{
		Backend:    c.Backend,
		Request:    k.request,
		StatusCode: resp.StatusCode,
		Code:       Bound(Mask(code, secrets...)),
		Detail:     Bound(Mask(msg, secrets...)),
	}
	switch status := resp.StatusCode; {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = idp.ErrUnauthorized
	case status == http.StatusNotFound:
		e.Kind = idp.ErrNotFound
	case status == http.StatusConflict:
		e.Kind = idp.ErrConflict
	case status == http.StatusTooManyRequests,
		status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		// A 503 that says when to come back is a server shedding load,
		// as Microsoft Graph does.
		e.Kind = &idp.RateLimitError{RetryAfter: RetryAfter(resp.Header, c.now())}
	case status >= 500:
		e.Kind = idp.ErrTransient
	}
	if c.Classify != nil {
		c.Classify(e)
	}
	if errors.Is(e.Kind, idp.ErrUnauthorized) {
		e.Hint = c.UnauthorizedHint
		if renewed && resp.StatusCode == http.StatusUnauthorized {
			e.Hint = strings.TrimSuffix("refused a new token as well, so the old one was not merely stale; "+c.UnauthorizedHint, "; ")
		}
	}
	return e
}

// Mask replaces every secret, as is and as escaped in a URL or a form, in
// text. Empty secrets are passed over.
func Mask(text string, secrets ...string) string {
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			text = strings.ReplaceAll(text, form, redacted)
		}
	}
	return text
}

// Bound folds text onto one line and cuts it to MaxErrorDetail bytes, on
// a character boundary. Mask before bounding, so that no part of a secret
// cut in two survives.
func Bound(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if len(text) <= MaxErrorDetail {
		return text
	}
	cut := MaxErrorDetail
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes more)", text[:cut], len(text)-cut)
}
