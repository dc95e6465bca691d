package report_test

import (
	"fmt"
	"os"

	"pinset.dev/pinset/report"
)

// Parse reads any supported report shape into the normalised form.
func ExampleParse() {
	body, err := os.ReadFile("testdata/reports/trustkit-android.json")
	if err != nil {
		panic(err)
	}
	r, err := report.Parse(body, report.Options{App: "shop"})
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(r.Format, r.Platform, r.AppVersion)
	fmt.Println(r.Host, r.Time.Format("2006-01-02T15:04:05Z07:00"))
	fmt.Println(len(r.ExpectedPins), "expected pins,", len(r.PresentedPins()), "presented")

	_, err = report.Parse([]byte(`{"hostname": "api.example.com", "port": "443"}`), report.Options{})
	fmt.Println(err)
	// Output:
	// trustkit-android ANDROID 4.2.0
	// api.example.com 2026-03-14T09:27:01Z
	// 2 expected pins, 2 presented
	// invalid report: port must be an integer
}
