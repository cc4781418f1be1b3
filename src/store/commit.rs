//! Group commit: a write is acknowledged only once it is on disk, yet concurrent writers share one
//! flush. Each writer takes a ticket after its transaction commits; a single flusher thread flushes
//! and then releases every ticket issued before that flush began.

use std::sync::{Arc, Condvar, Mutex};
use std::thread;

#[derive(Default)]
struct State {
    /// Highest ticket handed out.
    requested: u64,
    /// Highest ticket known to be durable.
    durable: u64,
    /// Error of the last flush, reported to the writers it covered.
    failed: Option<String>,
    stopping: bool,
}

pub struct GroupCommit {
    shared: Arc<(Mutex<State>, Condvar, Condvar)>,
    flusher: Option<thread::JoinHandle<()>>,
}

impl GroupCommit {
    /// `flush` makes everything committed so far durable.
    pub fn start(flush: impl Fn() -> Result<(), String> + Send + 'static) -> Self {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new(), Condvar::new()));
        let worker = Arc::clone(&shared);
        let flusher = thread::Builder::new()
            .name("rollcall-flush".into())
            .spawn(move || {
                let (lock, wake_flusher, wake_writers) = &*worker;
                let mut state = lock.lock().expect("group commit lock");
                loop {
                    while state.requested == state.durable && !state.stopping {
                        state = wake_flusher.wait(state).expect("group commit lock");
                    }
                    if state.requested == state.durable && state.stopping {
                        return;
                    }
                    let target = state.requested;
                    drop(state);
                    let result = flush();
                    state = lock.lock().expect("group commit lock");
                    state.durable = target;
                    state.failed = result.err();
                    wake_writers.notify_all();
                }
            })
            .expect("spawn the flusher thread");
        Self {
            shared,
            flusher: Some(flusher),
        }
    }

    /// Blocks until everything committed before the call is durable.
    pub fn wait_durable(&self) -> Result<(), String> {
        let (lock, wake_flusher, wake_writers) = &*self.shared;
        let mut state = lock.lock().expect("group commit lock");
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
    use std::time::Duration;

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
                        commit.wait_durable().unwrap();
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
    fn a_failed_flush_is_reported_to_the_waiting_writer() {
        let commit = GroupCommit::start(|| Err("disk full".into()));
        assert_eq!(commit.wait_durable().unwrap_err(), "disk full");
    }
}
