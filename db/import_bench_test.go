package db_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/clerksync/clerksync"
	"github.com/clerksync/clerksync/db"
	"github.com/clerksync/clerksync/internal/testenv"
)

// BenchmarkImport loads chunks of 5000 new users, with 1.3 emails and 0.2
// phones each on average, into a fresh mirror: the cost of a first import
// per chunk (scripts/bench-import.sh measures the whole command at 1M rows).
func BenchmarkImport(b *testing.B) {
	ctx := context.Background()
	_, conn := testenv.Mirror(b, 2)
	l, err := db.NewImportLoader(ctx, conn, nil)
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 5000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		users := make([]clerksync.ImportUser, chunk)
		for j := range users {
			id := fmt.Sprintf("user_bench%08d", i*chunk+j)
			emails := []string{fmt.Sprintf("u%d@example.com", i*chunk+j)}
			if j%3 == 0 {
				emails = append(emails, fmt.Sprintf("u%d@work.example", i*chunk+j))
			}
			var phones []string
			if j%5 == 0 {
				phones = []string{fmt.Sprintf("+1415%07d", i*chunk+j)}
			}
			users[j] = importUser(id, "Bench", emails, phones)
		}
		b.StartTimer()
		if _, err := l.Load(ctx, users); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*chunk)/b.Elapsed().Seconds(), "users/s")
}
