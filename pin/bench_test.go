package pin

import "testing"

var benchPin = "Gs6NdWmBtEaCUzcANHiBbrymrUSuOrzI8eYgy8Lc1z8="

func BenchmarkUnmarshalText(b *testing.B) {
	in := []byte(benchPin)
	b.ReportAllocs()
	var p Pin
	for b.Loop() {
		if err := p.UnmarshalText(in); err != nil {
			b.Fatal(err)
		}
	}
}
