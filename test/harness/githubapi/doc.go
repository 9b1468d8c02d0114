// Package githubapi is an in-process fake of the GitHub REST API for the
// endpoints allot's review bot uses, for tests that cannot reach GitHub.
//
// It follows GitHub's documented shapes: JSON objects are built from the
// real payloads of @octokit/webhooks-examples (the same objects the REST
// API returns), errors read {"message", "documentation_url"}, lists are
// paginated with Link headers, and every answer carries X-RateLimit-*
// headers. It serves the API at the root, like api.github.com, and under
// /api/v3/, like GitHub Enterprise Server.
//
// A Server keeps repositories, pull requests, comments, reactions, commit
// statuses, check runs, team memberships and merges. Tests set it up and
// inspect it with methods (AddRepo, OpenPR, Push, AddComment, Statuses,
// Merges ...). It authenticates personal tokens and, acting as a GitHub
// App, verifies RS256 JWTs and mints installation tokens. Its clock starts
// at a fixed time and ticks one second on every write, so timestamps are
// deterministic. It can answer the next requests with GitHub's primary or
// secondary rate-limit errors, or server errors. Set up with DeliverTo, it
// sends signed webhook deliveries for what happens, as GitHub does.
package githubapi
