//! Waiters and classified retries. Both poll from the start (no blanket sleep first) with an
//! interval that grows with the time already waited (a fortieth of it, between `MIN` and `MAX`):
//! a wait of a few seconds polls often, a ten-minute collection wait polls every 15 s, and the
//! overshoot after the awaited change stays near 2.5 % of the wait (scripts/bench-deploy).

use crate::aws::AwsError;
use crate::context::Step;
use crate::error::{Error, Result};
use std::future::Future;
use std::time::{Duration, Instant};

const MIN: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(15);
/// The shortest pause between two tries of a refused call (propagation takes seconds on AWS).
const RETRY_MIN: Duration = Duration::from_millis(250);

pub fn interval(waited: Duration) -> Duration {
    (waited / 40).clamp(MIN, MAX)
}

/// Polls until `poll` returns `Some`, reporting `what` is awaited; fails after `deadline`.
pub async fn until<T, F, Fut>(step: &Step, what: &str, deadline: Duration, mut poll: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    step.progress("waiting", what);
    loop {
        if let Some(v) = poll().await? {
            return Ok(v);
        }
        let waited = start.elapsed();
        if waited >= deadline {
            return Err(Error::Incomplete {
                message: format!("{}: gave up after {}s waiting for {what}", step.id, waited.as_secs()),
                help: Some("run the command again later: it picks up where this one stopped".into()),
            });
        }
        tokio::time::sleep(interval(waited)).await;
    }
}

/// Runs `op` until it succeeds, retrying only errors `transient` accepts (IAM or data access
/// policy propagation, named precisely by each caller) until `deadline`.
pub async fn retrying<T, F, Fut>(
    step: &Step,
    why: &str,
    deadline: Duration,
    transient: impl Fn(&AwsError) -> bool,
    mut op: F,
) -> std::result::Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, AwsError>>,
{
    let start = Instant::now();
    let mut reported = false;
    loop {
        match op().await {
            Err(e) if transient(&e) && start.elapsed() < deadline => {
                if !reported {
                    step.progress("waiting", &format!("{why} ({})", e.code));
                    reported = true;
                }
                tracing::debug!(resource = %step.id, error = %e, "transient, retrying");
                // At least RETRY_MIN apart: a refusal is retried promptly, not hammered.
                tokio::time::sleep(interval(start.elapsed()).max(RETRY_MIN)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_grows_with_the_wait_and_stays_bounded() {
        assert_eq!(interval(Duration::ZERO), MIN);
        assert_eq!(interval(Duration::from_secs(60)), Duration::from_millis(1500));
        assert_eq!(interval(Duration::from_secs(3600)), MAX);
    }
}
