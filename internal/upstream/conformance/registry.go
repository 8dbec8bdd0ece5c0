package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// RegistryPort is where ServeRegistry listens in the private Docker daemon's network namespace;
// the nodes reach it at their network's gateway.
const RegistryPort = 5000

// RegistryHostsTOML is containerd's hosts.toml for docker.io on a node: pull from our registry at
// addr first, as kind's local-registry recipe configures it. Some conformance tests pull with
// imagePullPolicy Always, which asks a registry even for an image the node holds, and none is
// reachable here.
func RegistryHostsTOML(addr string) string {
	return fmt.Sprintf("[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", addr)
}

// ServeRegistry serves the images of a BuildImages archive from an in-memory registry
// (go-containerregistry's) on addr until ctx ends; ready is called with the address it listens
// on once every image is in it.
// The repositories are the tags' paths without docker.io, as containerd asks a docker.io mirror.
func ServeRegistry(ctx context.Context, archive string, tags []string, addr string, ready func(addr string, n int)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ggcrregistry.New(), ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer srv.Close()
	// Pushed through the listener itself (loopback when it listens on every address).
	local := ln.Addr().String()
	if a := ln.Addr().(*net.TCPAddr); a.IP.IsUnspecified() {
		local = fmt.Sprintf("127.0.0.1:%d", a.Port)
	}
	for _, t := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return err
		}
		img, err := tarball.ImageFromPath(archive, &tag)
		if err != nil {
			return fmt.Errorf("%s in %s: %w", t, archive, err)
		}
		repo := strings.TrimPrefix(tag.Context().RepositoryStr(), "library/")
		dst, err := name.NewTag(local+"/"+repo+":"+tag.TagStr(), name.Insecure)
		if err != nil {
			return err
		}
		if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
			return fmt.Errorf("push %s: %w", t, err)
		}
	}
	ready(ln.Addr().String(), len(tags))
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
