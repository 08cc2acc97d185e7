package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sessionStore keeps logins on the server: a cookie is only good while its
// session is here, so a logout ends it for every copy of the cookie. It
// also holds the secret that signs cookies and CSRF tokens.
type sessionStore interface {
	// secret returns the signing secret, made once at random: it is never
	// derived from the API keys, so reading the configuration does not
	// let anyone forge a session.
	secret(ctx context.Context) ([]byte, error)
	save(ctx context.Context, id, keyID string, ttl time.Duration) error
	// load returns the key id of a live session; ok is false for a
	// session that ended or never was.
	load(ctx context.Context, id string) (keyID string, ok bool, err error)
	remove(ctx context.Context, id string) error
}

// Redis keys. Sessions are stored under a hash of their id, so a copy of
// Redis does not hold usable cookies.
const (
	redisPrefix    = "npsgate:dashboard:"
	redisSecretKey = redisPrefix + "secret"
	redisSession   = redisPrefix + "session:"
)

// redisSessions keeps sessions and the secret in the Redis every API
// replica shares: a login on one replica works on all, and survives a
// restart.
type redisSessions struct {
	rdb redis.UniversalClient
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return redisSession + hex.EncodeToString(sum[:])
}

func (s redisSessions) secret(ctx context.Context) ([]byte, error) {
	v, err := s.rdb.Get(ctx, redisSecretKey).Result()
	if errors.Is(err, redis.Nil) {
		// The first replica to need it creates it; the others read that.
		if err := s.rdb.SetNX(ctx, redisSecretKey, newSecret(), 0).Err(); err != nil {
			return nil, fmt.Errorf("dashboard: create session secret: %w", err)
		}
		v, err = s.rdb.Get(ctx, redisSecretKey).Result()
	}
	if err != nil {
		return nil, fmt.Errorf("dashboard: read session secret: %w", err)
	}
	b, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(b) < 32 {
		return nil, fmt.Errorf("dashboard: %s in Redis is not a secret this version made", redisSecretKey)
	}
	return b, nil
}

func (s redisSessions) save(ctx context.Context, id, keyID string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, sessionKey(id), keyID, ttl).Err(); err != nil {
		return fmt.Errorf("dashboard: save session: %w", err)
	}
	return nil
}

func (s redisSessions) load(ctx context.Context, id string) (string, bool, error) {
	v, err := s.rdb.Get(ctx, sessionKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("dashboard: load session: %w", err)
	}
	return v, true, nil
}

func (s redisSessions) remove(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, sessionKey(id)).Err(); err != nil {
		return fmt.Errorf("dashboard: end session: %w", err)
	}
	return nil
}

// memorySessions is for a dashboard without Redis: one process, whose
// logins end when it restarts.
type memorySessions struct {
	now  func() time.Time
	log  *slog.Logger
	mu   sync.Mutex
	key  []byte
	live map[string]memorySession
}

type memorySession struct {
	keyID   string
	expires time.Time
}

func (m *memorySessions) secret(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.key == nil {
		m.key, _ = base64.RawStdEncoding.DecodeString(newSecret())
	}
	return m.key, nil
}

func (m *memorySessions) save(_ context.Context, id, keyID string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.live == nil {
		// Said at the first login, not at start: only a dashboard in use
		// without Redis is worth the warning.
		m.log.Warn("dashboard sessions are kept in this process: logins end at a restart and work on this replica only")
		m.live = map[string]memorySession{}
	}
	for k, s := range m.live {
		if !now.Before(s.expires) {
			delete(m.live, k)
		}
	}
	m.live[id] = memorySession{keyID: keyID, expires: now.Add(ttl)}
	return nil
}

func (m *memorySessions) load(_ context.Context, id string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.live[id]
	if !ok || !m.now().Before(s.expires) {
		return "", false, nil
	}
	return s.keyID, true, nil
}

func (m *memorySessions) remove(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.live, id)
	return nil
}

// newSecret is 32 random bytes, base64 as Redis keeps it.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}
