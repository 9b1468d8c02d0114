package app

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/allot-dev/allot/renderer/sources"
)

// Log formats and levels of the global --log-format and --log-level.
const (
	LogText = "text"
	LogJSON = "json"
)

var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// logFlags are the global --log-format and --log-level, and the logger
// every command logs through once they are parsed.
type logFlags struct {
	format, level string
	logger        *slog.Logger
	// onLogger, when set, is told the logger once it is made, so that
	// what libraries print goes through it too (Main).
	onLogger func(*slog.Logger)
}

func (f *logFlags) bind(root *cobra.Command) {
	f.format, f.level = LogText, "info"
	pf := root.PersistentFlags()
	pf.Var(&choice{p: &f.format, check: oneOf("log format", LogText, LogJSON)}, "log-format", "log format, for every command: text or json")
	pf.Var(&choice{p: &f.level, check: oneOf("log level", "debug", "info", "warn", "error")}, "log-level", "the least severe log records written: debug, info, warn or error")
}

// build makes the logger, writing to w, from the parsed flags.
func (f *logFlags) build(w io.Writer) *slog.Logger {
	f.logger = newLogger(w, f.format, f.level)
	if f.onLogger != nil {
		f.onLogger(f.logger)
	}
	return f.logger
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[level]}
	if format == LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logger is the logger of the global flags, or for a command function
// called without them (tests), text at info on s.Err.
func (s Streams) logger() *slog.Logger {
	if s.logs != nil && s.logs.logger != nil {
		return s.logs.logger
	}
	return newLogger(s.Err, LogText, "info")
}

// libraryOutput turns what libraries print — on os.Stderr, as kustomize
// does with its warnings, and through the standard log package — into
// warnings of allot's logger, so that one format holds everything on
// stderr. Until the logger is known, lines go to stderr as they are.
type libraryOutput struct {
	stderr  *os.File // the process's own stderr
	handler switchHandler
	r, w    *os.File
	done    chan struct{}
}

// captureLibraryOutput swaps os.Stderr for a pipe and points the standard
// log package and controller-runtime's logger at allot's logger. Call it
// once, from Main, and close it before exiting.
func captureLibraryOutput() *libraryOutput {
	l := &libraryOutput{stderr: os.Stderr, done: make(chan struct{})}
	l.handler.set(slog.NewTextHandler(l.stderr, nil))
	log.SetFlags(0)
	log.SetOutput(&lineWriter{emit: l.emit("log")})
	ctrllog.SetLogger(logr.FromSlogHandler(warnAndAbove{&l.handler}))
	r, w, err := os.Pipe()
	if err != nil {
		close(l.done)
		return l
	}
	l.r, l.w = r, w
	os.Stderr = w
	go func() {
		defer close(l.done)
		emit := l.emit("stderr")
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			emit(sc.Text())
		}
	}()
	return l
}

// setLogger sends what libraries print to logger from now on.
func (l *libraryOutput) setLogger(logger *slog.Logger) { l.handler.set(logger.Handler()) }

// emit logs one line a library printed through source as a warning.
func (l *libraryOutput) emit(source string) func(string) {
	return func(line string) {
		line = strings.TrimSpace(line)
		if line == "" {
			return
		}
		if sources.IsKustomizeWarning(line) {
			// The renderer notes it on the bundle with the file that has
			// it, and the command reports it from there.
			return
		}
		slog.New(&l.handler).LogAttrs(context.Background(), slog.LevelWarn, line, slog.String("source", source))
	}
}

// close restores os.Stderr and waits until every line is logged.
func (l *libraryOutput) close() {
	if l.w == nil {
		log.SetOutput(l.stderr)
		log.SetFlags(log.LstdFlags)
		return
	}
	os.Stderr = l.stderr
	_ = l.w.Close()
	<-l.done
	_ = l.r.Close()
	log.SetOutput(l.stderr)
	log.SetFlags(log.LstdFlags)
}

// lineWriter calls emit with each line written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// switchHandler hands records to a handler that can be changed while
// logging goes on.
type switchHandler struct{ h atomic.Pointer[slog.Handler] }

func (s *switchHandler) set(h slog.Handler) { s.h.Store(&h) }
func (s *switchHandler) current() slog.Handler {
	if h := s.h.Load(); h != nil {
		return *h
	}
	return slog.DiscardHandler
}

func (s *switchHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.current().Enabled(ctx, l)
}
func (s *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}
func (s *switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &derived{parent: s, with: func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) }}
}
func (s *switchHandler) WithGroup(name string) slog.Handler {
	return &derived{parent: s, with: func(h slog.Handler) slog.Handler { return h.WithGroup(name) }}
}

// derived is a switchHandler with attributes or a group, applied to the
// handler current when a record is handled.
type derived struct {
	parent slog.Handler
	with   func(slog.Handler) slog.Handler
}

func (d *derived) resolve() slog.Handler {
	if p, ok := d.parent.(*derived); ok {
		return d.with(p.resolve())
	}
	return d.with(d.parent.(*switchHandler).current())
}
func (d *derived) Enabled(ctx context.Context, l slog.Level) bool {
	return d.resolve().Enabled(ctx, l)
}
func (d *derived) Handle(ctx context.Context, r slog.Record) error {
	return d.resolve().Handle(ctx, r)
}
func (d *derived) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &derived{parent: d, with: func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) }}
}
func (d *derived) WithGroup(name string) slog.Handler {
	return &derived{parent: d, with: func(h slog.Handler) slog.Handler { return h.WithGroup(name) }}
}

// warnAndAbove passes on only warnings and errors: controller-runtime's
// informational records are not allot's to show.
type warnAndAbove struct{ slog.Handler }

func (w warnAndAbove) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}
func (w warnAndAbove) WithAttrs(attrs []slog.Attr) slog.Handler {
	return warnAndAbove{w.Handler.WithAttrs(attrs)}
}
func (w warnAndAbove) WithGroup(name string) slog.Handler {
	return warnAndAbove{w.Handler.WithGroup(name)}
}
