package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Where Debian's slapd package puts the server, its schemas and its
// backend modules; slapadd is the same program under another name.
const (
	slapdPath  = "/usr/sbin/slapd"
	slapaddDir = "/usr/sbin"
	schemaDir  = "/etc/ldap/schema"
	moduleDir  = "/usr/lib/ldap"
)

// errNoSlapd says how to get slapd on the machine.
var errNoSlapd = fmt.Errorf("%s is missing; the LDAP tests run a real OpenLDAP server: "+
	"install it with `DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils`", slapdPath)

// LDAPServerOptions tunes StartLDAPServer.
type LDAPServerOptions struct {
	// BaseDN is the suffix of the directory; dc=allot,dc=test when empty.
	BaseDN string
	// Password is the root DN's password, without spaces, quotes or
	// backslashes; random when empty.
	Password string
	// TLS makes slapd also answer StartTLS on URL and serve ldaps:// on
	// LDAPSURL, with a certificate for 127.0.0.1 signed by a throw-away CA
	// (CertPool).
	TLS bool
	// SizeLimit, when positive, is the most entries one search returns to
	// the service account (ServiceDN), as a directory's administrative
	// limit would; a paged search may go on past it, a plain one fails
	// with sizeLimitExceeded. The root DN has no limit.
	SizeLimit int
	// Log receives slapd's output; nil discards it. The end of it is also
	// in the error when slapd does not start.
	Log io.Writer
	// StartTimeout bounds how long slapd may take to answer; 15s when zero.
	StartTimeout time.Duration
}

// LDAPServer is a real OpenLDAP server (slapd) with a throw-away
// configuration and database in a temporary folder, on a random loopback
// port: an mdb database with the core, cosine and inetOrgPerson schemas,
// a root DN, and ou=people and ou=groups under the base DN. It also has a
// service account, cn=allot under the base DN, that may read everything
// and write only under ou=groups, as allot's account would in a real
// directory.
type LDAPServer struct {
	dir      string
	base     string
	password string
	service  string
	url      string
	ldapsURL string
	pool     *x509.CertPool
	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// StartLDAPServer starts slapd. Stop it with Close.
func StartLDAPServer(opts LDAPServerOptions) (*LDAPServer, error) {
	if _, err := os.Stat(slapdPath); err != nil {
		return nil, errNoSlapd
	}
	if opts.BaseDN == "" {
		opts.BaseDN = "dc=allot,dc=test"
	}
	if opts.Password == "" {
		opts.Password = randomHex(12)
	}
	if strings.ContainsAny(opts.Password, " \t\n\"\\") {
		return nil, errors.New("the LDAP root password must not hold spaces, quotes or backslashes, which slapd.conf would misread")
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 15 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	dc, err := firstDC(opts.BaseDN)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "allot-slapd-")
	if err != nil {
		return nil, err
	}
	s := &LDAPServer{dir: dir, base: opts.BaseDN, password: opts.Password, service: randomHex(12)}
	if err := s.configure(opts, dc); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Another process may take the port between our probe and slapd's
	// bind; slapd then exits at once and we try another port.
	for attempt := 0; ; attempt++ {
		err = s.start(opts)
		if err == nil {
			return s, nil
		}
		if attempt == 4 || !errors.Is(err, errSlapdExited) {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// configure writes slapd.conf and loads the base entries with slapadd.
func (s *LDAPServer) configure(opts LDAPServerOptions, dc string) error {
	if err := os.Mkdir(filepath.Join(s.dir, "data"), 0o700); err != nil {
		return err
	}
	var conf strings.Builder
	for _, schema := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&conf, "include %s\n", filepath.Join(schemaDir, schema+".schema"))
	}
	fmt.Fprintf(&conf, "pidfile %s\n", filepath.Join(s.dir, "slapd.pid"))
	fmt.Fprintf(&conf, "argsfile %s\n", filepath.Join(s.dir, "slapd.args"))
	fmt.Fprintf(&conf, "modulepath %s\nmoduleload back_mdb\n", moduleDir)
	if opts.TLS {
		pool, err := writeLDAPCertificates(s.dir)
		if err != nil {
			return err
		}
		s.pool = pool
		fmt.Fprintf(&conf, "TLSCACertificateFile %s\n", filepath.Join(s.dir, "ca.pem"))
		fmt.Fprintf(&conf, "TLSCertificateFile %s\n", filepath.Join(s.dir, "server.pem"))
		fmt.Fprintf(&conf, "TLSCertificateKeyFile %s\n", filepath.Join(s.dir, "server-key.pem"))
	}
	fmt.Fprintf(&conf, "database mdb\nmaxsize 104857600\n")
	fmt.Fprintf(&conf, "suffix %q\nrootdn %q\nrootpw %s\n", s.base, s.BindDN(), s.password)
	fmt.Fprintf(&conf, "directory %s\n", filepath.Join(s.dir, "data"))
	fmt.Fprintf(&conf, "index objectClass,cn,mail eq\n")
	service := s.ServiceDN()
	if opts.SizeLimit > 0 {
		fmt.Fprintf(&conf, "limits dn.exact=%q size.soft=%d size.hard=%d size.prtotal=unlimited\n",
			service, opts.SizeLimit, opts.SizeLimit)
	}
	fmt.Fprintf(&conf, "access to attrs=userPassword by anonymous auth by * none\n")
	fmt.Fprintf(&conf, "access to dn.subtree=%q by dn.exact=%q write by * none\n", s.GroupsDN(), service)
	fmt.Fprintf(&conf, "access to * by dn.exact=%q read by * none\n", service)
	confPath := filepath.Join(s.dir, "slapd.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		return err
	}
	ldif := fmt.Sprintf(`dn: %[1]s
objectClass: dcObject
objectClass: organization
dc: %[2]s
o: %[2]s

dn: %[3]s
objectClass: organizationalUnit
ou: people

dn: %[4]s
objectClass: organizationalUnit
ou: groups

dn: %[5]s
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: allot
userPassword: %[6]s
`, s.base, dc, s.PeopleDN(), s.GroupsDN(), s.ServiceDN(), s.service)
	ldifPath := filepath.Join(s.dir, "base.ldif")
	if err := os.WriteFile(ldifPath, []byte(ldif), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(slapaddDir, "slapadd"), "-f", confPath, "-l", ldifPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("slapadd the base entries: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

var errSlapdExited = errors.New("slapd exited")

// start runs slapd on free ports and waits until it answers.
func (s *LDAPServer) start(opts LDAPServerOptions) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.url = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	listen := s.url + "/"
	if opts.TLS {
		tlsPort, err := freePort()
		if err != nil {
			return err
		}
		s.ldapsURL = fmt.Sprintf("ldaps://127.0.0.1:%d", tlsPort)
		listen += " " + s.ldapsURL + "/"
	}
	// -d 0 keeps slapd in the foreground without debug output. No -u/-g:
	// slapd only drops privileges when asked, and the folder belongs to
	// whoever runs the tests.
	cmd := exec.Command(slapdPath, "-d", "0", "-h", listen, "-f", filepath.Join(s.dir, "slapd.conf"))
	// Keep the end of slapd's output for the error when it will not start.
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(opts.Log, &tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		if s.waitErr == nil {
			s.waitErr = errors.New("exit status 0")
		}
		close(s.exited)
	}()
	deadline := time.Now().Add(opts.StartTimeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%w while starting (%w); is port %d taken? slapd said: %s",
				errSlapdExited, s.waitErr, port, tail.String())
		default:
		}
		conn, err := s.Dial()
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("slapd did not answer on %s within %s: %w; slapd said: %s",
				s.url, opts.StartTimeout, err, tail.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the server's ldap:// address, for example ldap://127.0.0.1:38999.
func (s *LDAPServer) URL() string { return s.url }

// LDAPSURL is the server's ldaps:// address; empty without the TLS option.
func (s *LDAPServer) LDAPSURL() string { return s.ldapsURL }

// CertPool holds the CA that signed the server's certificate; nil without
// the TLS option.
func (s *LDAPServer) CertPool() *x509.CertPool { return s.pool }

// BindDN is the root DN, which may do anything in the directory.
func (s *LDAPServer) BindDN() string { return "cn=admin," + s.base }

// Password is the root DN's password.
func (s *LDAPServer) Password() string { return s.password }

// ServiceDN is the service account, which may read the whole directory
// and write under ou=groups only, within SizeLimit.
func (s *LDAPServer) ServiceDN() string { return "cn=allot," + s.base }

// ServicePassword is the service account's password.
func (s *LDAPServer) ServicePassword() string { return s.service }

// BaseDN is the directory's suffix.
func (s *LDAPServer) BaseDN() string { return s.base }

// PeopleDN is the folder of users, ou=people under the base DN.
func (s *LDAPServer) PeopleDN() string { return "ou=people," + s.base }

// GroupsDN is the folder of groups, ou=groups under the base DN.
func (s *LDAPServer) GroupsDN() string { return "ou=groups," + s.base }

// Dial connects to the server over plain LDAP and binds as the root DN.
// The caller closes the connection.
func (s *LDAPServer) Dial() (*ldap.Conn, error) {
	conn, err := ldap.DialURL(s.url, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind(s.BindDN(), s.password); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// AddUser adds an inetOrgPerson uid=UID under ou=people with the given
// mail and returns its DN.
func (s *LDAPServer) AddUser(uid, mail string) (string, error) {
	conn, err := s.Dial()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	dn := "uid=" + ldap.EscapeDN(uid) + "," + s.PeopleDN()
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{uid})
	req.Attribute("cn", []string{uid})
	req.Attribute("sn", []string{uid})
	req.Attribute("mail", []string{mail})
	if err := conn.Add(req); err != nil {
		return "", fmt.Errorf("add user %s: %w", dn, err)
	}
	return dn, nil
}

// Close stops slapd and removes its folder.
func (s *LDAPServer) Close() error {
	s.stop()
	return os.RemoveAll(s.dir)
}

func (s *LDAPServer) stop() {
	s.stopOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		// SIGTERM lets slapd close the database cleanly; kill it if it
		// takes too long.
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 4096; over > 0 {
		b.buf = b.buf[over:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// firstDC is the value of the base DN's first RDN, which must be a dc for
// the dcObject entry slapadd creates.
func firstDC(base string) (string, error) {
	dn, err := ldap.ParseDN(base)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 ||
		!strings.EqualFold(dn.RDNs[0].Attributes[0].Type, "dc") {
		return "", fmt.Errorf("LDAP base DN %q must start with a dc= component", base)
	}
	return dn.RDNs[0].Attributes[0].Value, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeLDAPCertificates writes a throw-away CA (ca.pem) and a certificate
// for 127.0.0.1 and localhost it signed (server.pem, server-key.pem) into
// dir, and returns a pool with the CA.
func writeLDAPCertificates(dir string) (*x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "allot test LDAP CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	files := map[string]*pem.Block{
		"ca.pem":         {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem":     {Type: "CERTIFICATE", Bytes: leafDER},
		"server-key.pem": {Type: "PRIVATE KEY", Bytes: keyDER},
	}
	for name, block := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, nil
}

// TLSConfig is a client configuration that trusts the server's CA; nil
// without the TLS option.
func (s *LDAPServer) TLSConfig() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}
