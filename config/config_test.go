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
