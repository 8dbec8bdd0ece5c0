package upstreamtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardened-hyperkube/hk/internal/source/series"
)

func TestPackagesOfTheV137Series(t *testing.T) {
	s, err := series.Select("../../..", "v1.37", series.All)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Packages(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle",
		"k8s.io/apiserver/pkg/server",
		"k8s.io/client-go/kubernetes/typed/core/v1",
		"k8s.io/client-go/tools/record",
		"k8s.io/component-helpers/apimachinery/lease",
		"k8s.io/kubernetes/pkg/controlplane/controller/clusterauthenticationtrust",
		"k8s.io/kubernetes/pkg/registry/core/rest",
		"k8s.io/kubernetes/pkg/registry/core/service/internal/initialrepair",
		"k8s.io/kubernetes/pkg/registry/core/service/ipallocator/controller",
		"k8s.io/kubernetes/pkg/registry/core/service/portallocator/controller",
		"k8s.io/kubernetes/pkg/registry/rbac/rest",
		"k8s.io/kubernetes/pkg/registry/scheduling/rest",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
}
