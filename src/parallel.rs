//! CPU-bound work over many domains on every core, in order.
//!
//! Writing the JSON report of 100,000 domains is pure computation over
//! independent items (over 100 MB of text), and while it runs the cores have
//! nothing else to do: the DNS server that shared them during the lookups
//! is idle. Scoped threads over contiguous pieces keep the results in input
//! order, so the output is the same as a sequential run's. (Judging the
//! domains in parallel was tried too: it saved a few hundredths of a second
//! and cost a second copy of every judged domain at the peak.)

use std::num::NonZeroUsize;

/// Fewer items than this are done on the calling thread: starting threads
/// costs more than it saves.
const SEQUENTIAL_BELOW: usize = 1024;

/// At most this many threads, whatever the machine: the work is memory
/// bound well before.
const MAX_THREADS: usize = 8;

/// `f` on each item, each on a thread of its own (the first on the calling
/// thread), the results in the items' order: for work the caller has
/// already cut into one piece per thread (see [`threads_for`]).
pub fn map_each<T, U, F>(items: Vec<T>, f: F) -> Vec<U>
where
    T: Send,
    U: Send,
    F: Fn(T) -> U + Sync,
{
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.map(|item| scope.spawn(move || f(item))).collect();
        let mut results = Vec::with_capacity(handles.len() + 1);
        results.push(f(first));
        for handle in handles {
            match handle.join() {
                Ok(result) => results.push(result),
                // A panic in `f` is a bug; it goes on as it would have on
                // the calling thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    })
}

/// How many threads `len` items are worth.
pub fn threads_for(len: usize) -> usize {
    if len < SEQUENTIAL_BELOW {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS)
        .min(len.div_ceil(SEQUENTIAL_BELOW / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_in_order() {
        assert_eq!(map_each(vec![3, 1, 2], |i| i * 10), vec![30, 10, 20]);
        assert!(map_each(Vec::<u8>::new(), |i| i).is_empty());
    }

    #[test]
    fn small_inputs_get_one_thread() {
        assert_eq!(threads_for(0), 1);
        assert_eq!(threads_for(SEQUENTIAL_BELOW - 1), 1);
        assert!(threads_for(1_000_000) <= MAX_THREADS);
    }

    #[test]
    fn one_item_stays_on_the_calling_thread() {
        let caller = std::thread::current().id();
        assert_eq!(
            map_each(vec![()], |()| std::thread::current().id()),
            vec![caller]
        );
    }
}
