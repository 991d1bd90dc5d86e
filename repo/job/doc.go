// Package job holds the jobs commands are made of, above the packages
// that do the work: `cairn run`'s steps in order (hooks, backup, verify,
// forget, prune, copy to mirrors, check), each calling the library and
// recorded with its exit code and figures in the run's report, with one
// repository open and one key derivation per run; backup planning and its
// documented summary; forget's plan and its guards (no group left empty,
// no policy applied while snapshots can't be read); selecting snapshots to
// copy; a profile's status; cat; read-back verification; and the mapping
// of errors to exit codes (DESIGN.md section 4), which the CLI exits with.
//
// It owns no format and no flags: the configuration file, schedule,
// report, metrics and state formats are repo/profile's, repository formats
// are repo's and its subpackages', and cmd/cairn parses flags, opens the
// repository and renders what these functions return.
package job
