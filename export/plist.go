package export

import (
	"bytes"
	"fmt"
	"strings"

	"howett.net/plist"
)

// writePlist writes v as an XML property list (dictionary keys sorted, tab
// indentation) with the export header as an XML comment after the DOCTYPE.
// The output is a whole plist document whose top-level dictionary holds
// the keys to merge into the app's Info.plist.
func writePlist(p *prepared, v map[string]any) ([]byte, error) {
	b, err := plist.MarshalIndent(v, plist.XMLFormat, "\t")
	if err != nil {
		return nil, fmt.Errorf("encoding property list: %w", err)
	}
	lines := append(p.header(), "Merge the keys of the top-level dictionary into the app's Info.plist.")
	var c strings.Builder
	for i, l := range lines {
		l = strings.ReplaceAll(l, "--", "- -")
		switch {
		case i == 0:
			c.WriteString("<!-- " + l)
		default:
			c.WriteString("\n     " + l)
		}
	}
	c.WriteString(" -->\n")
	const marker = "<plist version=\"1.0\">"
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return nil, fmt.Errorf("encoding property list: no %s element", marker)
	}
	var out bytes.Buffer
	out.Write(b[:i])
	out.WriteString(c.String())
	out.Write(b[i:])
	if !bytes.HasSuffix(b, []byte("\n")) {
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}
