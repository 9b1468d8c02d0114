package fleet

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

// withElectionLog makes client-go's leader election log through the
// Share's logger, its information demoted to debug and its verbose records
// (every renewal) dropped: the Share says itself what it holds.
func (s *Share) withElectionLog(ctx context.Context) context.Context {
	return klog.NewContext(ctx, logr.FromSlogHandler(quieter{s.o.Log.Handler()}))
}

// quieter writes information at debug level, and drops what is below
// it: logr's V(1) and up.
type quieter struct{ slog.Handler }

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo && q.Handler.Enabled(ctx, demote(l))
}

func (q quieter) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return q.Handler.Handle(ctx, r)
}

func (q quieter) WithAttrs(as []slog.Attr) slog.Handler { return quieter{q.Handler.WithAttrs(as)} }
func (q quieter) WithGroup(g string) slog.Handler       { return quieter{q.Handler.WithGroup(g)} }

func demote(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}
