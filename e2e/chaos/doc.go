// Package chaos is the fault suite (`make chaos`, and last in `make
// test`): on the real cluster of e2e/clusterbed, with a Vault of its own
// on file storage behind a fault proxy (e2e/faultproxy), it makes each
// fault an operator fears — Vault restarted, sealed, cut off, failing,
// slow; PostgreSQL restarted; tokens and roles revoked; the agent
// SIGKILLed; a secret too big for its volume; the webhook killed or down;
// a burst of admissions — and checks what must hold against the app's
// view of its files, the operator's status, and Vault and PostgreSQL
// themselves. It prints a table of fault, what must hold and what
// happened (also written to .chaos/report.md), and searches everything
// the pods expose, and the table, for every secret value it wrote.
package chaos
