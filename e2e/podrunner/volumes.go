package podrunner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// setupVolumes gives each pod volume a directory, as the kubelet would:
// emptyDir → an empty directory (not tmpfs: that takes privileges);
// projected service-account tokens → a TokenRequest for the pod's service
// account with the source's audience, bound to the pod, written at the
// source's path; configMap → the ConfigMap's keys, kept in sync while the
// pod runs.
func (p *Pod) setupVolumes(ctx context.Context) error {
	p.volumes = map[string]string{}
	for _, v := range p.spec.Spec.Volumes {
		dir := filepath.Join(p.dir, "volumes", v.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		p.volumes[v.Name] = dir
		switch {
		case v.EmptyDir != nil:
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken == nil {
					return fmt.Errorf("volume %s: only service-account token projections are supported", v.Name)
				}
				if err := p.writeToken(ctx, dir, src.ServiceAccountToken); err != nil {
					return fmt.Errorf("volume %s: %w", v.Name, err)
				}
			}
		case v.ConfigMap != nil:
			rv, err := p.syncConfigMap(ctx, dir, v.ConfigMap.Name, "")
			if err != nil {
				return fmt.Errorf("volume %s: %w", v.Name, err)
			}
			go p.watchConfigMap(dir, v.ConfigMap.Name, rv)
		default:
			return fmt.Errorf("volume %s: unsupported source", v.Name)
		}
	}
	return nil
}

func (p *Pod) writeToken(ctx context.Context, dir string, src *corev1.ServiceAccountTokenProjection) error {
	sa := p.spec.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{src.Audience},
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.spec.Name, UID: p.spec.UID},
	}}
	if src.Audience == "" {
		req.Spec.Audiences = nil
	}
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = ptr.To[int64](3600)
	}
	tr, err := p.o.Client.CoreV1().ServiceAccounts(p.spec.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token request for service account %s/%s: %w", p.spec.Namespace, sa, err)
	}
	return writeAtomic(filepath.Join(dir, src.Path), []byte(tr.Status.Token), 0o600)
}

func (p *Pod) syncConfigMap(ctx context.Context, dir, name, seen string) (string, error) {
	cm, err := p.o.Client.CoreV1().ConfigMaps(p.spec.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return seen, fmt.Errorf("configmap %s: %w", name, err)
	}
	if cm.ResourceVersion == seen {
		return seen, nil
	}
	for k, v := range cm.Data {
		if strings.Contains(k, "/") {
			return seen, fmt.Errorf("configmap %s: key %q", name, k)
		}
		if err := writeAtomic(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			return seen, err
		}
	}
	return cm.ResourceVersion, nil
}

// watchConfigMap re-projects a ConfigMap when it changes, as the kubelet's
// periodic sync does (here every 200 ms rather than up to a minute).
func (p *Pod) watchConfigMap(dir, name, rv string) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stopped:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if next, err := p.syncConfigMap(ctx, dir, name, rv); err == nil {
				rv = next
			}
			cancel()
		}
	}
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// hostPath maps a path inside container c to the local directory of the
// volume mounted there (the longest mount path that contains it).
func (p *Pod) hostPath(c *corev1.Container, path string) (string, error) {
	best := -1
	for i, m := range c.VolumeMounts {
		mp := strings.TrimSuffix(m.MountPath, "/")
		if (path == mp || strings.HasPrefix(path, mp+"/")) && (best < 0 || len(mp) > len(c.VolumeMounts[best].MountPath)) {
			best = i
		}
	}
	if best < 0 {
		return "", fmt.Errorf("container %s: %s is on no volume mount", c.Name, path)
	}
	m := c.VolumeMounts[best]
	dir, ok := p.volumes[m.Name]
	if !ok {
		return "", fmt.Errorf("container %s: mount of unknown volume %s", c.Name, m.Name)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path, strings.TrimSuffix(m.MountPath, "/")), "/")
	return filepath.Join(dir, m.SubPath, rel), nil
}
