package tcpproxy

import (
	"bufio"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes a line and reads it back within d.
func roundTrip(c net.Conn, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo: " + line)
	}
	return nil
}

func TestModes(t *testing.T) {
	p := Start(t, echoServer(t))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	open := dial()
	if err := roundTrip(open, time.Second); err != nil {
		t.Fatalf("forward: %v", err)
	}

	p.Set(Blackhole)
	if err := roundTrip(open, 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole, open connection: %v, want a timeout", err)
	}
	if err := roundTrip(dial(), 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole, new connection: %v, want a timeout", err)
	}

	p.Set(Forward)
	if err := roundTrip(open, time.Second); err == nil {
		t.Fatal("a connection silenced by the blackhole works again")
	}
	fresh := dial()
	if err := roundTrip(fresh, time.Second); err != nil {
		t.Fatalf("forward after the blackhole: %v", err)
	}

	p.Set(Refuse)
	if err := roundTrip(fresh, time.Second); err == nil {
		t.Fatal("refuse kept an open connection")
	}
	if err := roundTrip(dial(), time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("refuse, new connection: %v, want it closed at once", err)
	}

	p.Set(Forward)
	if err := roundTrip(dial(), time.Second); err != nil {
		t.Fatalf("forward after refuse: %v", err)
	}
}
