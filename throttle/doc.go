// Package throttle holds the send gate's Redis primitives: every decision the
// gate makes that more than one worker process must agree on.
//
// Every message, whatever made it, passes one gate before a provider is
// called. The gate asks this package:
//
//   - ClaimContact: survey fatigue, at most one survey per contact per window,
//     across all surveys and channels (SetContactWindow re-sets the window once
//     the survey is answered, ReleaseContact gives the claim back);
//   - ClaimAccount: at most n surveys per account (B2B) in a sliding window;
//   - ClaimConversation: one open SMS conversation per number;
//   - ClaimContent: the same rendered message to the same address is never
//     sent twice within a window (12h in the gate);
//   - Take: token buckets per provider and sender (1 SMS segment/s per long
//     code, 20/min per chat robot, ...); Block stops a bucket for every
//     worker when the provider says to (DingTalk's 10 minutes);
//   - Allow: inbound abuse limits (per IP on the reply page, per number on
//     inbound SMS);
//   - ClaimOnce: something seen once must not be acted on twice (the
//     webhook-id of a signed trigger), remembered for a fixed time from
//     when it was seen, with what came of it.
//
// # Atomicity
//
// Each decision is one Lua script (redis.NewScript: EVALSHA, falling back to
// EVAL once per server) that reads, decides and writes a single key, so it is
// one atomic round trip: two workers racing for the same contact cannot both
// win, however their calls interleave. Touching one key per script also keeps
// every script valid on Redis Cluster without hash tags.
//
// # Time
//
// The scripts do not read the server's TIME: the caller passes its clock
// (milliseconds, microseconds for Take) in ARGV, and the deadline of every
// claim is stored in the value, not only in the key's TTL. That lets the tests
// drive windows of 30 or 90 days with a fake clock (WithClock) on a real Redis
// as on miniredis, and gives one definition of "expired" (deadline <= now)
// that does not depend on when Redis gets round to evicting a key. The cost is
// that workers must have synchronised clocks (NTP): a worker whose clock is
// off by d sees windows end d early or late, and a token bucket shared by
// workers may let through up to d*rate extra tokens. Both are negligible next
// to windows of days and provider limits that are themselves approximate.
//
// Every key is given a TTL (PEXPIRE) that ends when its state no longer
// matters, so nothing grows without bound and forgotten contacts cost nothing.
// The TTL is only garbage collection; decisions use the stored deadlines.
//
// # Keys
//
// Keys are prefix + kind + ":" + hex(sha256(user part)), with prefix
// "npsgate:throttle:" by default (WithPrefix). Hashing means a contact id, an
// account, an address, a bucket name or an IP can hold any byte (":" or "*"
// included) without colliding with another or escaping its kind, and phone
// numbers and e-mail addresses are not stored in clear. The content key is
// sha256(address + "\x00" + content); addresses holding a NUL byte are
// refused so that this encoding stays unambiguous. Note that the hash of a
// phone number can be brute-forced: hashing keeps numbers out of a casual
// KEYS listing, it does not anonymise them.
//
//	contact:<h>   hash {d: delivery id, u: deadline ms}   ClaimContact
//	conv:<h>      hash {d, u}                             ClaimConversation
//	content:<h>   hash {d, u}                             ClaimContent
//	account:<h>   zset delivery id -> claim time ms       ClaimAccount
//	bucket:<h>    string: TAT µs, or "TAT:block end µs"   Take (GCRA), Block
//	allow:<h>     hash {w: window start, c, p: counts}    Allow
//	once:<h>      hash {d: owner, u, k: keep ms, v}       ClaimOnce
//
// # miniredis
//
// The scripts use only EVAL/EVALSHA with GET, SET PX, DEL, HMGET, HGET, HSET
// (several fields), PEXPIRE, ZADD, ZREM, ZSCORE, ZCARD, ZRANGE WITHSCORES and
// ZREMRANGEBYSCORE, and Lua's string.find and string.sub, all implemented
// by miniredis, whose gopher-lua runs them.
// They avoid what differs between Lua 5.1 in Redis and gopher-lua: numbers
// passed to redis.call are formatted with string.format('%d') (never left to
// the number-to-string conversion, which differs for large numbers), scripts
// return only integers, strings and arrays of them (Lua numbers are
// truncated to integers on the way out), and no Redis functions, TIME or
// cjson are used.
// The test suite runs on both (NPSGATE_TEST_REDIS switches to a real Redis).
package throttle
