package main

import (
	"net"
	"sort"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// reservedPorts are the shared services' ports, which a scenario must never
// take: Postgres 5432 and 5433, Redis 6379 and 6380-6389.
func reserved(port int) bool {
	return port == 5432 || port == 5433 || port == 6379 || port >= 6380 && port <= 6389
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !reserved(port) {
			return port, nil
		}
	}
}
