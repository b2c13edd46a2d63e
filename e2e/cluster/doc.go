// Package cluster is the real-pods end-to-end suite: the operators' runbook
// on a real single-node cluster (hack/cluster.sh: kubelet, containerd,
// runc, the CNI bridge, the controllers), with the chart installed by
// `helm install` from the image `make image` builds, and every pod created
// by a Deployment and run by the kubelet.
//
// TestMain installs the chart (two webhook replicas, self-managed TLS)
// and reaches the host's servers — Vault, PostgreSQL and the in-process
// Secret Manager and Secrets Manager protocol servers — through the
// bridge's gateway address. The app container is e2e/images/testapp: it
// reports what it reads (hashes, never values), logs into PostgreSQL with
// the dynamic credentials and counts the SIGHUPs it receives.
//
//   - TestBootstrap: the runbook's files in the app, per backend;
//   - TestRotation: a new version reaches the app and it is signalled once;
//   - TestEmergencyRevocation: `secret-injector revoke` over a real
//     port-forward, and a deleted secret failing closed;
//   - TestVaultKubernetesAuth: the kubelet's projected token logs in; a pod
//     of another service account never starts;
//   - TestDenial: a bad annotation, refused, shown on the ReplicaSet;
//   - TestRolloutRestart: `secret-injector refresh` restarts a Deployment
//     that cannot reload;
//   - TestWebhookReplicaKilledDuringRollout: no pod runs without its secrets.
//
// Run it with `make e2e-cluster` (brings the cluster up). Without the
// cluster it skips, except in CI (CI=true), where that is a failure.
package cluster
