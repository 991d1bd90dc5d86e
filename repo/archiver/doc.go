// Package archiver makes backups: Run walks the source paths (or reads
// standard input), applies excludes (patterns, --exclude-larger-than,
// CACHEDIR.TAG and marker files, --one-file-system), detects unchanged
// files against the parent snapshot's nodes (type, size, mtime, and
// unless relaxed ctime and inode), chunks and stores changed files' data
// through the chunk → blob → pack pipeline, builds and saves the trees
// bottom up, and writes the snapshot once everything it references is
// stored. PlanKind picks a backup's parent and generation for its kind
// (full, differential, incremental; DESIGN.md section 1), and Progress is
// what a running backup reports.
//
// It does not define the snapshot, tree or node formats (repo/snapshot),
// nor pack, seal, index or upload anything itself (repo's Saver), and it
// takes no lock: it runs in the caller's session, a shared lock with the
// index loaded (repo/job.Backup), inside the scoped upload session
// (Repository.WithUploader) that flushes the packs and then the index
// before the snapshot is written.
package archiver
