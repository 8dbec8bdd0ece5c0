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

// hyperkube is a multi-call binary holding the Kubernetes server components and kubectl.
// It runs the component named by its first argument ("hyperkube kube-apiserver ...") or,
// when invoked through a symlink, by the name it was invoked as ("kube-apiserver ...").
//
// This file is shared by every release; components.go, from build/hyperkube/<release>/, maps
// each command name to that release's constructor.
package main

import (
	"crypto/fips140"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"

	kversion "k8s.io/component-base/version"
)

func main() {
	name := filepath.Base(os.Args[0])
	if _, ok := components[name]; !ok {
		if len(os.Args) < 2 {
			usage()
			os.Exit(2)
		}
		// "hyperkube <component> args...": drop our own name so the component sees its usual argv.
		name = os.Args[1]
		os.Args = os.Args[1:]
	}
	if name == "version" {
		os.Exit(version())
	}
	run, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "hyperkube: unknown component %q\n", name)
		usage()
		os.Exit(2)
	}
	os.Exit(run())
}

// version is hyperkube's own command: the release, the toolchain, and what no component's
// --version says, the FIPS 140-3 module the binary was built with and the mode it runs in.
func version() int {
	module := "none (built without GOFIPS140)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOFIPS140" && s.Value != "off" {
				module = s.Value + " (" + fips140.Version() + ")"
			}
		}
	}
	mode := "off"
	switch {
	case fips140.Enforced():
		mode = "only (a non-approved algorithm fails)"
	case fips140.Enabled():
		mode = "on"
	}
	fmt.Printf("hyperkube %s\n", kversion.Get().GitVersion)
	fmt.Printf("go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("fips140: module %s, mode %s\n", module, mode)
	return 0
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: hyperkube <component> [flags]\n       hyperkube version\n\ncomponents:\n")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %s\n", n)
	}
}
