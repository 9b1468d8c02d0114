package review

// ReplyMarker is replyMarker for the tests in package review_test: those
// drive the bot through the real GitHub client, and review/ghclient
// imports review, so they cannot be in package review.
const ReplyMarker = replyMarker
