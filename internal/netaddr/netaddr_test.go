package netaddr

import "testing"

func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LOCALHOST", true},
		{"LocalHost", true},
		{"localhost.", true},
		{"localhost:8080", true},
		{"127.0.0.1", true},
		{"127.0.0.2", true},
		{"127.255.255.254", true},
		{"127.0.0.1:443", true},
		{"::1", true},
		{"[::1]", true},
		{"[::1]:8080", true},
		{"0:0:0:0:0:0:0:1", true},
		{"::ffff:127.0.0.1", true},
		{"[::ffff:127.0.0.9]:80", true},
		{"", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"x.localhost", false},
		{"localhostx", false},
		{"128.0.0.1", false},
		{"10.0.0.1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"::2", false},
		{"[fe80::1]:80", false},
		{"::ffff:10.0.0.1", false},
		{"127.0.0.1.example.com", false},
		{"127.1", false}, // not an address netip reads; a resolver might
	} {
		if got := IsLoopback(tc.host); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
