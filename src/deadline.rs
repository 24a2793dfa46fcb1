//! `--deadline`: a bound on the whole run, reading included. A read that
//! hangs (a dead NFS server, a file system that stalls) cannot be
//! interrupted from inside, so the run happens on a thread of its own and
//! the caller stops waiting when the time is up; the stuck thread is left
//! behind and ends with the process.

use std::sync::mpsc;
use std::time::Duration;

/// The work did not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("did not finish within {} s", .0.as_secs_f64())]
pub struct DeadlineExceeded(pub Duration);

/// Run `work` on its own thread and wait at most `limit` for its result.
pub fn run_within<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DeadlineExceeded> {
    let (done, result) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("mxdrift-run".into())
        .spawn(move || {
            // The receiver is gone when the deadline passed: nobody waits.
            let _ = done.send(work());
        });
    if spawned.is_err() {
        return Err(DeadlineExceeded(limit));
    }
    result
        .recv_timeout(limit)
        .map_err(|_| DeadlineExceeded(limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn returns_the_result_in_time() {
        assert_eq!(run_within(Duration::from_secs(10), || 42), Ok(42));
    }

    #[test]
    fn stops_waiting_for_work_that_never_ends() {
        // A read that never returns, as on a FIFO without a writer.
        let (_keep, never) = mpsc::channel::<()>();
        let started = Instant::now();
        let result = run_within(Duration::from_millis(100), move || never.recv());
        assert_eq!(result, Err(DeadlineExceeded(Duration::from_millis(100))));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
