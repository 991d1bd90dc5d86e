// Package repo implements the Repository: init and open, config, keys, the
// blob store (Saver, Flush, LoadBlob) and index persistence. It is a small
// facade over parts that each own one concern: crypto for keys and sealing,
// index for locations, pack for the packfile format, backend for storage.
//
// Ordering rules (DESIGN.md section 6): packs are written first, then the
// index files that list them, and only then may a snapshot reference their
// blobs (Flush returns after all three are stored). Every pack is decoded
// and its blob IDs re-checked in memory before it is uploaded.
package repo
