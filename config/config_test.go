package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":8080" || c.PublicURL != "http://localhost:8080" || c.Database.URL != "sqlite://./data/npsgate.db" {
		t.Fatalf("defaults: %+v", c)
	}
	if !c.EmbeddedRedis() || c.SMTP.URL != "" {
		t.Fatal("zero config must use the embedded redis and the outbox")
	}
	if time.Duration(c.Survey.EditWindow) != 7*24*time.Hour {
		t.Fatalf("edit window %v", c.Survey.EditWindow)
	}
}

func TestFileThenEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	yaml := "http:\n  addr: \":9000\"\nsmtp:\n  url: smtp://u:p@mail:25\n  from: NPS <nps@example.com>\nsurvey:\n  reply_window: 48h\napi_keys: [aaaaaaaaaaaaaaaa]\n"
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, env(map[string]string{
		"NPSGATE_HTTP_ADDR": "127.0.0.1:9100",
		"NPSGATE_API_KEYS":  "bbbbbbbbbbbbbbbb, cccccccccccccccc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:9100" {
		t.Errorf("env must win over the file: %q", c.HTTP.Addr)
	}
	if c.PublicURL != "http://localhost:9100" {
		t.Errorf("public url follows the port: %q", c.PublicURL)
	}
	if len(c.APIKeys) != 2 || c.APIKeys[1] != "cccccccccccccccc" {
		t.Errorf("api keys: %q", c.APIKeys)
	}
	if time.Duration(c.Survey.ReplyWindow) != 48*time.Hour {
		t.Errorf("reply window: %v", c.Survey.ReplyWindow)
	}
	if c.SMTP.UnsubscribeMailto != "unsubscribe@example.com" {
		t.Errorf("unsubscribe mailto: %q", c.SMTP.UnsubscribeMailto)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantKey string
	}{
		{map[string]string{"NPSGATE_HTTP_ADDR": "8080"}, "http.addr"},
		{map[string]string{"NPSGATE_PUBLIC_URL": "example.com"}, "public_url"},
		{map[string]string{"NPSGATE_REDIS_URL": "http://x"}, "redis.url"},
		{map[string]string{"NPSGATE_DATABASE_URL": "mysql://x"}, "database.url"},
		{map[string]string{"NPSGATE_SMTP_URL": "http://mail"}, "smtp.url"},
		{map[string]string{"NPSGATE_SMTP_URL": "smtp://mail:25"}, "smtp.from"},
		{map[string]string{"NPSGATE_SMTP_FROM": "not an address"}, "smtp.from"},
		{map[string]string{"NPSGATE_SMTP_STARTTLS": "always"}, "smtp.starttls"},
		{map[string]string{"NPSGATE_API_KEYS": "short"}, "api_keys"},
		{map[string]string{"NPSGATE_WORKER_CONCURRENCY": "many"}, "worker.concurrency"},
		{map[string]string{"NPSGATE_SURVEY_REPLY_WINDOW": "7 days"}, "survey.reply_window"},
		{map[string]string{"NPSGATE_LOG_LEVEL": "loud"}, "log.level"},
		{map[string]string{"NPSGATE_DASHBOARD_SESSION_SECRET": "short"}, "dashboard.session_secret"},
		{map[string]string{"NPSGATE_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,lb.internal"}, "http.trusted_proxies"},
		{map[string]string{"NPSGATE_THROTTLE_RELATIONSHIP_DAYS": "-1"}, "throttle.relationship_days"},
		{map[string]string{"NPSGATE_THROTTLE_TRANSACTIONAL_DAYS": "-1"}, "throttle.transactional_days"},
		{map[string]string{"NPSGATE_THROTTLE_UNANSWERED_DAYS": "-1"}, "throttle.unanswered_days"},
		{map[string]string{"NPSGATE_TWILIO_AUTH_TOKEN": "x"}, "twilio.account_sid"},
		{map[string]string{"NPSGATE_TWILIO_ACCOUNT_SID": "AC123"}, "twilio.account_sid"},
		{map[string]string{"NPSGATE_TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("0", 32)}, "twilio.auth_token"},
		{map[string]string{"NPSGATE_TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("0", 32), "NPSGATE_TWILIO_AUTH_TOKEN": "t"}, "twilio.from"},
		{map[string]string{"NPSGATE_TWILIO_API_URL": "ftp://x"}, "twilio.api_url"},
		{map[string]string{"NPSGATE_SMS_MAX_SEGMENTS": "50"}, "sms.max_segments"},
	}
	for _, tt := range tests {
		t.Run(tt.wantKey, func(t *testing.T) {
			_, err := Load("", env(tt.env))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Key != tt.wantKey || ce.Env == "" || !strings.Contains(err.Error(), ce.Env) {
				t.Fatalf("error %q names %q/%q, want %q", err, ce.Key, ce.Env, tt.wantKey)
			}
		})
	}
}

func TestUnknownYAMLKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("smtp:\n  hostname: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, env(nil))
	if err == nil || !strings.Contains(err.Error(), "hostname") {
		t.Fatalf("an unknown key must be named: %v", err)
	}
}

func TestEmptyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, env(nil)); err != nil {
		t.Fatal(err)
	}
}

func TestEnvKeys(t *testing.T) {
	keys := EnvKeys()
	for _, want := range []string{"NPSGATE_HTTP_ADDR", "NPSGATE_PUBLIC_URL", "NPSGATE_REDIS_URL", "NPSGATE_DATABASE_URL", "NPSGATE_SMTP_URL", "NPSGATE_SMTP_FROM", "NPSGATE_API_KEYS"} {
		found := false
		for _, k := range keys {
			found = found || k == want
		}
		if !found {
			t.Errorf("%s missing from %v", want, keys)
		}
	}
}

func TestWorkerOpsAddr(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string // worker.ops_addr in the file, if set
		env     map[string]string
		want    string // after loading; "" means off
		wantErr string // a substring of the error, which must name the key
	}{
		{name: "default", want: ":9091"},
		{name: "env", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "127.0.0.1:9200"}, want: "127.0.0.1:9200"},
		{name: "yaml", yaml: `"10.0.0.5:9300"`, want: "10.0.0.5:9300"},
		{name: "env wins over yaml", yaml: `":9300"`, env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": ":9400"}, want: ":9400"},
		{name: "none", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "none"}, want: ""},
		{name: "none any case", yaml: "NONE", want: ""},
		{name: "ipv6", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "[::1]:9091"}, want: "[::1]:9091"},
		{name: "any port", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "127.0.0.1:0"}, want: "127.0.0.1:0"},
		{name: "no port", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "9091"}, wantErr: "want host:port"},
		{name: "empty port", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "localhost:"}, wantErr: "port must be a number"},
		{name: "named port", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": ":metrics"}, wantErr: "port must be a number"},
		{name: "port too big", yaml: `":70000"`, wantErr: "port must be a number"},
		{name: "url", env: map[string]string{"NPSGATE_WORKER_OPS_ADDR": "http://0.0.0.0:9091"}, wantErr: "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte("worker:\n  ops_addr: "+tt.yaml+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path, env(tt.env))
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Key != "worker.ops_addr" || ce.Env != "NPSGATE_WORKER_OPS_ADDR" {
					t.Fatalf("want an error naming worker.ops_addr, got %v", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "NPSGATE_WORKER_OPS_ADDR") {
					t.Fatalf("error %q, want it to say %q and name the variable", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Worker.OpsAddr != tt.want {
				t.Fatalf("worker.ops_addr = %q, want %q", c.Worker.OpsAddr, tt.want)
			}
		})
	}
}
