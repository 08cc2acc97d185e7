package store_test

import (
	"os"
	"testing"

	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
	"github.com/npsgate/npsgate/store/storetest"
)

func TestCampaignLifecycleSQLite(t *testing.T) {
	storetest.ExerciseCampaignLifecycle(t, func(t *testing.T) *store.Store { return testenv.SQLiteStore(t) })
}

// TestCampaignLifecyclePostgres runs when NPSGATE_TEST_POSTGRES is set.
func TestCampaignLifecyclePostgres(t *testing.T) {
	if os.Getenv(testenv.PostgresEnv) == "" {
		t.Skip(testenv.PostgresEnv + " is not set")
	}
	storetest.ExerciseCampaignLifecycle(t, func(t *testing.T) *store.Store { return testenv.PostgresStore(t) })
}
