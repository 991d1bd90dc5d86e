package crypto

import "github.com/klauspost/cpuid/v2"

// haveSHANI is crypto/sha256's condition for its SHA-NI code.
var haveSHANI = cpuid.CPU.Supports(cpuid.AVX, cpuid.SHA, cpuid.SSE4, cpuid.SSSE3)

//go:noescape
func blockOne(h *[8]uint32, p *byte, n int)

//go:noescape
func blockPair(h1 *[8]uint32, p1 *byte, h2 *[8]uint32, p2 *byte, n int)
