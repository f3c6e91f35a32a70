//! Polling until something a test waits for has happened.

use std::time::{Duration, Instant};

/// Runs `check` every `every` until it returns `Some`, and returns that value. After `timeout`
/// panics with `what` and `context()` (a controller's log tail, say).
pub async fn until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what}\n{}",
            context()
        );
        tokio::time::sleep(every).await;
    }
}
