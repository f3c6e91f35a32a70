//! Controller plumbing shared by every Driftless controller: kstatus conditions, status
//! writes, events (Kubernetes and forwarded to notification-controller), reconcile requests,
//! metrics, probes, leader election, flags and graceful shutdown.

pub mod artifact;
pub mod conditions;
pub mod events;
pub mod flags;
pub mod leader;
pub mod manager;
pub mod memory;
pub mod metrics;
pub mod reconcile;
pub mod server;
pub mod status;
pub mod telemetry;

pub use flags::{CommonArgs, EventForwardingArgs};
pub use manager::{Context, Manager, ManagerError};
