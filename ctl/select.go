package ctl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tradepulse/secret-injector/injector"
)

// ErrNoPods is matched when the selection holds no injected pod.
var ErrNoPods = errors.New("no injected pods selected")

// injectedAnnotation is how the help and messages name what is selected.
const injectedAnnotation = injector.AnnotationStatus + ": " + injector.StatusInjected

// listPageSize keeps each list answer small on large clusters.
const listPageSize = 500

// scope is what the user selected: one namespace or all, a label selector
// or pod names.
type scope struct {
	namespace string // "" with all
	all       bool
	selector  string
	names     []string
}

func (s scope) String() string {
	where := "in namespace " + s.namespace
	if s.all {
		where = "in any namespace"
	}
	if s.selector != "" {
		return fmt.Sprintf("%s matching %q", where, s.selector)
	}
	return where
}

// selectPods returns the injected pods in scope, sorted by namespace and
// name. Named pods must exist and be injected; otherwise pods that are not
// injected are left out, and an empty result says what matched and why
// none was taken.
func selectPods(ctx context.Context, client kubernetes.Interface, s scope) ([]*corev1.Pod, error) {
	if len(s.names) > 0 {
		return namedPods(ctx, client, s)
	}
	ns := s.namespace
	if s.all {
		ns = metav1.NamespaceAll
	}
	var matched int
	var pods []*corev1.Pod
	opts := metav1.ListOptions{LabelSelector: s.selector, Limit: listPageSize}
	for {
		list, err := client.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing pods %s: %w", s, err)
		}
		matched += len(list.Items)
		for i := range list.Items {
			if injected(&list.Items[i]) {
				pods = append(pods, &list.Items[i])
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if len(pods) == 0 {
		if matched == 0 {
			return nil, fmt.Errorf("%w: no pods %s", ErrNoPods, s)
		}
		return nil, fmt.Errorf("%w: %s %s, but none is injected (annotation %s)", ErrNoPods, plural(matched, "pod"), s, injectedAnnotation)
	}
	sortPods(pods)
	return pods, nil
}

func namedPods(ctx context.Context, client kubernetes.Interface, s scope) ([]*corev1.Pod, error) {
	var pods []*corev1.Pod
	var problems []string
	for _, name := range slices.Compact(slices.Sorted(slices.Values(s.names))) {
		pod, err := client.CoreV1().Pods(s.namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			problems = append(problems, fmt.Sprintf("pod %s/%s not found", s.namespace, name))
		case err != nil:
			return nil, fmt.Errorf("getting pod %s/%s: %w", s.namespace, name, err)
		case !injected(pod):
			problems = append(problems, fmt.Sprintf("pod %s/%s is not injected (no annotation %s)", s.namespace, name, injectedAnnotation))
		default:
			pods = append(pods, pod)
		}
	}
	if len(problems) > 0 {
		// A named pod that cannot be worked on is a mistake in the command
		// line: do nothing rather than part of what was asked.
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return pods, nil
}

func sortPods(pods []*corev1.Pod) {
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}
