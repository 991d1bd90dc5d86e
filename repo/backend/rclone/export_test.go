package rclone

import "os"

// Process returns the rclone child of b.
func Process(b *Backend) *os.Process { return b.cmd.Process }

// Exited reports whether the child of b has exited.
func Exited(b *Backend) bool {
	select {
	case <-b.exited:
		return true
	default:
		return false
	}
}

// RedactRemote is redactRemote, for tests.
var RedactRemote = redactRemote
