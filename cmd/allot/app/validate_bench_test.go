package app

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkValidateHostile times `allot validate` on the hostile examples: a
// new user must get the error in well under a second, and memory must stay
// small however the input is built.
func BenchmarkValidateHostile(b *testing.B) {
	for _, name := range []string{"alias-bomb", "file-too-large", "several-documents", "unknown-field", "duplicate-name", "expires-past"} {
		b.Run(name, func(b *testing.B) {
			dir := examples(b, "invalid", name)
			b.ReportAllocs()
			for b.Loop() {
				code := Run(Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, []string{"validate", "--repo", dir}, func(string) string { return "" })
				if code != ExitInvalid {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
