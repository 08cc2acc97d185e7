package bench

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/internal/twiliotest"
	"github.com/npsgate/npsgate/store"
)

const inboundFull = 20_000 // requests of each kind at full size

type inboundState struct {
	N int `json:"n"`
}

// setupInbound writes 2N contacts and a sent delivery for each: the first
// N by email (answered on the reply page), the others by SMS (answered by
// text).
func setupInbound(ctx context.Context, c *childCtx) error {
	st, err := openStore(ctx, c.env)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := createSurvey(ctx, st, "email", "sms"); err != nil {
		return err
	}
	n := c.scaled(inboundFull, 1_000)
	if err := copyContacts(ctx, c.env.DatabaseURL, 2*n, ""); err != nil {
		return err
	}
	ds := makeDeliveries(2*n, store.StatusSent, "", func(i int) string {
		if i < n {
			return "email"
		}
		return "sms"
	})
	if err := writeDeliveries(ctx, st, ds); err != nil {
		return err
	}
	db, err := sql.Open("pgx", c.env.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return err
	}
	return c.saveState(inboundState{N: n})
}

// runInbound: answers at full load against `npsgate api`: reply-page
// POSTs (a score and a comment per token), then signed Twilio SMS webhooks
// (a score per number), each from 32 keep-alive connections; afterwards
// the stored responses must equal the accepted requests.
func runInbound(ctx context.Context, c *childCtx) error {
	var s inboundState
	if err := c.loadState(&s); err != nil {
		return err
	}
	c.res.Size, c.res.Full = s.N, inboundFull
	db, err := sql.Open("pgx", c.env.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var tokens, phones []string
	rows, err := db.QueryContext(ctx, `SELECT channel, token, address FROM deliveries ORDER BY contact_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var ch, tok, addr string
		if err := rows.Scan(&ch, &tok, &addr); err != nil {
			return err
		}
		if ch == "email" {
			tokens = append(tokens, tok)
		} else {
			phones = append(phones, addr)
		}
	}
	rows.Close()

	rg, err := startGateway(ctx, c, gateway.RoleAPI, nil)
	if err != nil {
		return err
	}
	defer rg.stop()
	hc := newHTTPClient(loadConns)

	type phase struct {
		name string
		n    int
		req  func(i int) *http.Request
		ok   func(code int, body string) bool
	}
	comments := []string{"", "Quick and friendly", "The import tool kept failing.", "Great support, slow invoices"}
	phases := []phase{
		{name: "reply", n: len(tokens), req: func(i int) *http.Request {
			form := url.Values{"score": {strconv.Itoa(i % 11)}, "comment": {comments[i%len(comments)]}}
			r, _ := http.NewRequestWithContext(ctx, "POST", rg.base+"/r/"+tokens[i], strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, ok: func(code int, body string) bool { return code == 200 }},
		{name: "sms", n: len(phones), req: func(i int) *http.Request {
			form := url.Values{"MessageSid": {fmt.Sprintf("SM%032x", i+1)}, "AccountSid": {twiliotest.DefaultAccountSID},
				"From": {phones[i]}, "To": {benchSMSFrom}, "Body": {strconv.Itoa(i % 11)}, "NumMedia": {"0"}}
			r, _ := http.NewRequestWithContext(ctx, "POST", rg.base+"/v1/inbound/twilio/sms", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set(twiliotest.SignatureHeader, twiliotest.Sign(twiliotest.DefaultAuthToken, benchPublicURL+"/v1/inbound/twilio/sms", form))
			return r
		}, ok: func(code int, body string) bool { return code == 200 && strings.Contains(body, "<Message>Thank you") }},
	}
	c.startMeasure()
	totalAccepted := 0
	for _, p := range phases {
		var (
			next     atomic.Int64
			accepted atomic.Int64
			bad      atomic.Int64
			lastBad  atomic.Value
			lat      samples
			wg       sync.WaitGroup
		)
		start := time.Now()
		mark := c.cpuMark()
		stopAt := start.Add(c.inboundTimeout())
		for range loadConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= p.n || ctx.Err() != nil || time.Now().After(stopAt) {
						return
					}
					t := time.Now()
					resp, err := hc.Do(p.req(i))
					if err != nil {
						bad.Add(1)
						lastBad.Store(err.Error())
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					lat.add(time.Since(t))
					if p.ok(resp.StatusCode, string(b)) {
						accepted.Add(1)
					} else {
						bad.Add(1)
						lastBad.Store(fmt.Sprintf("%d %.200s", resp.StatusCode, b))
					}
				}
			}()
		}
		wg.Wait()
		took := time.Since(start)
		done := int(min(next.Load(), int64(p.n)))
		if done < p.n {
			done = int(accepted.Load() + bad.Load())
			c.res.note("%s: cut at %.0fs after %d of %d requests", p.name, took.Seconds(), done, p.n)
		}
		c.cpuPerOp(mark, done, p.name)
		c.res.set(p.name+"_per_s", float64(done)/took.Seconds())
		c.res.set(p.name+"_done", float64(done))
		c.res.set(p.name+"_seconds", took.Seconds())
		c.res.set(p.name+"_accepted", float64(accepted.Load()))
		c.res.set(p.name+"_refused", float64(bad.Load()))
		lat.record(c.res, p.name)
		if v, _ := lastBad.Load().(string); v != "" {
			c.res.note("%s: %d not accepted, e.g. %s", p.name, bad.Load(), v)
		}
		totalAccepted += int(accepted.Load())
		c.logf("%s: %d requests in %.1fs", p.name, p.n, took.Seconds())
	}
	c.endMeasure()
	var stored int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM responses`).Scan(&stored); err != nil {
		return err
	}
	c.res.set("accepted", float64(totalAccepted))
	c.res.set("stored", float64(stored))
	c.res.set("lost", float64(totalAccepted-stored))
	c.res.note("`npsgate api` (no worker in the process); %d keep-alive connections; reply page: score+comment form per token; SMS: signed webhook, a score per number; stored responses counted with SELECT count(*) afterwards",
		loadConns)
	return nil
}

// inboundTimeout bounds each inbound phase: 20s at full size.
func (c *childCtx) inboundTimeout() time.Duration {
	return time.Duration(max(10, 20*c.env.Scale) * float64(time.Second))
}
