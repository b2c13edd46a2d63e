// Package e2e holds the end-to-end suite: the operators' runbook performed
// against a real API server, the real webhook and agent binary, Vault with
// PostgreSQL, and the GCP and AWS protocol servers (see e2e/bed and
// e2e/podrunner), on one bed that TestMain starts for every test.
//
//   - TestBootstrap, TestRotation, TestEmergencyRevocation: scenarios 1, 2
//     and 4, once per backend (env, gcp, aws, vault);
//   - TestDatabaseCredentials, TestVaultKubernetesAuth: scenario 3, Vault's
//     dynamic PostgreSQL credentials, and Kubernetes auth;
//   - TestAdmission: scenario 5, what the webhook lets through;
//   - TestDemo: `make demo`'s walk-through (e2e/demo).
//
// Run it with `make e2e`. Without the bed's tools it skips, except in CI
// (CI=true), where that is a failure; -short skips it.
package e2e
