package tlog

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of C2SP tlog-tiles tiles: 256 hashes wide.
const TileHeight = 8

// Tile is a tile of the tree (Level >= 0) or an entry bundle (Level -1),
// with its width W (256 for a full tile).
type Tile = tlog.Tile

// TilePath returns t's path under the log's prefix in the C2SP tlog-tiles
// layout: "tile/<L>/<N>[.p/<W>]" for hashes, "tile/entries/<N>[.p/<W>]"
// for entry bundles, N written in groups of three digits ("x001/x234/067").
func TilePath(t Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", TileHeight))
	if rest, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + rest
	}
	return "tile/" + p
}

// ParseTilePath parses a C2SP tile or entry bundle path (as TilePath
// writes it). Errors wrap ErrMalformed.
func ParseTilePath(path string) (Tile, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok || len(path) > 128 {
		return Tile{}, malformed("tile path", "%q", path)
	}
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		rest = "data/" + r
	} else if strings.HasPrefix(rest, "data/") {
		return Tile{}, malformed("tile path", "%q", path)
	}
	t, err := tlog.ParseTilePath(fmt.Sprintf("tile/%d/", TileHeight) + rest)
	if err != nil {
		return Tile{}, malformed("tile path", "%q", path)
	}
	if TilePath(t) != path {
		return Tile{}, malformed("tile path", "%q is not in canonical form", path)
	}
	return t, nil
}

// TileForSize lists the tiles a tree of size n consists of (for mirroring).
func TilesForSize(n int64) []Tile { return tlog.NewTiles(TileHeight, 0, n) }

// ReadTileData returns the hashes of tile t, read from r.
func ReadTileData(t Tile, r tlog.HashReader) ([]byte, error) { return tlog.ReadTileData(t, r) }

// EntryBundle encodes records as a C2SP entry bundle: each record
// prefixed by its length as a big-endian uint16.
func EntryBundle(records [][]byte) []byte {
	var out []byte
	for _, r := range records {
		out = binary.BigEndian.AppendUint16(out, uint16(len(r)))
		out = append(out, r...)
	}
	return out
}

// ParseEntryBundle decodes an entry bundle of exactly n records (1 to 256),
// each a valid record. Errors wrap ErrMalformed.
func ParseEntryBundle(data []byte, n int) ([][]byte, error) {
	if n < 1 || n > 1<<TileHeight {
		return nil, malformed("entry bundle", "%d entries asked for", n)
	}
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, malformed("entry bundle", "truncated length")
		}
		l := int(binary.BigEndian.Uint16(data))
		data = data[2:]
		if l > len(data) || l > MaxRecordSize {
			return nil, malformed("entry bundle", "entry %d of %d bytes", len(out), l)
		}
		if _, err := ParseRecord(data[:l]); err != nil {
			return nil, fmt.Errorf("entry bundle, entry %d: %w", len(out), err)
		}
		out = append(out, data[:l:l])
		data = data[l:]
		if len(out) > n {
			return nil, malformed("entry bundle", "more than %d entries", n)
		}
	}
	if len(out) != n {
		return nil, malformed("entry bundle", "%d entries, expected %d", len(out), n)
	}
	return out, nil
}
