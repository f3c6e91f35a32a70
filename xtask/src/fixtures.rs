//! The example application `cargo xtask up` and the benchmarks put in Git: podinfo's
//! Deployment and Service with their kustomization.

pub const PODINFO: &[(&str, &str)] = &[
    (
        "deploy/deployment.yaml",
        include_str!("fixtures/deployment.yaml"),
    ),
    ("deploy/service.yaml", include_str!("fixtures/service.yaml")),
    (
        "deploy/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: podinfo\n",
    ),
    (
        "deploy/kustomization.yaml",
        "resources:\n- namespace.yaml\n- deployment.yaml\n- service.yaml\n",
    ),
    (
        "README.md",
        "# podinfo\n\nThe example application of Driftless's `cargo xtask up`.\n",
    ),
];
