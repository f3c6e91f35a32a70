//! Reconcile plumbing every controller shares: the [`harness`] that runs each kind's
//! [`Reconciler`], the pure [`outcome::decide`] that turns how a reconcile ended into Flux's
//! conditions, events and requeue, and the pieces they are built of (watches, reconcile
//! requests, backoff, finalizer, log lines, shutdown).

pub mod backoff;
pub mod finalizer;
pub mod harness;
pub mod logs;
pub mod outcome;
pub mod own_writes;
pub mod requests;
pub mod shutdown;
pub mod watches;

pub use backoff::FailureBackoff;
pub use finalizer::with_finalizer;
pub use harness::{
    Error, JUST_CREATED, Reconciler, Run, StatusOf, ToolkitObject, just_created, object_key, run,
    same_status, settle,
};
pub use logs::{log_failed_reconcile, log_reconcile_error};
pub use outcome::{Outcome, RetryAfter};
pub use requests::{
    handled_reconcile_at, pending_reconcile_request, reconcile_trigger, with_jitter,
};
pub use shutdown::{FirstList, SHUTDOWN_GRACE, run_until_shutdown};
pub use watches::{Watches, spawn_cache};
