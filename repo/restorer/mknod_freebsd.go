package restorer

import "golang.org/x/sys/unix"

func mknodAt(dfd int, name string, mode uint32, dev uint64) error {
	return unix.Mknodat(dfd, name, mode, dev)
}
