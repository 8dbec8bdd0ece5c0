// Package dnshole is a nameserver that models unreachable DNS: it reads every query and never
// answers, like a server whose route is gone, and records each query so a test can prove how many
// lookups a program made. Optionally it starts answering after a delay, modelling routes that
// come back.
package dnshole

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Query is one query the server received.
type Query struct {
	Server   string        `json:"server"` // address the query was sent to
	Proto    string        `json:"proto"`  // udp or tcp
	Name     string        `json:"name"`   // fully qualified, e.g. "localhost."
	Type     string        `json:"type"`   // A, AAAA, ...
	At       time.Duration `json:"at"`     // since the server started
	Answered bool          `json:"answered"`
}

// Server listens on one or more addresses.
type Server struct {
	// AnswerAfter, when positive, makes the server answer queries that arrive after this long:
	// localhost resolves to 127.0.0.1 (A) and to nothing (AAAA); every other name is NXDOMAIN.
	// Queries that arrived before are never answered: their packets were lost.
	AnswerAfter time.Duration

	start     time.Time
	mu        sync.Mutex
	queries   []Query
	udp       []net.PacketConn
	tcp       []net.Listener
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start listens on UDP and TCP port 53 (or the port given) of every address and serves until
// Close.
func Start(answerAfter time.Duration, addrs ...string) (*Server, error) {
	s := &Server{AnswerAfter: answerAfter, start: time.Now()}
	for _, a := range addrs {
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("dns blackhole: listen udp %s: %w", a, err)
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			pc.Close()
			s.Close()
			return nil, fmt.Errorf("dns blackhole: listen tcp %s: %w", a, err)
		}
		s.udp = append(s.udp, pc)
		s.tcp = append(s.tcp, ln)
		s.wg.Add(2)
		go s.serveUDP(pc)
		go s.serveTCP(ln)
	}
	return s, nil
}

// Queries returns a copy of the log.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Close stops serving and waits for the listeners to finish.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for _, pc := range s.udp {
			pc.Close()
		}
		for _, ln := range s.tcp {
			ln.Close()
		}
	})
	s.wg.Wait()
}

func (s *Server) serveUDP(pc net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if reply := s.handle(buf[:n], pc.LocalAddr().String(), "udp"); reply != nil {
			_, _ = pc.WriteTo(reply, from)
		}
	}
}

func (s *Server) serveTCP(ln net.Listener) {
	defer s.wg.Done()
	var conns sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	defer func() {
		// Close held connections so Close does not wait for clients to give up.
		mu.Lock()
		for c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		open[c] = true
		mu.Unlock()
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer func() { mu.Lock(); delete(open, c); mu.Unlock(); c.Close() }()
			for {
				var size [2]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				if reply := s.handle(msg, ln.Addr().String(), "tcp"); reply != nil {
					out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
					_, _ = c.Write(append(out, reply...))
				}
			}
		}()
	}
}

// handle logs a query and returns the reply to send, or nil to stay silent.
func (s *Server) handle(msg []byte, server, proto string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil { // including a query with no question
		return nil
	}
	at := time.Since(s.start)
	answer := s.AnswerAfter > 0 && at >= s.AnswerAfter
	s.mu.Lock()
	s.queries = append(s.queries, Query{Server: server, Proto: proto, Name: q.Name.String(),
		Type: typeName(q.Type), At: at, Answered: answer})
	s.mu.Unlock()
	if !answer {
		return nil
	}
	reply, err := answerFor(h.ID, q)
	if err != nil {
		return nil
	}
	return reply
}

func answerFor(id uint16, q dnsmessage.Question) ([]byte, error) {
	h := dnsmessage.Header{ID: id, Response: true, Authoritative: true, RecursionAvailable: true}
	isLocalhost := q.Name.String() == "localhost."
	if !isLocalhost {
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if isLocalhost && q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

func typeName(t dnsmessage.Type) string {
	s := t.String()
	if len(s) > 4 && s[:4] == "Type" {
		return s[4:]
	}
	return s
}
