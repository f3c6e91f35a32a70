//! Graceful shutdown of a running controller.

use std::sync::Arc;
use std::time::Duration;

/// How long running reconciles may take to finish after SIGTERM, within a pod's usual
/// termination grace period.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Whether a controller's watch has completed its first list; set by [`FirstList::observe`]
/// on the watch stream, read by [`run_until_shutdown`].
#[derive(Clone, Default)]
pub struct FirstList(Arc<std::sync::atomic::AtomicBool>);

impl FirstList {
    /// For `.inspect(...)` on a watcher stream.
    pub fn observe<K, E>(
        &self,
    ) -> impl FnMut(&Result<kube::runtime::watcher::Event<K>, E>) + use<K, E> {
        let flag = self.0.clone();
        move |event| {
            if matches!(event, Ok(kube::runtime::watcher::Event::InitDone)) {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn done(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Drives a kube-runtime controller (set up with `graceful_shutdown_on(shutdown)`) until it
/// ends. kube-runtime's runner waits for the first list even after a shutdown, and nobody
/// reads the list any more then: before it completed nothing can be running, so the
/// controller stops at once; otherwise running reconciles get [`SHUTDOWN_GRACE`].
pub async fn run_until_shutdown(
    controller: impl std::future::Future<Output = ()>,
    shutdown: tokio_util::sync::CancellationToken,
    first_list: FirstList,
) {
    tokio::select! {
        () = controller => {}
        () = async {
            shutdown.cancelled().await;
            if first_list.done() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                tracing::warn!("reconciles still running after {SHUTDOWN_GRACE:?}; stopping");
            }
        } => {}
    }
}
