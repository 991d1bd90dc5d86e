// Package index maps blob IDs to their locations, in memory and as files.
//
// In memory the index is a sorted table of 52-byte entries (blob ID, pack
// number, offset, stored and raw length, type and compression); pack IDs and
// generations are interned in small side tables, so a blob costs about 52
// bytes plus its share of the pack table. Blobs added during a backup wait in
// a small map and are merged into the table every 32768 blobs.
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
