//! Showing a source's reconcile as in progress: at once for a new generation of an object
//! that already has conditions, and for any fetch still running after a few seconds, so a
//! slow or hanging fetch reads as in progress while it runs, not only when it ends.

use std::time::Duration;

use driftless_api::conditions::{PROGRESSING, RECONCILING};
use driftless_runtime::conditions as cond;
use driftless_runtime::reconcile::{Error, Run, ToolkitObject};

/// Long enough that fetches of many objects at once add no status writes, short against the
/// 60 s fetch timeout.
const SLOW_FETCH: Duration = Duration::from_secs(5);

/// Runs `work`, shown in progress as described above.
pub async fn shown_in_progress<K: ToolkitObject, T>(
    run: &mut Run<K>,
    work: impl Future<Output = T>,
) -> Result<T, Error> {
    let generation = run.generation();
    let fields = K::shared_fields(&mut run.status);
    let observed = *fields.observed_generation;
    let has_conditions = !fields.conditions.is_empty();
    let reconciling = cond::get(fields.conditions, RECONCILING).map(|c| c.message.clone());
    let new_generation = (observed != generation).then(|| {
        format!(
            "processing object: new generation {} -> {}",
            observed.unwrap_or(-1),
            generation.unwrap_or(0)
        )
    });
    // A new object, without a Ready condition yet, already reads as not ready to health
    // checks; the extra write would only add API load when many are created.
    if let Some(message) = &new_generation
        && has_conditions
    {
        run.progress(PROGRESSING, message.clone()).await?;
    }
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => Ok(done),
        () = tokio::time::sleep(SLOW_FETCH) => {
            let message = new_generation
                .or(reconciling)
                .unwrap_or_else(|| "reconciliation in progress".to_owned());
            if let Err(error) = run.progress(PROGRESSING, message).await {
                tracing::debug!(%error, "could not mark a slow fetch as in progress");
            }
            Ok(work.await)
        }
    }
}
