package review_test

import (
	"fmt"
	"testing"
)

// BenchmarkBotComment times one comment command through the webhook
// endpoint, the bot and the GitHub API: reading the pull request and its
// comments, reacting, and editing the bot comment.
func BenchmarkBotComment(b *testing.B) {
	w := newBotWorld(b)
	n := w.open("dev-dan")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.gh.AddComment(botRepo, n, "dev-dan", fmt.Sprintf("/approve cancel\nround %d", i))
		w.gh.Wait()
		w.handler.Wait()
		w.serializer.Wait()
	}
}
