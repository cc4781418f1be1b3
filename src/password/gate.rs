//! At most a few argon2 computations at a time. Each takes tens of milliseconds and its own
//! memory (19 MiB at the default cost); a burst of binds would otherwise run one per blocking
//! thread (hundreds), multiplying memory without finishing any sooner on a few cores.

use std::sync::{Condvar, Mutex, OnceLock};

pub(super) struct Gate {
    busy: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

/// Held while hashing; lets the next waiter in when dropped.
pub(super) struct Pass<'a>(&'a Gate);

impl Gate {
    /// The process-wide gate: twice the cores, so hashing keeps every core busy while
    /// another thread waits on its turn.
    pub fn global() -> &'static Gate {
        static GATE: OnceLock<Gate> = OnceLock::new();
        GATE.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            Gate {
                busy: Mutex::new(0),
                freed: Condvar::new(),
                limit: cores * 2,
            }
        })
    }

    pub fn enter(&self) -> Pass<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        while *busy >= self.limit {
            busy = self.freed.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy += 1;
        Pass(self)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut busy = self.0.busy.lock().unwrap_or_else(|e| e.into_inner());
        *busy -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_limit_at_once() {
        let gate = std::sync::Arc::new(Gate {
            busy: Mutex::new(0),
            freed: Condvar::new(),
            limit: 2,
        });
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, peak, inside) = (gate.clone(), peak.clone(), inside.clone());
                std::thread::spawn(move || {
                    let _pass = gate.enter();
                    let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
