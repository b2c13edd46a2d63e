// Command etcd is the etcd server, built from the module proxy for envtest.
// It mirrors go.etcd.io/etcd's own main.go.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
