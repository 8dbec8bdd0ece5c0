package kind

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hardened-hyperkube/hk/internal/kind/kindcluster"
	"github.com/hardened-hyperkube/hk/internal/kind/kindnode"
)

// workload is what a user's first test puts on a multi-node cluster: a busybox pod on each
// worker serving its own name over HTTP behind a Service, and on the first worker a
// PersistentVolumeClaim of the default StorageClass holding a file. Its check proves cluster DNS
// (CoreDNS), pod networking across nodes (flannel), Services (kube-proxy) and storage
// (local-path-provisioner) at once.
type workload struct {
	token   string
	workers []string
}

const workloadService = "hk-probe"

func probePod(i int) string { return fmt.Sprintf("hk-probe-%d", i) }

func startWorkload(ctx context.Context, c *kindcluster.Cluster) (*workload, error) {
	w := &workload{token: fmt.Sprint(time.Now().UnixNano()), workers: c.Workers()}
	if len(w.workers) < 2 {
		return nil, fmt.Errorf("the workload needs two workers, the cluster has %v", w.workers)
	}
	var b strings.Builder
	b.WriteString(`apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: hk-data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: ` + workloadService + `}
spec:
  selector: {app: hk-probe}
  ports: [{port: 8080}]
`)
	for i, node := range w.workers {
		volume := ""
		if i == 0 {
			volume = `
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: hk-data}}]`
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: hk-probe}}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers:
  - name: probe
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}%s
`, probePod(i), node, kindnode.BusyboxImage, volume)
	}
	if err := c.Apply(ctx, b.String()); err != nil {
		return nil, fmt.Errorf("apply the workload: %w", err)
	}
	if out, err := c.Kubectl(ctx, "wait", "--for=condition=Ready", "pod", "-l", "app=hk-probe", "--timeout=3m"); err != nil {
		desc, _ := c.Kubectl(ctx, "describe", "pods", "-l", "app=hk-probe")
		return nil, fmt.Errorf("workload pods: %v %s\n%s", err, out, desc)
	}
	if _, err := c.Kubectl(ctx, "exec", probePod(0), "--", "sh", "-c", "echo "+w.token+" > /data/proof"); err != nil {
		return nil, fmt.Errorf("write to the PVC: %w", err)
	}
	return w, nil
}

// check returns "yes" or "no" for cluster DNS (the Service's name answered in a pod on each worker)
// and for data (the PVC Bound and its file intact), and a note; failures are test errors.
func (w *workload) check(t *testing.T, ctx context.Context, c *kindcluster.Cluster) (dns, data, note string) {
	t.Helper()
	dns, data = "yes", "yes"
	if out, err := c.Kubectl(ctx, "wait", "--for=condition=Ready", "pod", "-l", "app=hk-probe", "--timeout=3m"); err != nil {
		t.Errorf("workload pods not ready: %v %s", err, out)
		return "no", "no", "pods not ready"
	}
	svcIP, err := c.Kubectl(ctx, "get", "service", workloadService, "-o", "jsonpath={.spec.clusterIP}")
	if err != nil {
		t.Errorf("service: %v", err)
		return "no", "no", ""
	}
	name := workloadService + ".default.svc.cluster.local"
	for i := range w.workers {
		var out string
		var err error
		for try := 0; try < 30; try++ { // CoreDNS may still be starting after a power cut
			if out, err = c.Kubectl(ctx, "exec", probePod(i), "--", "nslookup", name); err == nil && strings.Contains(out, svcIP) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		if err != nil || !strings.Contains(out, svcIP) {
			dns = "no"
			t.Errorf("cluster DNS from %s on %s: %s is not %s: %v %s", probePod(i), w.workers[i], name, svcIP, err, out)
		}
	}
	// Pod to pod across the workers, by pod IP, each way; then by the Service's name. (Debian
	// busybox 1.35's wget -T crashes: timeout bounds it instead.)
	for i := range w.workers {
		peer := (i + 1) % len(w.workers)
		ip, err := c.Kubectl(ctx, "get", "pod", probePod(peer), "-o", "jsonpath={.status.podIP}")
		if err != nil {
			t.Errorf("pod IP of %s: %v", probePod(peer), err)
			continue
		}
		out, err := c.Kubectl(ctx, "exec", probePod(i), "--", "timeout", "5", "wget", "-qO-", "http://"+ip+":8080/")
		if err != nil || strings.TrimSpace(out) != probePod(peer) {
			t.Errorf("%s on %s → %s (%s) on %s: %v %q", probePod(i), w.workers[i], probePod(peer), ip, w.workers[peer], err, out)
		}
	}
	out, err := c.Kubectl(ctx, "exec", probePod(0), "--", "timeout", "5", "wget", "-qO-", "http://"+workloadService+":8080/")
	if err != nil || !strings.HasPrefix(strings.TrimSpace(out), "hk-probe-") {
		t.Errorf("the Service by name from %s: %v %q", probePod(0), err, out)
	}
	phase, _ := c.Kubectl(ctx, "get", "pvc", "hk-data", "-o", "jsonpath={.status.phase}")
	got, err := c.Kubectl(ctx, "exec", probePod(0), "--", "cat", "/data/proof")
	if phase != "Bound" || err != nil || strings.TrimSpace(got) != w.token {
		data = "no"
		t.Errorf("PVC hk-data: phase %q, /data/proof %q (want %s): %v", phase, got, w.token, err)
	}
	return dns, data, fmt.Sprintf("DNS from pods on %s; pod→pod across them; PVC %s", strings.Join(w.workers, ", "), phase)
}
