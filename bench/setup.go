package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/npsgate/npsgate/config"
	"github.com/npsgate/npsgate/dispatcher"
	"github.com/npsgate/npsgate/gateway"
	"github.com/npsgate/npsgate/internal/twiliotest"
	"github.com/npsgate/npsgate/store"
)

const (
	benchAPIKey    = "npsbench-key-0123456789abcdef"
	benchPublicURL = "https://nps.bench.example"
	benchSMSFrom   = "+14155550199"
	benchSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	benchSurvey    = "bench"
	benchProduct   = "Acme Cloud"
)

// --- PostgreSQL databases (parent side) ---

func createDatabase(ctx context.Context, adminURL, figure string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("NPSGATE_TEST_POSTGRES: %w", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "npsbench_" + sanitize(figure) + "_" + hex.EncodeToString(b)
	if err := adminExec(ctx, adminURL, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func dropDatabase(ctx context.Context, adminURL, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return err
	}
	name := u.Path[1:]
	return adminExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

func adminExec(ctx context.Context, adminURL, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

func flushRedis(ctx context.Context, env *Env) error {
	opt, err := redis.ParseURL(env.RedisURL())
	if err != nil {
		return err
	}
	c := redis.NewClient(opt)
	defer c.Close()
	return c.FlushDB(ctx).Err()
}

// --- data (child side, setup phase) ---

// openStore opens the figure's database, migrated.
func openStore(ctx context.Context, env *Env) (*store.Store, error) {
	st, err := store.Open(ctx, env.DatabaseURL, nil)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func setupMigrated(ctx context.Context, c *childCtx) error {
	st, err := openStore(ctx, c.env)
	if err != nil {
		return err
	}
	return st.Close()
}

// createSurvey makes the bench's NPS survey.
func createSurvey(ctx context.Context, st *store.Store, channels ...string) error {
	return st.CreateSurvey(ctx, &store.Survey{Key: benchSurvey, ProductName: benchProduct, Channels: channels})
}

// benchContact describes contact i of a figure.
type benchContact struct {
	email, phone, webhook, tz, locale, account, role string
}

var (
	timeZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Shanghai", "America/Sao_Paulo"}
	roles     = []string{"decision_maker", "operator", "user"}
)

func contactID(i int) string { return fmt.Sprintf("c%08d", i) }

// phoneOf is a distinct, well-formed North American number per i.
func phoneOf(i int) string { return fmt.Sprintf("+1%03d555%04d", 201+i/10000%700, i%10000) }

// copyContacts writes n contacts with COPY (setup, not measured): every
// one has an email, a phone and a webhook of its own, a time zone among
// five, an account of five and a role.
func copyContacts(ctx context.Context, dbURL string, n int, webhookBase string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	now := time.Now().UTC()
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		id := contactID(i)
		attrs := `{"tier":"KA"}`
		if webhookBase != "" {
			attrs = fmt.Sprintf(`{"tier":"KA","webhook_webhook":"%s/hook/%d"}`, webhookBase, i)
		}
		row := []any{id, fmt.Sprintf("Contact %d", i), fmt.Sprintf("%s@customer%d.example", id, i%97), phoneOf(i),
			"en", timeZones[i%len(timeZones)], fmt.Sprintf("acct-%d", i/5), roles[i%len(roles)], `[]`, attrs, now, now}
		i++
		return row, nil
	})
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"contacts"},
		[]string{"external_id", "name", "email", "phone", "locale", "time_zone", "account", "role", "tags", "attributes",
			"created_at", "updated_at"}, src)
	return err
}

func emailOf(i int) string { return fmt.Sprintf("%s@customer%d.example", contactID(i), i%97) }

// makeDeliveries builds one delivery per contact [0, n) on the channel
// chosen by pick, in status.
func makeDeliveries(n int, status store.DeliveryStatus, webhookBase string, pick func(i int) string) []*store.Delivery {
	now := time.Now()
	out := make([]*store.Delivery, n)
	for i := range n {
		ch := pick(i)
		addr := emailOf(i)
		switch ch {
		case "sms":
			addr = phoneOf(i)
		case "webhook":
			addr = fmt.Sprintf("%s/hook/%d", webhookBase, i)
		}
		d := &store.Delivery{ID: uuid.Must(uuid.NewV7()).String(), SurveyKey: benchSurvey, ContactID: contactID(i),
			Channel: ch, Address: addr, Locale: "en", Token: dispatcher.NewToken(), Status: status, Source: "trigger",
			SendAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
		if status == store.StatusSent {
			d.SentAt = &now
		}
		out[i] = d
	}
	return out
}

// writeDeliveries writes the rows through the store's own multi-row insert
// (CommitPage), so the rows are exactly what the fan-out writes.
func writeDeliveries(ctx context.Context, st *store.Store, ds []*store.Delivery) error {
	const page = 2000
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
		next  atomic.Int64
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(page)) - page
				if start >= len(ds) {
					return
				}
				if _, err := st.CommitPage(ctx, "", "", ds[start:min(start+page, len(ds))], nil); err != nil {
					errMu.Lock()
					first = errors.Join(first, err)
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// enqueueDeliveries queues the sends of every delivery through the
// dispatcher's own client, as a campaign's fan-out does (batches of
// dispatcher.BatchSize per task; setup, not measured).
func enqueueDeliveries(ctx context.Context, env *Env, ds []*store.Delivery) error {
	opt, err := parseAsynqRedis(env.RedisURL())
	if err != nil {
		return err
	}
	cl := dispatcher.NewClient(opt, 8)
	defer cl.Close()
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		errMu sync.Mutex
		first error
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			const page = 1000
			for {
				i := (int(next.Add(1)) - 1) * page
				if i >= len(ds) {
					return
				}
				if err := cl.ScheduleDeliveries(ctx, ds[i:min(i+page, len(ds))]); err != nil {
					errMu.Lock()
					first = errors.Join(first, err)
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// --- the gateway under test (child side, run phase) ---

// runningGateway is a gateway.Gateway serving in this process.
type runningGateway struct {
	g      *gateway.Gateway
	base   string // http://127.0.0.1:port ("" without the API role)
	cancel context.CancelFunc
	done   chan error
}

// gatewayVars are the settings of every figure, as an operator would give
// them: the defaults, plus the local providers, plus the limits that a
// benchmark must lift (the SMS token bucket of 1/s, the reply page's 30
// answers per IP and minute; every request comes from 127.0.0.1).
func gatewayVars(env *Env) map[string]string {
	v := map[string]string{
		"NPSGATE_PUBLIC_URL":                     benchPublicURL,
		"NPSGATE_REDIS_URL":                      env.RedisURL(),
		"NPSGATE_DATABASE_URL":                   env.DatabaseURL,
		"NPSGATE_API_KEYS":                       benchAPIKey,
		"NPSGATE_THROTTLE_RATES":                 "sms=1000000/s,whatsapp=1000000/s,dingtalk=20/m,wecom=20/m,feishu=100/m",
		"NPSGATE_THROTTLE_REPLY_PAGE_PER_MINUTE": "1000000000",
		"NPSGATE_LOG_LEVEL":                      "info",
	}
	if p := env.Providers; p.SMTP != "" {
		v["NPSGATE_SMTP_URL"] = "smtp://" + p.SMTP
		v["NPSGATE_SMTP_FROM"] = "Acme NPS <nps@acme.example>"
		v["NPSGATE_SMTP_STARTTLS"] = "none"
		v["NPSGATE_TWILIO_ACCOUNT_SID"] = twiliotest.DefaultAccountSID
		v["NPSGATE_TWILIO_AUTH_TOKEN"] = twiliotest.DefaultAuthToken
		v["NPSGATE_TWILIO_FROM"] = benchSMSFrom
		v["NPSGATE_TWILIO_API_URL"] = p.Twilio
		v["NPSGATE_CHAT_WEBHOOK_SECRET"] = benchSecret
		// The webhook sink is on loopback, which the gateway refuses for
		// user-given URLs unless told otherwise.
		v["NPSGATE_SECURITY_ALLOW_PRIVATE_TARGETS"] = "true"
	}
	return v
}

func startGateway(ctx context.Context, c *childCtx, role gateway.Role, extra map[string]string) (*runningGateway, error) {
	vars := gatewayVars(c.env)
	dir, err := os.MkdirTemp("", "npsbench-data-")
	if err != nil {
		return nil, err
	}
	vars["NPSGATE_DATA_DIR"] = dir
	// A bench runs several gateways on one host; none needs the worker's
	// operations endpoints, whose default port only one could bind.
	vars["NPSGATE_WORKER_OPS_ADDR"] = "none"
	var addr string
	if role&gateway.RoleAPI != 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr = l.Addr().String()
		l.Close()
		vars["NPSGATE_HTTP_ADDR"] = addr
	}
	for k, v := range extra {
		vars[k] = v
	}
	for k, v := range c.env.Set {
		vars[k] = v
	}
	cfg, err := config.Load("", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		return nil, err
	}
	gctx, cancel := context.WithCancel(ctx)
	g, err := gateway.New(gctx, cfg, role, c.logger())
	if err != nil {
		cancel()
		return nil, err
	}
	rg := &runningGateway{g: g, cancel: cancel, done: make(chan error, 1)}
	if role&gateway.RoleAPI != 0 {
		if _, err := g.Listen(); err != nil {
			cancel()
			return nil, err
		}
		rg.base = "http://" + addr
	}
	go func() {
		rg.done <- g.Run(gctx)
		os.RemoveAll(dir)
	}()
	if rg.base != "" {
		if err := waitHTTP(ctx, rg.base+"/healthz"); err != nil {
			rg.stop()
			return nil, err
		}
	}
	return rg, nil
}

func (r *runningGateway) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(60 * time.Second):
		return errors.New("gateway did not stop within 60s")
	}
}

func waitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer: %v", u, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// newHTTPClient is the load generator's client: conns keep-alive
// connections to one host.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
}
