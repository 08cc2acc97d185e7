package contactimport_test

import (
	"context"
	"strings"
	"testing"

	"github.com/npsgate/npsgate/contactimport"
	"github.com/npsgate/npsgate/internal/testenv"
	"github.com/npsgate/npsgate/store"
)

// FuzzImport: any file ends as a completed or failed import whose counts
// add up, never a panic or a half-counted job.
func FuzzImport(f *testing.F) {
	st := testenv.SQLiteStore(f)
	for _, seed := range []string{
		"external_id,email\nu1,u1@example.com\n",
		"external_id,email,phone,locale,time_zone,tags,tier\nu1,x,+1,zz,Mars/Base,a;b,KA\n",
		"\ufeffEXTERNAL_ID,Email\n\"u,1\",\"a@b.c\"\n",
		"email\na@b.c\n", "external_id\n\"unterminated\n", "", "external_id,opted_out_at\nu,2020\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, csv string) {
		im, err := contactimport.Run(context.Background(), st, strings.NewReader(csv), contactimport.Options{MaxRows: 200})
		if im == nil {
			if err == nil {
				t.Fatal("no import and no error")
			}
			return
		}
		if im.Status != store.ImportCompleted && im.Status != store.ImportFailed {
			t.Fatalf("status %q", im.Status)
		}
		if im.Status == store.ImportCompleted && im.Rows != im.Imported+im.Unchanged+im.Failed {
			t.Fatalf("%d rows but %d+%d+%d", im.Rows, im.Imported, im.Unchanged, im.Failed)
		}
	})
}
