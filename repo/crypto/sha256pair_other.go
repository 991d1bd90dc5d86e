//go:build !amd64

package crypto

const haveSHANI = false

func blockOne(h *[8]uint32, p *byte, n int) { panic("crypto: no SHA-NI") }

func blockPair(h1 *[8]uint32, p1 *byte, h2 *[8]uint32, p2 *byte, n int) { panic("crypto: no SHA-NI") }
