//! Progress lines for long steps: a line before, one every half minute while it runs (a Go
//! build of kube-apiserver prints nothing for minutes), and one after, with elapsed seconds.

use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

const HEARTBEAT: Duration = Duration::from_secs(30);

/// Runs `work`, announcing it as `what`, saying every half minute that it is still running,
/// and reporting how long it took.
pub fn step<T>(what: &str, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let started = Instant::now();
    let (done, finished) = channel::<()>();
    let label = what.to_owned();
    let ticker = std::thread::spawn(move || {
        while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(HEARTBEAT) {
            eprintln!(
                "    still {label} ({:.0}s)",
                started.elapsed().as_secs_f64()
            );
        }
    });
    let result = framed(what, work);
    drop(done);
    let _ = ticker.join();
    result
}

/// Like [`step`] without the half-minute lines, for work that shows its own progress (cargo
/// redraws a progress bar that extra lines would break).
pub fn framed<T>(what: &str, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let started = Instant::now();
    eprintln!("==> {what} ...");
    let result = work();
    let seconds = started.elapsed().as_secs_f64();
    match &result {
        Ok(_) => eprintln!("    {what}: done in {seconds:.0}s"),
        Err(_) => eprintln!("    {what}: failed after {seconds:.0}s"),
    }
    result
}
