// Package testkit is the test support that the unit tests, the e2e suites
// and the benchmarks share: a process runner that keeps a child's output
// for failure reports, the goroutine-safe buffer it writes to, one bounded
// poll loop, a free loopback address and a bounded HTTP call, and the reader of the Vault test bed's environment
// (hack/vault-bed.sh env). It lives under the module's internal/ so that
// every package of the module can import it and nothing outside can.
package testkit
