package store_test

import (
	"os"
	"testing"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/store/storetest"
)

func TestClosedLoopRepairsSQLite(t *testing.T) {
	storetest.ExerciseClosedLoopRepairs(t, func(t *testing.T) *store.Store { return testenv.SQLiteStore(t) })
}

// TestClosedLoopRepairsPostgres runs when NPSGATE_TEST_POSTGRES is set.
func TestClosedLoopRepairsPostgres(t *testing.T) {
	if os.Getenv(testenv.PostgresEnv) == "" {
		t.Skip(testenv.PostgresEnv + " is not set")
	}
	storetest.ExerciseClosedLoopRepairs(t, func(t *testing.T) *store.Store { return testenv.PostgresStore(t) })
}
