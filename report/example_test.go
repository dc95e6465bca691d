package report_test

import (
	"fmt"
	"os"
	"time"

	"pinset.dev/pinset/report"
)

// Parse reads any supported report shape into the normalised form.
func ExampleParse() {
	body, err := os.ReadFile("testdata/reports/trustkit-android.json")
	if err != nil {
		panic(err)
	}
	received := func() time.Time { return time.Date(2026, 3, 14, 9, 27, 3, 0, time.UTC) }
	r, err := report.Parse(body, report.Options{App: "shop", Now: received})
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(r.Format, r.Platform, r.AppVersion)
	// TrustKit-Android sends local time in an unnamed zone: the receive
	// time is used, the device's claim kept beside it.
	fmt.Println(r.Host, r.Time.Format("2006-01-02T15:04:05Z07:00"), r.TimeSource, r.ClaimedLocalTime)
	fmt.Println(len(r.ExpectedPins), "expected pins,", len(r.PresentedPins()), "presented")

	_, err = report.Parse([]byte(`{"hostname": "api.example.com", "port": "443"}`), report.Options{})
	fmt.Println(err)
	// Output:
	// trustkit-android ANDROID 4.2.0
	// api.example.com 2026-03-14T09:27:03Z received 2026-03-14T18:27:01
	// 2 expected pins, 2 presented
	// invalid report: port must be an integer
}
