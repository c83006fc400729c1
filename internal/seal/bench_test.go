package seal_test

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkSealOpen measures sealing and opening a 1 KiB message against a
// plain copy of the same bytes, measured in the same run, and reports the
// ratio (x-copy): what envelope encryption costs per message.
func BenchmarkSealOpen(b *testing.B) {
	fx := setup(b)
	msg := make([]byte, 1024)
	for i := range msg {
		msg[i] = byte(i)
	}
	env := mustSeal(b, fx.kr, fx.ws, field, string(msg))
	dst := make([]byte, len(msg))
	copyNs := func(n int) float64 {
		start := time.Now()
		for range n {
			copy(dst, msg)
			runtime.KeepAlive(dst)
		}
		return float64(time.Since(start).Nanoseconds()) / float64(n)
	}

	b.Run("seal", func(b *testing.B) {
		ref := copyNs(max(b.N, 1000))
		b.SetBytes(int64(len(msg)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := fx.kr.Seal(ctx, fx.ws, field, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/ref, "x-copy")
	})
	b.Run("open", func(b *testing.B) {
		ref := copyNs(max(b.N, 1000))
		b.SetBytes(int64(len(msg)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := fx.kr.Open(ctx, fx.ws, field, env); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/ref, "x-copy")
	})
}
