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

/// The clock of one poll loop: whether its deadline has passed, and the pause before the next
/// try (`interval` of the time waited, at least `floor`). Every poll loop keeps time with it:
/// `until` and `retrying` here, and the loops that keep their own state between tries
/// (ingestion waiting for a running job, legacy following a stack's events).
pub struct Poll {
    start: Instant,
    deadline: Duration,
    floor: Duration,
}

impl Poll {
    pub fn new(deadline: Duration) -> Poll {
        Poll { start: Instant::now(), deadline, floor: Duration::ZERO }
    }

    /// Never pauses less than `floor` (a refused call is retried promptly, not hammered).
    pub fn at_least(mut self, floor: Duration) -> Poll {
        self.floor = floor;
        self
    }

    pub fn waited(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn expired(&self) -> bool {
        self.waited() >= self.deadline
    }

    pub async fn pause(&self) {
        tokio::time::sleep(interval(self.waited()).max(self.floor)).await;
    }
}

/// Polls until `poll` returns `Some`, reporting `what` is awaited; fails after `deadline`.
pub async fn until<T, F, Fut>(step: &Step, what: &str, deadline: Duration, mut poll: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let clock = Poll::new(deadline);
    step.progress("waiting", what);
    loop {
        if let Some(v) = poll().await? {
            return Ok(v);
        }
        if clock.expired() {
            return Err(Error::Incomplete {
                message: format!("{}: gave up after {}s waiting for {what}", step.id, clock.waited().as_secs()),
                help: Some("run the command again later: it picks up where this one stopped".into()),
            });
        }
        clock.pause().await;
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
    let clock = Poll::new(deadline).at_least(RETRY_MIN);
    let mut reported = false;
    loop {
        match op().await {
            Err(e) if transient(&e) && !clock.expired() => {
                if !reported {
                    step.progress("waiting", &format!("{why} ({})", e.code));
                    reported = true;
                }
                tracing::debug!(resource = %step.id, error = %e, "transient, retrying");
                clock.pause().await;
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
