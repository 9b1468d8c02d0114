package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/allot-dev/allot/environments"
	"github.com/allot-dev/allot/reconciler"
	"github.com/allot-dev/allot/schemas/load"
)

// passReport is the document of `allot reconcile -o json|yaml`, one per
// pass.
type passReport struct {
	Commit string `json:"commit"`
	// Error says why the pass stopped before changing anything.
	Error        string                   `json:"error,omitempty"`
	Environments []envReport              `json:"environments"`
	Clusters     []clusterReport          `json:"clusterErrors"`
	Kept         []reconciler.KeptRequest `json:"kept"`
	Interrupted  bool                     `json:"interrupted,omitempty"`
	Undone       []environmentName        `json:"undone,omitempty"`
}

// envReport is one environment of a pass.
type envReport struct {
	Cluster     string `json:"cluster"`
	Environment string `json:"environment"`
	Action      string `json:"action"`
	Ready       bool   `json:"ready"`
	Applied     int    `json:"applied"`
	Pruned      int    `json:"pruned"`
	Message     string `json:"message,omitempty"`
	Error       string `json:"error,omitempty"`
}

// clusterReport is a cluster the pass could not work on in full.
type clusterReport struct {
	Cluster string `json:"cluster"`
	Error   string `json:"error"`
}

// environmentName is an environment on a cluster.
type environmentName struct {
	Cluster     string `json:"cluster"`
	Environment string `json:"environment"`
}

func (n environmentName) String() string { return n.Cluster + "/" + n.Environment }

// passPrinter shows reconcile passes: in text, each environment's line as
// soon as its result is final, and on a terminal a status line on stderr
// saying what the pass waits for and for how long; in JSON or YAML, one
// document when the pass ends.
type passPrinter struct {
	out    io.Writer
	format string
	status *statusLine // nil off a terminal

	mu      sync.Mutex
	ctx     context.Context
	printed map[environmentName]bool
	undone  []environmentName
}

func newPassPrinter(s Streams, format string) *passPrinter {
	p := &passPrinter{out: s.Out, format: format}
	if isTTY(s.Err) {
		p.status = &statusLine{w: s.Err}
	}
	return p
}

// watchSource wraps the reconciler's source so that the printer knows
// when the repository is read, what commit it is, and on a terminal which
// environments to wait for.
func (p *passPrinter) watchSource(src reconciler.Source) reconciler.Source {
	return sourceFunc(func(ctx context.Context) (reconciler.Snapshot, error) {
		snap, err := src.Fetch(ctx)
		if err != nil {
			return snap, err
		}
		if p.status != nil {
			p.status.expect(expectedEnvironments(snap.Dir))
		}
		if !structured(p.format) {
			p.line(whatWasRead(snap.Commit))
		}
		return snap, nil
	})
}

// sourceFunc is a reconciler.Source made of a function.
type sourceFunc func(context.Context) (reconciler.Snapshot, error)

func (f sourceFunc) Fetch(ctx context.Context) (reconciler.Snapshot, error) { return f(ctx) }

// expectedEnvironments are the environments a repository places on
// clusters, as allot list resolves them, for the status line; those being
// torn down are not known before they finish.
func expectedEnvironments(dir string) []environmentName {
	repo, err := load.Load(dir, load.Options{Builtin: environments.Templates()})
	if err != nil {
		return nil
	}
	var out []environmentName
	for _, row := range Rows(repo) {
		for _, c := range row.Clusters {
			out = append(out, environmentName{Cluster: c, Environment: row.Name})
		}
	}
	return out
}

// start begins a pass.
func (p *passPrinter) start(ctx context.Context, pass int) {
	p.mu.Lock()
	p.ctx, p.printed, p.undone = ctx, map[environmentName]bool{}, nil
	p.mu.Unlock()
	if pass > 0 && p.format == OutputYAML {
		fmt.Fprintln(p.out, "---")
	}
	if p.status != nil {
		p.status.begin()
	}
}

// environment takes one environment's final result, as the pass goes.
func (p *passPrinter) environment(e reconciler.EnvResult) {
	name := environmentName{Cluster: e.Cluster, Environment: e.Environment}
	p.mu.Lock()
	// Once the pass is interrupted, an environment that fails has most
	// likely failed for it: it was left undone.
	interrupted := p.ctx != nil && p.ctx.Err() != nil && e.Err != nil
	if interrupted {
		p.undone = append(p.undone, name)
	} else {
		p.printed[name] = true
	}
	p.mu.Unlock()
	if p.status != nil {
		p.status.done(name)
	}
	if !interrupted && !structured(p.format) {
		p.line(envLine(e))
	}
}

// line prints one line of text, clearing the status line around it.
func (p *passPrinter) line(s string) {
	write := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		fmt.Fprintln(p.out, s)
	}
	if p.status == nil {
		write()
		return
	}
	p.status.pause(write)
}

// logger returns log, whose records, on a terminal, clear the status line
// and have it drawn again after them.
func (p *passPrinter) logger(log *slog.Logger) *slog.Logger {
	if p.status == nil {
		return log
	}
	return slog.New(pausing{Handler: log.Handler(), s: p.status})
}

// pausing is a handler that writes its records where a status line is.
type pausing struct {
	slog.Handler
	s *statusLine
}

func (h pausing) Handle(ctx context.Context, r slog.Record) error {
	var err error
	h.s.pause(func() { err = h.Handler.Handle(ctx, r) })
	return err
}
func (h pausing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return pausing{Handler: h.Handler.WithAttrs(attrs), s: h.s}
}
func (h pausing) WithGroup(name string) slog.Handler {
	return pausing{Handler: h.Handler.WithGroup(name), s: h.s}
}

// finish prints what the pass did that was not printed yet: in text the
// clusters' errors, the kept requests, environments not reported on the
// way, and what Ctrl-C left undone; in JSON or YAML the whole document.
func (p *passPrinter) finish(ctx context.Context, res *reconciler.PassResult) error {
	if p.status != nil {
		p.status.end()
	}
	report := passReport{Commit: res.Commit, Environments: []envReport{}, Clusters: []clusterReport{}, Kept: res.Kept.List(), Interrupted: ctx.Err() != nil}
	if res.Err != nil {
		report.Error = res.Err.Error()
	}
	p.mu.Lock()
	printed, undone := p.printed, slices.Clone(p.undone)
	p.mu.Unlock()
	var late []reconciler.EnvResult
	for _, c := range res.Clusters {
		if c.Err != nil {
			report.Clusters = append(report.Clusters, clusterReport{Cluster: c.Name, Error: c.Err.Error()})
		}
		for _, e := range c.Environments {
			name := environmentName{Cluster: c.Name, Environment: e.Environment}
			if slices.Contains(undone, name) || (report.Interrupted && !printed[name] && e.Err != nil) {
				if !slices.Contains(undone, name) {
					undone = append(undone, name)
				}
				continue
			}
			er := envReport{Cluster: c.Name, Environment: e.Environment, Action: string(e.Action), Ready: e.Ready, Applied: e.Applied, Pruned: e.Pruned, Message: e.Message}
			if e.Err != nil {
				er.Error = e.Err.Error()
			}
			report.Environments = append(report.Environments, er)
			if !printed[name] {
				late = append(late, e)
			}
		}
	}
	slices.SortFunc(undone, func(a, b environmentName) int { return strings.Compare(a.String(), b.String()) })
	report.Undone = undone
	return printOutput(p.out, p.format, report, func(w io.Writer) error {
		if res.Err != nil {
			fmt.Fprintf(w, "pass stopped before changing anything: %v\n", res.Err)
		}
		for _, e := range late {
			fmt.Fprintln(w, envLine(e))
		}
		for _, c := range report.Clusters {
			fmt.Fprintf(w, "%s: error: %s\n", c.Cluster, c.Error)
		}
		for _, k := range report.Kept {
			fmt.Fprintf(w, "%s: kept: last state kept: %s\n", cmp.Or(k.Environment, k.File), k.Message)
		}
		if report.Interrupted {
			names := make([]string, len(undone))
			for i, n := range undone {
				names[i] = n.String()
			}
			left := "nothing"
			if len(names) > 0 {
				left = strings.Join(names, ", ")
			}
			fmt.Fprintf(w, "interrupted: left undone: %s\n", left)
		}
		return nil
	})
}

// envLine is an environment's line: "cluster / environment: action",
// what was applied and pruned, and the message or error.
func envLine(e reconciler.EnvResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s / %s: %s", e.Cluster, e.Environment, e.Action)
	var counts []string
	if e.Applied > 0 {
		counts = append(counts, fmt.Sprintf("%d applied", e.Applied))
	}
	if e.Pruned > 0 {
		counts = append(counts, fmt.Sprintf("%d pruned", e.Pruned))
	}
	if len(counts) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(counts, ", "))
	}
	switch {
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// isTTY reports whether w is a terminal that can redraw a line.
func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// statusLine is the last line of a terminal, redrawn every second, that
// says what a pass waits for and for how long.
type statusLine struct {
	w io.Writer
	// term orders what is written to the terminal: the line, and what
	// is printed above it.
	term sync.Mutex

	mu       sync.Mutex
	since    time.Time
	fetched  bool
	expected []environmentName
	finished map[environmentName]bool
	shown    bool
	stop     chan struct{}
	now      func() time.Time
}

func (s *statusLine) begin() {
	s.mu.Lock()
	s.since, s.fetched, s.expected, s.finished = s.clock(), false, nil, map[environmentName]bool{}
	s.stop = make(chan struct{})
	stop := s.stop
	s.mu.Unlock()
	s.draw()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.draw()
			}
		}
	}()
}

func (s *statusLine) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *statusLine) expect(envs []environmentName) {
	s.mu.Lock()
	s.fetched, s.expected, s.since = true, envs, s.clock()
	s.mu.Unlock()
}

func (s *statusLine) done(n environmentName) {
	s.mu.Lock()
	s.finished[n] = true
	s.mu.Unlock()
}

// text says what the pass waits for and for how long.
func (s *statusLine) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	took := s.clock().Sub(s.since).Round(time.Second)
	if !s.fetched {
		return fmt.Sprintf("reading the repository (%s)", took)
	}
	var waiting []string
	for _, n := range s.expected {
		if !s.finished[n] {
			waiting = append(waiting, n.String())
		}
	}
	if len(waiting) == 0 {
		return fmt.Sprintf("finishing the pass (%s)", took)
	}
	const show = 3
	names := strings.Join(waiting[:min(show, len(waiting))], ", ")
	if len(waiting) > show {
		names += fmt.Sprintf(" and %d more", len(waiting)-show)
	}
	return fmt.Sprintf("waiting for %d of %d environments: %s (%s)", len(waiting), len(s.expected), names, took)
}

// maxStatusWidth keeps the status line on one line of a common terminal.
const maxStatusWidth = 100

func (s *statusLine) draw() {
	s.term.Lock()
	defer s.term.Unlock()
	s.drawLocked()
}

// drawLocked draws the line; the caller holds term.
func (s *statusLine) drawLocked() {
	t := s.text()
	if r := []rune(t); len(r) > maxStatusWidth {
		t = string(r[:maxStatusWidth-1]) + "…"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		return
	}
	fmt.Fprintf(s.w, "\r\x1b[K%s", t)
	s.shown = true
}

func (s *statusLine) clear() {
	s.term.Lock()
	defer s.term.Unlock()
	s.clearLocked()
}

// clearLocked clears the line; the caller holds term.
func (s *statusLine) clearLocked() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.shown = false
	}
}

// pause clears the line, runs write, which writes to the terminal, and
// draws the line again below what it wrote.
func (s *statusLine) pause(write func()) {
	s.term.Lock()
	defer s.term.Unlock()
	s.clearLocked()
	write()
	s.drawLocked()
}

func (s *statusLine) end() {
	s.mu.Lock()
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	s.mu.Unlock()
	s.clear()
}
