package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// MaxConfigBytes caps a configuration file.
const MaxConfigBytes = 1 << 20

// LoadConfig decodes a YAML configuration strictly on top of [Default]:
// an unknown key is an error naming it, and so is a second document.
func LoadConfig(b []byte) (Config, error) {
	c := Default()
	if len(b) > MaxConfigBytes {
		return c, fmt.Errorf("simulation config: %d bytes, more than %d", len(b), MaxConfigBytes)
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("simulation config: %w", err)
	}
	var extra yaml.Node
	if err := d.Decode(&extra); !errors.Is(err, io.EOF) {
		return c, errors.New("simulation config: more than one YAML document")
	}
	return c, c.Validate()
}
