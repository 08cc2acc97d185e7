// Package testenv hands tests the real services they run against: a clean
// store (SQLite, or PostgreSQL when NPSGATE_TEST_POSTGRES is set) and a
// clean Redis (miniredis, or a real one when NPSGATE_TEST_REDIS is set).
// Everything it creates is removed in t.Cleanup.
package testenv
