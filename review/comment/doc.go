// Package comment renders what allot's pull-request bot posts on GitHub:
// the bot comment on a pull request and the check run or commit status of
// its head (Render, RenderCheck, from a View and its Report), the ready
// notice after a merge (RenderNotice), the expiry notices (RenderExpiring,
// RenderExpired) and the replies to commands (RenderHelp, RenderRefusals).
//
// It works on plain data and knows nothing of GitHub or of how the bot
// decides; package review fills the views and posts the text. Every
// rendering holds what a hostile pull request may put in it:
//
//   - Secrets are masked (Mask) before anything is cut, so that no cut
//     leaves part of one showing; PEM private keys and URL passwords are
//     masked too.
//   - User text is escaped for where it goes (Escape for prose, Code for
//     code spans, fences longer than any backtick run), so it cannot close
//     a block, start HTML or pass for one of allot's hidden markers.
//   - A body stays within GitHub's limits (MaxBody for comments): diffs are
//     cut first, then plan entries shrink to their summary lines, and only
//     then are the other lists shortened.
//
// The same helpers serve the few lines the bot writes itself (Escape,
// Code, Clip, Count, List, Duration, ShortSHA).
package comment
