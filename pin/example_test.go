package pin_test

import (
	"fmt"

	"pinset.dev/pinset/pin"
)

func ExampleParse() {
	for _, s := range []string{
		"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
		"sha256/LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
		`pin-sha256="LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="`,
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		"sha1/qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
		"LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
	} {
		p, err := pin.Parse(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(p.Format(pin.OkHttp))
	}
	// Output:
	// sha256/LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=
	// sha256/LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=
	// sha256/LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=
	// sha256/LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=
	// error: sha1/ pins are refused: SHA-1 is broken for this use; compute a SHA-256 pin with 'pinset pin' and write it as sha256/...
	// error: invalid pin "LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=": URL-safe base64 (with - or _) is not a pin spelling; use standard base64 (+ and /)
}
