// Package layering holds no code: its test checks that pinset's three
// parts import each other only downwards (docs/architecture.md, "Three
// parts, flat folders").
package layering
