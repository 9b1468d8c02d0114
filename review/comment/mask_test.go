package comment_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/allot-dev/allot/review/comment"
)

func TestMask(t *testing.T) {
	const key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx4\nQ0hCZ3Z5\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name    string
		text    string
		secrets []string
		want    string
	}{
		{"replaces every occurrence of a secret", "a hunter22 b hunter22", []string{"hunter22"}, "a *** b ***"},
		{"ignores empty and short secrets", "abc abcd", []string{"", "abc"}, "abc abcd"},
		{"masks overlapping secrets as one", "xx abcdefgh yy", []string{"abcdef", "defgh"}, "xx *** yy"},
		{"masks a secret inside another", "1 token-abcd-x 2", []string{"abcd", "token-abcd-x"}, "1 *** 2"},
		{"masks what masking joins into a secret again", "tok*tok*", []string{"tok*", "****"}, "***"},
		{"masks the body of a PEM private key", "key:\n" + key + "\nend", nil, "key:\n-----BEGIN RSA PRIVATE KEY-----\n***\n-----END RSA PRIVATE KEY-----\nend"},
		{"masks a PEM private key cut short", "x -----BEGIN PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nQ0hC<end>", nil, "x ***<end>"},
		{"leaves public keys alone", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", nil, "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},
		{"masks the password of a URL", "clone https://bot:s3cret@github.com/acme/x.git failed", nil, "clone https://bot:***@github.com/acme/x.git failed"},
		{"keeps a URL without a password", "see https://bot@github.com/acme and https://github.com/a:b", nil, "see https://bot@github.com/acme and https://github.com/a:b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := comment.Mask(tt.text, tt.secrets)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if again := comment.Mask(got, tt.secrets); again != got {
				t.Errorf("masking again changed %q to %q", got, again)
			}
		})
	}
}
