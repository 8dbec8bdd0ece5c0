/*
Copyright 2026 The hardened-hyperkube Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	goflag "flag"
	"math/rand"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"   // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/restclient" // for client metric registration
	_ "k8s.io/component-base/metrics/prometheus/version"    // for version metric registration
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // client auth plugins, for kubectl
)

// components maps each command name to a function that runs it with os.Args[1:] already
// pointing at the component's own arguments, and returns the exit code. v1.21 has no
// component-base/cli; each entry mirrors the main() of the upstream cmd/<name>.
var components = map[string]func() int{
	"kube-apiserver": func() int {
		return execute(apiserver.NewAPIServerCommand(), normalizeFlags, logs.InitLogs, logs.FlushLogs)
	},
	"kube-controller-manager": func() int {
		return execute(controllermanager.NewControllerManagerCommand(), normalizeFlags, logs.InitLogs, logs.FlushLogs)
	},
	"kube-scheduler": func() int {
		return execute(scheduler.NewSchedulerCommand(), normalizeFlags, logs.InitLogs, logs.FlushLogs)
	},
	"kube-proxy": func() int {
		return execute(proxy.NewProxyCommand(), normalizeAndAddGoFlags, logs.InitLogs, logs.FlushLogs)
	},
	"kubelet": func() int {
		return execute(kubelet.NewKubeletCommand(), func() {}, logs.InitLogs, logs.FlushLogs)
	},
	// kubectl's main uses k8s.io/kubectl/pkg/util/logs, a copy of component-base/logs that
	// registers the same --log-flush-frequency flag on the global flag set; linked together they
	// panic at init, so kubectl uses component-base/logs here (the same behaviour).
	"kubectl": func() int {
		return execute(kubectlcmd.NewDefaultKubectlCommand(), normalizeAndAddGoFlags, logs.InitLogs, logs.FlushLogs)
	},
}

func normalizeFlags() { pflag.CommandLine.SetNormalizeFunc(cliflag.WordSepNormalizeFunc) }

// normalizeAndAddGoFlags is what kube-proxy's and kubectl's mains do by hand in v1.21.
func normalizeAndAddGoFlags() {
	normalizeFlags()
	pflag.CommandLine.AddGoFlagSet(goflag.CommandLine)
}

// execute is the body every v1.21 main shares: seed, set up global flags and logging, run.
func execute(command *cobra.Command, setupFlags, initLogs, flushLogs func()) int {
	rand.Seed(time.Now().UnixNano())
	setupFlags()
	initLogs()
	defer flushLogs()
	if err := command.Execute(); err != nil {
		return 1
	}
	return 0
}
