//! The example application `cargo xtask up` and the benchmarks put in Git: podinfo's
//! Deployment and Service with their kustomization.

pub const PODINFO: &[(&str, &str)] = &[
    (
        "deploy/deployment.yaml",
        include_str!("fixtures/deployment.yaml"),
    ),
    ("deploy/service.yaml", include_str!("fixtures/service.yaml")),
    (
        "deploy/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\n",
    ),
    (
        "README.md",
        "# podinfo\n\nThe example application of Driftless's `cargo xtask up`.\n",
    ),
];
