package main

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag value like 512M, 20G or 1T (powers of 1024), or bytes.
type byteSize int64

func (s *byteSize) String() string { return strconv.FormatInt(int64(*s), 10) }

// Type names the value in --help: --cache-max size.
func (s *byteSize) Type() string { return "size" }

func (s *byteSize) Set(v string) error {
	units := map[byte]int64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
	v = strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(v)), "B")
	mult := int64(1)
	if n := len(v); n > 0 {
		if m, ok := units[v[n-1]]; ok {
			mult, v = m, v[:n-1]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size like 512M or 20G")
	}
	*s = byteSize(n * mult)
	return nil
}
