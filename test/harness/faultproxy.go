package harness

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/tools/clientcmd"
)

// FaultProxy is a TCP proxy on 127.0.0.1 in front of a real server, for
// fault tests: it can cut every connection and refuse new ones (a server
// that went away), or freeze them (a server that stopped answering, as
// under SIGSTOP), and then be restored.
type FaultProxy struct {
	// Addr is where clients connect.
	Addr     string
	upstream string

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	frozen bool
	thawed *sync.Cond
	closed bool
}

// StartFaultProxy starts a proxy to upstream (host:port).
func StartFaultProxy(upstream string) (*FaultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{Addr: ln.Addr().String(), upstream: upstream, conns: map[net.Conn]bool{}}
	p.thawed = sync.NewCond(&p.mu)
	p.serve(ln)
	return p, nil
}

func (p *FaultProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
}

func (p *FaultProxy) relay(c net.Conn) {
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !p.waitThawed() {
					break
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	p.untrack(c, up)
}

func (p *FaultProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ln == nil {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *FaultProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// waitThawed blocks while the proxy is frozen; false means it was cut or
// closed meanwhile.
func (p *FaultProxy) waitThawed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.frozen && !p.closed && p.ln != nil {
		p.thawed.Wait()
	}
	return !p.closed && p.ln != nil
}

// Cut closes every connection and the listener: clients get connection
// refused until Restore.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	p.thawed.Broadcast()
}

// Restore listens again on the same address after Cut.
func (p *FaultProxy) Restore() error {
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", p.Addr, err)
	}
	p.serve(ln)
	return nil
}

// Freeze stops forwarding bytes, on open and new connections alike, until
// Thaw: requests hang as on a stopped server.
func (p *FaultProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

// Thaw forwards again what Freeze held.
func (p *FaultProxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	p.thawed.Broadcast()
}

// Close stops the proxy for good.
func (p *FaultProxy) Close() error {
	p.Cut()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.thawed.Broadcast()
	return nil
}

// KubeconfigVia writes, in dir, a copy of the kubeconfig file at path whose
// clusters are reached through addr (host:port) instead: the proxy in front
// of their API server. The server certificate must be valid for addr's
// host, as 127.0.0.1 is for the control planes here.
func KubeconfigVia(path, addr, dir string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	if len(cfg.Clusters) == 0 {
		return "", errors.New(path + " names no cluster")
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + addr
	}
	out := filepath.Join(dir, "kubeconfig-via-proxy")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		return "", err
	}
	if err := os.Chmod(out, 0o600); err != nil {
		return "", err
	}
	return out, nil
}

var _ io.Closer = (*FaultProxy)(nil)
