// Package store is npsgate's persistence: surveys, contacts, suppressions,
// deliveries and their events, responses and the outbox, in PostgreSQL (pgx)
// or an embedded SQLite file (modernc, no cgo).
//
// Both backends share one *Store and one set of SQL statements written with
// $N placeholders, which both drivers accept; what differs (driver, DSN,
// how a timestamp is bound, schema files) lives in a dialect value.
//
// Times are stored in UTC with microsecond precision, the precision of
// PostgreSQL's TIMESTAMPTZ. SQLite keeps them as fixed-width ISO-8601 text
// ("2006-01-02T15:04:05.000000Z") so that text order is time order and range
// queries compare correctly. Every time a method returns has been truncated
// the same way, so a value written and read back is equal with ==.
//
// Migrations are embedded and applied by Migrate, never by Open, so that one
// process (npsgate migrate, or serve at start-up) owns schema changes.
package store
