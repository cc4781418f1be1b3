//! Group commit: a write is acknowledged only once it is on disk, yet concurrent writers share one
//! flush. A writer announces itself before its transaction ([`GroupCommit::begin`]) and takes a
//! ticket after it commits; the flusher thread releases every ticket issued before its flush
//! began.
//!
//! sled's flush and its transactions exclude each other (one process-wide lock), so flushing the
//! moment the first ticket arrives would flush once per transaction while the other writers wait
//! for the lock. Instead the flusher waits until the writers that were under way when it woke
//! have committed (bounded by [`MAX_DELAY`]), then flushes them all at once. A lone writer is
//! flushed at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a commit waits for concurrent writers to join its flush.
const MAX_DELAY: Duration = Duration::from_millis(4);

#[derive(Default)]
struct State {
    /// Writers between `begin` and their ticket (or withdrawal), by the order they began in.
    active: BTreeSet<u64>,
    /// Writers that have begun so far.
    begun: u64,
    /// Highest ticket handed out.
    requested: u64,
    /// Highest ticket known to be durable.
    durable: u64,
    /// Error of the last flush, reported to the writers it covered.
    failed: Option<String>,
    stopping: bool,
    flushes: u64,
    flush_time: Duration,
}

type Shared = (Mutex<State>, Condvar, Condvar);

pub struct GroupCommit {
    shared: Arc<Shared>,
    flusher: Option<thread::JoinHandle<()>>,
}

/// A writer's place in the next flush; dropped without [`Self::wait_durable`] it withdraws.
pub struct Writer<'a> {
    commit: &'a GroupCommit,
    seq: u64,
    done: bool,
}

impl GroupCommit {
    /// `flush` makes everything committed so far durable.
    pub fn start(flush: impl Fn() -> Result<(), String> + Send + 'static) -> Self {
        let shared: Arc<Shared> =
            Arc::new((Mutex::new(State::default()), Condvar::new(), Condvar::new()));
        let worker = Arc::clone(&shared);
        let flusher = thread::Builder::new()
            .name("rollcall-flush".into())
            .spawn(move || run_flusher(&worker, flush))
            .expect("spawn the flusher thread");
        Self {
            shared,
            flusher: Some(flusher),
        }
    }

    /// Announces a writer about to run a transaction.
    pub fn begin(&self) -> Writer<'_> {
        let mut state = self.shared.0.lock().expect("group commit lock");
        let seq = state.begun;
        state.begun += 1;
        state.active.insert(seq);
        Writer {
            commit: self,
            seq,
            done: false,
        }
    }
}

impl GroupCommit {
    /// Flushes done so far and the time they took.
    pub fn flushes(&self) -> (u64, Duration) {
        let state = self.shared.0.lock().expect("group commit lock");
        (state.flushes, state.flush_time)
    }
}

impl Writer<'_> {
    /// Blocks until everything this writer committed is durable.
    pub fn wait_durable(mut self) -> Result<(), String> {
        self.done = true;
        let (lock, wake_flusher, wake_writers) = &*self.commit.shared;
        let mut state = lock.lock().expect("group commit lock");
        state.active.remove(&self.seq);
        state.requested += 1;
        let ticket = state.requested;
        wake_flusher.notify_one();
        while state.durable < ticket {
            state = wake_writers.wait(state).expect("group commit lock");
        }
        match &state.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if !self.done {
            let (lock, wake_flusher, _) = &*self.commit.shared;
            lock.lock()
                .expect("group commit lock")
                .active
                .remove(&self.seq);
            wake_flusher.notify_one();
        }
    }
}

fn run_flusher(shared: &Shared, flush: impl Fn() -> Result<(), String>) {
    let (lock, wake_flusher, wake_writers) = shared;
    let mut state = lock.lock().expect("group commit lock");
    loop {
        while state.requested == state.durable && !state.stopping {
            state = wake_flusher.wait(state).expect("group commit lock");
        }
        if state.requested == state.durable && state.stopping {
            return;
        }
        // Wait for the writers already under way, not for those that begin meanwhile: under
        // steady load there always is one, and the flush would wait its whole allowance.
        let horizon = state.begun;
        let deadline = Instant::now() + MAX_DELAY;
        while state.active.range(..horizon).next().is_some() && !state.stopping {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = wake_flusher
                .wait_timeout(state, deadline - now)
                .expect("group commit lock")
                .0;
        }
        let target = state.requested;
        drop(state);
        let started = Instant::now();
        let result = flush();
        let took = started.elapsed();
        state = lock.lock().expect("group commit lock");
        state.flushes += 1;
        state.flush_time += took;
        state.durable = target;
        state.failed = result.err();
        wake_writers.notify_all();
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        {
            let (lock, wake_flusher, _) = &*self.shared;
            lock.lock().expect("group commit lock").stopping = true;
            wake_flusher.notify_one();
        }
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn concurrent_writers_share_flushes_and_all_return() {
        let flushes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&flushes);
        let commit = Arc::new(GroupCommit::start(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(5));
            Ok(())
        }));
        let writers: Vec<_> = (0..32)
            .map(|_| {
                let commit = Arc::clone(&commit);
                thread::spawn(move || {
                    for _ in 0..10 {
                        commit.begin().wait_durable().unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n >= 10, "each writer waited for its own flushes: {n}");
        assert!(n < 320, "flushes were shared between writers: {n}");
    }

    #[test]
    fn a_withdrawn_writer_does_not_hold_up_the_others() {
        let commit = GroupCommit::start(|| Ok(()));
        let abandoned = commit.begin();
        let started = Instant::now();
        drop(abandoned);
        commit.begin().wait_durable().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_failed_flush_is_reported_to_the_waiting_writer() {
        let commit = GroupCommit::start(|| Err("disk full".into()));
        assert_eq!(commit.begin().wait_durable().unwrap_err(), "disk full");
    }
}
