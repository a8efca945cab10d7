// Command etcd is etcd's own server main, built here because etcd's go.mod
// has relative replaces that forbid `go install`.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
