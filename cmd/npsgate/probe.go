package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// probe GETs an operations endpoint and reports success as the exit code.
// The image is distroless (no shell, no curl), so a container health check
// can only run the binary itself:
//
//	healthcheck: {test: ["CMD", "/npsgate", "probe", "http://127.0.0.1:9091/readyz"]}
func probe(ctx context.Context, rawURL string, stdout, stderr io.Writer) int {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "npsgate probe: want an http(s) URL like http://127.0.0.1:9091/readyz, got %q\n", rawURL)
		return 2
	}
	// Shorter than Docker's default 30s health-check timeout, so a hung
	// endpoint is reported by us, with a reason, not killed silently.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		fmt.Fprintln(stderr, "npsgate probe:", err)
		return 2
	}
	// No proxy from the environment: the endpoint is this host's or a
	// neighbour's, never the internet's.
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "npsgate probe:", err)
		return 1
	}
	defer resp.Body.Close()
	// The body says which check failed; a few KiB is all a health log keeps.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	line := fmt.Sprintf("%s %s", resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(stderr, "npsgate probe:", line)
		return 1
	}
	fmt.Fprintln(stdout, line)
	return 0
}
