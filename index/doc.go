// Package index maps blob IDs to their locations, in memory and as files.
//
// In memory the index is 256 buckets by the first byte of the blob ID, each
// a sorted array of 48-byte entries (the rest of the blob ID, pack number,
// offset, stored and raw length, type and compression); pack IDs and
// generations are interned in small side tables, so a blob costs about 48
// bytes plus its share of the pack table. A Loader merges index files as
// they arrive into the buckets, held in fixed 32 KiB chunks, and copies each
// bucket once into its sorted array at the end, so loading peaks at little
// more than the loaded size. Blobs added during a backup wait in small sorted
// per-bucket lists and are merged every 32768 blobs, one bucket at a time.
//
// An index file, before zstd compression and sealing (done by the repo
// package), is
//
//	"CAIRNIDX" ‖ version(1)
//	uvarint(n) ‖ n × superseded index file ID(32)
//	uvarint(p) ‖ p × [ pack ID(32) ‖ generation(16) ‖ uvarint(m) ‖
//	                   m × [ type(1) ‖ compression(1) ‖ uvarint offset ‖
//	                         uvarint stored length ‖ uvarint raw length ‖ blob ID(32) ] ]
//
// Files written by prune and repair list the files they supersede; a reader
// ignores superseded files, so the switch to a new index is atomic.
package index
