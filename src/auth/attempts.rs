//! Sign-in attempts in flight, per user. A failure is recorded only once its password has been
//! verified (argon2, milliseconds), so without a bound a client that sends many guesses at
//! once has every one of them verified before the first failure is stored and the lockout
//! counts it: thirty parallel guesses against a threshold of five were thirty guesses. Here a
//! user has at most as many attempts verified at once as it has failures left before the lock;
//! the others wait their turn, and so every guess past the threshold finds the lock.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::model::UserId;

#[derive(Default)]
pub struct Attempts {
    in_flight: Mutex<HashMap<UserId, usize>>,
    finished: Condvar,
}

/// One attempt's place among its user's; given back when dropped.
pub struct Attempt<'a> {
    of: &'a Attempts,
    user: UserId,
}

impl Attempts {
    /// Waits until fewer of `user`'s attempts are in flight than `allowed` says may be (the
    /// failures left before the lock, read afresh each time an attempt ends), at most
    /// `patience`; `None` when it runs out.
    pub fn begin(
        &self,
        user: UserId,
        patience: Duration,
        allowed: impl Fn() -> usize,
    ) -> Option<Attempt<'_>> {
        let deadline = Instant::now() + patience;
        // `allowed` is read under the lock: an attempt gives its place back (in `Drop`) only
        // after its failure is stored, so a count read here sees every finished attempt's.
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let running = in_flight.get(&user).copied().unwrap_or(0);
            if running < allowed().max(1) {
                *in_flight.entry(user).or_default() += 1;
                return Some(Attempt { of: self, user });
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            in_flight = self
                .finished
                .wait_timeout(in_flight, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .of
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = in_flight.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                in_flight.remove(&self.user);
            }
        }
        drop(in_flight);
        self.of.finished.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_attempts_run_at_once_than_are_allowed() {
        let attempts = Arc::new(Attempts::default());
        let user = UserId::new();
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let (attempts, running, most) = (
                    Arc::clone(&attempts),
                    Arc::clone(&running),
                    Arc::clone(&most),
                );
                std::thread::spawn(move || {
                    let _turn = attempts
                        .begin(user, Duration::from_secs(10), || 2)
                        .expect("a turn within the patience");
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        // Another user is not held up by this one's attempts, and patience runs out.
        let _a = attempts.begin(user, Duration::ZERO, || 1).unwrap();
        assert!(
            attempts
                .begin(user, Duration::from_millis(50), || 1)
                .is_none()
        );
        assert!(
            attempts
                .begin(UserId::new(), Duration::ZERO, || 1)
                .is_some()
        );
    }
}
