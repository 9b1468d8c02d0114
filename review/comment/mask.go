package comment

import (
	"regexp"
	"strings"
)

// Mask replaces every occurrence of each secret of 4 bytes or more with
// "***", and masks PEM private key blocks and the passwords of URLs
// (https://user:password@host becomes https://user:***@host). Occurrences
// that overlap or touch are masked as one, so no part of either shows.
func Mask(text string, secrets []string) string {
	text = maskKeys(text)
	text = maskSecrets(text, secrets)
	if !strings.Contains(text, "://") {
		return text
	}
	return urlPassword.ReplaceAllString(text, "${1}***@")
}

var (
	keyBegin    = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)
	keyEnd      = regexp.MustCompile(`-----END [A-Z0-9 ]*PRIVATE KEY-----`)
	urlPassword = regexp.MustCompile(`(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#@]+@`)
	// urlTail is a URL at the end of a text that may go on with a
	// password: it has a colon after the user and no host yet.
	urlTail = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:[^\s/?#@]*$`)
)

// cutRaw cuts s, not yet masked, to at most n bytes, and drops whatever
// tail might be the start of a secret or of a URL's password that the cut
// ended, as masking could no longer recognise it.
func cutRaw(s string, n int, secrets []string) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for again := true; again; {
		again = false
		for _, secret := range secrets {
			if len(secret) < 4 {
				continue
			}
			for k := min(len(secret)-1, len(s)); k > 0; k-- {
				if strings.HasSuffix(s, secret[:k]) {
					s, again = s[:len(s)-k], true
					break
				}
			}
		}
		if !strings.Contains(s, "://") {
			continue
		}
		if loc := urlTail.FindStringIndex(s); loc != nil {
			s, again = s[:loc[0]], true
		}
	}
	return s
}

// maskKeys masks the body of each PEM private key block, keeping its
// BEGIN and END lines. A block without an END line, cut off somewhere, is
// masked as far as its text looks like a key.
func maskKeys(s string) string {
	if !strings.Contains(s, "PRIVATE KEY-----") {
		return s
	}
	lastEnd := -1
	if ends := keyEnd.FindAllStringIndex(s, -1); len(ends) > 0 {
		lastEnd = ends[len(ends)-1][0]
	}
	var b strings.Builder
	pos := 0
	for {
		loc := keyBegin.FindStringIndex(s[pos:])
		if loc == nil {
			break
		}
		start, body := pos+loc[0], pos+loc[1]
		b.WriteString(s[pos:start])
		if body <= lastEnd {
			end := keyEnd.FindStringIndex(s[body:])
			b.WriteString(s[start:body])
			b.WriteString(maskKeyBody(s[body : body+end[0]]))
			b.WriteString(s[body+end[0] : body+end[1]])
			pos = body + end[1]
			continue
		}
		pos = body
		for pos < len(s) && isKeyByte(s[pos]) {
			pos++
		}
		b.WriteString("***")
	}
	b.WriteString(s[pos:])
	return b.String()
}

// maskKeyBody masks what is between a key's BEGIN and END lines, never
// making it longer, and giving the same result when masked again.
func maskKeyBody(body string) string {
	switch {
	case len(body) >= 5 && body[0] == '\n' && body[len(body)-1] == '\n':
		return "\n***\n"
	case len(body) >= 3:
		return "***"
	}
	return body
}

// isKeyByte reports whether c may be part of a PEM body as it shows in
// text: base64, headers, line breaks, and the quotes and escapes of a
// quoted string or diff.
func isKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+/= \t\r\n\"',:\\-", c) >= 0
}

// maskSecrets replaces each run of text covered by occurrences of secrets
// with "***", until no secret occurs: joining the text around a run could
// form one again.
func maskSecrets(s string, secrets []string) string {
	for {
		var covered []bool
		for _, secret := range secrets {
			if len(secret) < 4 {
				continue
			}
			done := 0 // covered up to here by this secret
			for i := 0; ; {
				j := strings.Index(s[i:], secret)
				if j < 0 {
					break
				}
				if covered == nil {
					covered = make([]bool, len(s))
				}
				start, end := i+j, i+j+len(secret)
				for k := max(start, done); k < end; k++ {
					covered[k] = true
				}
				done, i = end, start+1
			}
		}
		if covered == nil {
			return s
		}
		var b strings.Builder
		for i := 0; i < len(s); {
			j := i
			for j < len(s) && covered[j] == covered[i] {
				j++
			}
			if covered[i] {
				b.WriteString("***")
			} else {
				b.WriteString(s[i:j])
			}
			i = j
		}
		s = b.String()
	}
}
