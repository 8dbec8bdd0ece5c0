"""Go modules rules_go and gazelle themselves need."""

load("@bazel_gazelle//:deps.bzl", "go_repository")

def toolchain_dependencies():
    """Declares, before go_rules_dependencies, the modules rules_go would download as archives.

    They are fetched through the Go module proxy instead, at the versions gazelle v0.26 pins
    (x/tools v0.1.11 still has go/vcs, which gazelle uses). Kept apart from deps.bzl, which
    `gazelle update-repos` rewrites from go.mod.
    """
    go_repository(
        name = "org_golang_x_tools",
        importpath = "golang.org/x/tools",
        sum = "h1:loJ25fNOEhSXfHrpoGj91eCUThwdNX6u24rO1xnNteY=",
        version = "v0.1.11",
    )
    go_repository(
        name = "org_golang_x_sys",
        importpath = "golang.org/x/sys",
        sum = "h1:rHZQSjJdAI4Xf5Qzeh2bBc5YJIkPFVM6oDtMFYmgws0=",
        version = "v0.0.0-20220624220833-87e55d714810",
    )
    go_repository(
        name = "org_golang_x_xerrors",
        importpath = "golang.org/x/xerrors",
        sum = "h1:go1bK/D/BFZV2I8cIQd1NKEZ+0owSTG1fDTci4IqFcE=",
        version = "v0.0.0-20200804184101-5ec99f83aff1",
    )
