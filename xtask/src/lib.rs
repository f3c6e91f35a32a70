//! Development tasks: CRD generation, the test control plane, benchmarks.

pub mod crds;
pub mod testenv;
