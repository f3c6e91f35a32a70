//! Development tasks: CRD generation, the test control plane, benchmarks.

pub mod bench;
pub mod bench_helm;
pub mod bench_helmreleases;
pub mod bench_image_loop;
pub mod bench_images;
pub mod bench_kustomizations;
pub mod bench_kustomize;
pub mod bench_notifications;
pub mod bench_pains;
pub mod bench_stack;
pub mod conformance;
pub mod crds;
pub mod example;
pub mod example_images;
pub mod fixtures;
pub mod images;
pub mod openapi;
pub mod peer;
pub mod prerequisites;
pub mod progress;
pub mod testenv;
pub mod up_node;
