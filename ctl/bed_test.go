package ctl_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// toolsHint says how to get the API server binaries.
const toolsHint = `run eval "$(hack/k8s-tools.sh env)" (builds kube-apiserver and etcd once)`

// theBed is the test bed every command test runs against: a real
// kube-apiserver and etcd, an operator user bound to exactly the README's
// ClusterRole, and the real secret-injector binary for agents.
type theBed struct {
	// admin sets up fixtures as cluster admin.
	admin kubernetes.Interface
	// operator is the README-role user's connection; kubeconfig holds it
	// under the context "operator" (namespace "default").
	operator   *rest.Config
	kubeconfig string
	// binary is cmd/secret-injector, built once, with
	// secret-injector-agent beside it (its agent command runs that).
	binary string
	env    *envtest.Environment
}

var (
	bed *theBed
	// bedMissing says why there is no bed; tests that need one skip (or
	// fail in CI) with it.
	bedMissing string
)

func TestMain(m *testing.M) {
	os.Exit(runWithBed(m))
}

func runWithBed(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		bedMissing = "KUBEBUILDER_ASSETS is not set: " + toolsHint
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "secret-injector-ctl-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env := &envtest.Environment{}
	stop, err := startBed(env, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctl test bed:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

func startBed(env *envtest.Environment, dir string) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := &theBed{binary: filepath.Join(dir, "secret-injector"), env: env}
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator), "./cmd/secret-injector", "./cmd/secret-injector-agent")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/secret-injector ./cmd/secret-injector-agent: %w\n%s", err, out)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	stop := func() { _ = env.Stop() }
	fail := func(err error) (func(), error) { stop(); return nil, err }
	if b.admin, err = kubernetes.NewForConfig(cfg); err != nil {
		return fail(err)
	}
	user, err := env.AddUser(envtest.User{Name: "oncall"}, nil)
	if err != nil {
		return fail(fmt.Errorf("add operator user: %w", err))
	}
	b.operator = user.Config()
	if err := bindReadmeRole(ctx, b.admin, "oncall"); err != nil {
		return fail(err)
	}
	b.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(b.kubeconfig, b.operator); err != nil {
		return fail(err)
	}
	bed = b
	return stop, nil
}

// needBed skips a test without the bed, or fails it in CI, where a skip
// would pass silently.
func needBed(t *testing.T) *theBed {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no kube-apiserver test bed")
	}
	if bed == nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(bedMissing)
		}
		t.Skip(bedMissing)
	}
	return bed
}

// bedUser adds a user with no role at all.
func bedUser(t *testing.T, name string) (*rest.Config, error) {
	t.Helper()
	u, err := needBed(t).env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		return nil, err
	}
	return u.Config(), nil
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// readmeRole is the ClusterRole of ctl/README.md, so that the tests prove
// the documented RBAC is enough.
func readmeRole() (*rbacv1.ClusterRole, error) {
	md, err := os.ReadFile(filepath.Join(moduleRoot(), "ctl", "README.md"))
	if err != nil {
		return nil, err
	}
	_, rest, ok := strings.Cut(string(md), "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		return nil, errors.New("ctl/README.md has no yaml block")
	}
	for _, doc := range strings.Split(block, "\n---\n") {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err == nil && role.Kind == "ClusterRole" {
			return &role, nil
		}
	}
	return nil, errors.New("ctl/README.md's yaml block has no ClusterRole")
}

func bindReadmeRole(ctx context.Context, admin kubernetes.Interface, user string) error {
	role, err := readmeRole()
	if err != nil {
		return err
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create the README's ClusterRole: %w", err)
	}
	_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name + "-" + user},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bind the README's ClusterRole: %w", err)
	}
	return nil
}

// writeKubeconfig writes cfg as a kubeconfig with the contexts "operator"
// (current, namespace default) and "elsewhere" (namespace elsewhere).
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["oncall"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["operator"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "oncall", Namespace: "default"}
	kc.Contexts["elsewhere"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "oncall", Namespace: "elsewhere"}
	kc.CurrentContext = "operator"
	return clientcmd.WriteToFile(*kc, path)
}

// result is one command run's output.
type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("error: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
}
