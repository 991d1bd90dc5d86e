// Package rewriter writes new versions of existing snapshots without the
// paths that match exclude patterns, or with a new host or time: `cairn
// rewrite`, as restic's rewrite.
//
// Only the trees on the way to a removed path are written again; every
// other tree and every data blob is reused by ID, so a rewrite adds a few
// tree blobs and `prune` later frees the blobs that only the removed paths
// used. The order of writes keeps the repository consistent at every
// moment: the new trees are flushed (packs, then the index naming them)
// before the new snapshot is saved, and the original snapshot is removed
// (--forget) only after the new one is saved. A crash leaves at worst
// unreferenced tree blobs, or both versions of a snapshot.
//
// The new snapshot keeps the kind, time, host, paths, tags, generation and
// parent of the original and records it in Original (the first original
// when the snapshot was rewritten before). Of its summary, TotalFiles and
// TotalBytes are lowered by the regular files removed; the other figures
// describe what the backup that made the snapshot did and are kept as
// they were.
package rewriter
