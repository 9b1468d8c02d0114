package review

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// The limits a Handler puts on bodies, which it must read before it can
// check their signature: until then anyone on the internet may have sent
// them.
const (
	// DefaultMaxBody is the largest webhook body Handler reads unless told
	// otherwise: GitHub caps payloads at 25 MB and does not deliver larger
	// ones, so a genuine delivery always fits.
	DefaultMaxBody int64 = 25 << 20
	// DefaultBodyBudget is the most bytes of bodies a Handler holds at
	// once, signed or not: one delivery of the largest size, or many of
	// the usual few kilobytes.
	DefaultBodyBudget int64 = 32 << 20
	// DefaultBodyWait is how long a delivery waits for room in the budget
	// before it is answered 503.
	DefaultBodyWait = 2 * time.Second
	// DefaultBodyTimeout bounds the reading of one body. GitHub gives up
	// on a delivery after 10 seconds, so a body that takes longer is
	// never genuine.
	DefaultBodyTimeout = 10 * time.Second
)

// The headers GitHub sends with every webhook delivery.
const (
	HeaderSignature256  = "X-Hub-Signature-256"
	HeaderSignatureSHA1 = "X-Hub-Signature"
	HeaderEvent         = "X-GitHub-Event"
	HeaderDelivery      = "X-GitHub-Delivery"
)

// ErrNoSecret is returned by NewHandler without a webhook secret: allot
// does not accept unsigned webhooks.
var ErrNoSecret = errors.New("no webhook secret configured: set the secret GitHub signs deliveries with")

// Event is one webhook delivery that passed the checks, with the fields
// that route it.
type Event struct {
	// Name is the X-GitHub-Event header, for example "pull_request".
	Name string
	// Delivery is the X-GitHub-Delivery header, unique per delivery.
	Delivery string
	// Action is the payload's action, for example "synchronize"; empty for
	// events without one.
	Action string
	// Repo is the repository's full name, "owner/name"; empty for events
	// about no repository.
	Repo string
	// PR is the pull request's number: pull_request.number, or issue.number
	// for a comment on a pull request; 0 for events about no pull request.
	PR int
	// Payload is the raw body GitHub sent.
	Payload []byte
}

// Handler is the GitHub webhook endpoint. It accepts POST requests signed
// with Secret (X-Hub-Signature-256), drops deliveries already seen,
// answers 202 at once and passes each new event to Dispatch on its own
// goroutine. Fill it with NewHandler, or fill the fields directly.
type Handler struct {
	// Secret is the webhook secret; a Handler without one rejects every
	// delivery.
	Secret []byte
	// MaxBody is the largest body accepted; zero means DefaultMaxBody.
	MaxBody int64
	// BodyBudget bounds the bytes of all bodies being read or checked at
	// once; zero means DefaultBodyBudget, and it is never less than
	// MaxBody. Deliveries beyond it wait up to BodyWait, then are answered
	// 503 with Retry-After.
	BodyBudget int64
	// BodyWait is how long a delivery waits for room in BodyBudget; zero
	// answers 503 at once.
	BodyWait time.Duration
	// BodyTimeout bounds the reading of one body; zero means
	// DefaultBodyTimeout. A body not in by then is answered 408 and its
	// connection closed.
	BodyTimeout time.Duration
	// Deliveries de-duplicates deliveries by ID; nil disables
	// de-duplication.
	Deliveries *DeliveryCache
	// Dispatch receives each accepted event after the response is sent,
	// for example Serializer.Dispatch.
	Dispatch func(Event)
	// Log receives rejected and accepted deliveries; nil discards them.
	Log *slog.Logger

	dispatching sync.WaitGroup
	budgetOnce  sync.Once
	budget      *semaphore.Weighted
}

// NewHandler returns a Handler that checks deliveries against secret,
// remembers DefaultDeliveryCacheSize delivery IDs and passes events to
// dispatch. It refuses an empty secret with ErrNoSecret.
func NewHandler(secret []byte, dispatch func(Event), log *slog.Logger) (*Handler, error) {
	if len(secret) == 0 {
		return nil, ErrNoSecret
	}
	return &Handler{
		Secret:      secret,
		MaxBody:     DefaultMaxBody,
		BodyBudget:  DefaultBodyBudget,
		BodyWait:    DefaultBodyWait,
		BodyTimeout: DefaultBodyTimeout,
		Deliveries:  NewDeliveryCache(DefaultDeliveryCacheSize),
		Dispatch:    dispatch,
		Log:         log,
	}, nil
}

// NewServer returns an http.Server for handler with the timeouts an
// endpoint open to the internet needs, so that slow or idle clients cannot
// hold connections (and the memory behind them) for long: a request's
// headers must arrive within 10 seconds and all of it within 30, an idle
// connection is closed after 60 seconds, and headers are at most 64 KiB.
// Handler bounds its bodies more tightly still.
func NewServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

var _ http.Handler = (*Handler)(nil)

// ServeHTTP checks one delivery and, when it is new and genuine, answers
// 202 and dispatches it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	delivery := r.Header.Get(HeaderDelivery)
	log = log.With("delivery", delivery, "event", r.Header.Get(HeaderEvent), "remote", r.RemoteAddr)
	bodyRead := false
	reject := func(code int, msg string) {
		log.Warn("reject webhook", "status", code, "reason", msg)
		if !bodyRead {
			// Otherwise the server would read what is left of the body
			// after the answer, to keep the connection.
			w.Header().Set("Connection", "close")
		}
		http.Error(w, msg, code)
	}

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(http.StatusMethodNotAllowed, "method not allowed: webhooks are POST requests")
		return
	}
	if len(h.Secret) == 0 {
		reject(http.StatusInternalServerError, "webhook secret not configured")
		return
	}
	// Everything that can be checked without the body is checked first,
	// so that a request that cannot be a delivery costs no memory.
	sig, msg := signature(r.Header)
	if msg != "" {
		reject(http.StatusUnauthorized, msg)
		return
	}
	name := r.Header.Get(HeaderEvent)
	if name == "" || delivery == "" {
		reject(http.StatusBadRequest, HeaderEvent+" and "+HeaderDelivery+" headers are required")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		reject(http.StatusUnsupportedMediaType, "content type must be application/json: set it in the webhook's settings")
		return
	}
	maxBody := h.maxBody()
	switch {
	case r.ContentLength < 0:
		reject(http.StatusLengthRequired, "Content-Length required: GitHub sends it, so check the proxy in front of allot")
		return
	case r.ContentLength > maxBody:
		reject(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
		return
	}
	if !h.reserve(r, r.ContentLength) {
		w.Header().Set("Retry-After", strconv.Itoa(int(h.bodyTimeout().Round(time.Second)/time.Second)))
		reject(http.StatusServiceUnavailable, "too many deliveries being read at once; retry later")
		return
	}
	defer h.bodyBudget().Release(r.ContentLength)
	body, err := h.readBody(w, r)
	bodyRead = err == nil
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			reject(http.StatusRequestTimeout, fmt.Sprintf("body not received within %s", h.bodyTimeout()))
			return
		}
		reject(http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	mac := hmac.New(sha256.New, h.Secret)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), sig) {
		reject(http.StatusUnauthorized, HeaderSignature256+" does not match the body: check the webhook secret")
		return
	}

	ev, err := parseEvent(name, delivery, body)
	if err != nil {
		reject(http.StatusBadRequest, err.Error())
		return
	}
	if h.Deliveries != nil && !h.Deliveries.Add(delivery) {
		log.Info("duplicate webhook delivery")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, "duplicate delivery")
		return
	}

	log.Info("accept webhook", "action", ev.Action, "repo", ev.Repo, "pr", ev.PR)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, "accepted")
	if h.Dispatch == nil {
		return
	}
	// GitHub gives up on a delivery after 10 seconds, so the work happens
	// after the answer, on its own goroutine.
	h.dispatching.Go(func() { h.Dispatch(ev) })
}

func (h *Handler) maxBody() int64 {
	if h.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return h.MaxBody
}

func (h *Handler) bodyTimeout() time.Duration {
	if h.BodyTimeout <= 0 {
		return DefaultBodyTimeout
	}
	return h.BodyTimeout
}

// reserve takes n bytes of the body budget, waiting up to BodyWait for
// them; it reports false when they could not be had.
func (h *Handler) reserve(r *http.Request, n int64) bool {
	if h.BodyWait <= 0 {
		return h.bodyBudget().TryAcquire(n)
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.BodyWait)
	defer cancel()
	return h.bodyBudget().Acquire(ctx, n) == nil
}

// bodyBudget returns the semaphore that counts the bytes of bodies held,
// made on first use from BodyBudget and MaxBody.
func (h *Handler) bodyBudget() *semaphore.Weighted {
	h.budgetOnce.Do(func() {
		budget := h.BodyBudget
		if budget <= 0 {
			budget = DefaultBodyBudget
		}
		h.budget = semaphore.NewWeighted(max(budget, h.maxBody()))
	})
	return h.budget
}

// readBody reads the request's body, of its Content-Length, within
// BodyTimeout.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(h.bodyTimeout())); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, err
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		// The deadline stays, so the server's own reads of what is left
		// fail too and the connection is closed.
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("body shorter than its Content-Length of %d bytes", r.ContentLength)
		}
		return nil, err
	}
	// The next request on the connection gets the server's own deadline.
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

// Wait blocks until every Dispatch call the Handler started has returned;
// call it after the HTTP server has shut down.
func (h *Handler) Wait() { h.dispatching.Wait() }

// signature returns the HMAC-SHA256 a request claims, or why it has none
// usable.
func signature(header http.Header) (sig []byte, msg string) {
	value := header.Get(HeaderSignature256)
	if value == "" {
		if header.Get(HeaderSignatureSHA1) != "" {
			return nil, HeaderSignature256 + " required: SHA-1 signatures (" + HeaderSignatureSHA1 + ") are not accepted"
		}
		return nil, HeaderSignature256 + " required: configure a webhook secret in GitHub"
	}
	hexSum, ok := strings.CutPrefix(value, "sha256=")
	if !ok {
		return nil, HeaderSignature256 + " must read sha256=<hex>"
	}
	sig, err := hex.DecodeString(hexSum)
	if err != nil || len(sig) != sha256.Size {
		return nil, HeaderSignature256 + " must read sha256=<64 hex digits>"
	}
	return sig, ""
}

// parseEvent reads the fields that route an event from its payload.
func parseEvent(name, delivery string, payload []byte) (Event, error) {
	var p struct {
		Action     string `json:"action"`
		Repository *struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
		PullRequest *struct {
			Number int `json:"number"`
		} `json:"pull_request"`
		Issue *struct {
			Number      int             `json:"number"`
			PullRequest json.RawMessage `json:"pull_request"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return Event{}, fmt.Errorf("parse %s payload: %w", name, err)
	}
	ev := Event{Name: name, Delivery: delivery, Action: p.Action, Payload: payload}
	if p.Repository != nil {
		ev.Repo = p.Repository.FullName
	}
	switch {
	case p.PullRequest != nil:
		ev.PR = p.PullRequest.Number
	case p.Issue != nil && len(p.Issue.PullRequest) > 0 && string(p.Issue.PullRequest) != "null":
		// Comments on pull requests arrive as issue_comment events on the
		// pull request's issue, which links to the pull request.
		ev.PR = p.Issue.Number
	}
	return ev, nil
}
