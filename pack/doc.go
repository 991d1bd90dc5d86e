// Package pack holds the shared value types of a repository (ID, BlobType,
// BlobHandle, Generation) and the packfile format.
//
// A packfile is
//
//	blob₀ ‖ blob₁ ‖ … ‖ blobₙ₋₁ ‖ sealed header ‖ uint32le(len(sealed header))
//
// Each blob is sealed on its own (after optional zstd compression) with its
// blob type ("data" or "tree") as additional data, so a single blob can be read
// with one range request. The header plaintext is
//
//	generation(16) ‖ n × [ type(1) ‖ compression(1) ‖ stored length(uint32le) ‖ raw length(uint32le) ‖ ID(32) ]
//
// and is sealed with the pack's blob type as additional data. Offsets follow
// from the stored lengths. Every pack carries its own header so the index can
// always be rebuilt from the packs alone (`cairn repair index`). A pack holds
// blobs of one type only, so tree packs can be cached apart from data.
//
// The decoders check every length against what remains before allocating;
// hostile input gives an error, never a panic.
package pack
