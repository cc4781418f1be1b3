//! Commits applied in batches. An atomic multi-tree change in sled 0.34 costs two log-buffer
//! writes of its own (each a `pwrite` and a `sync_file_range` on an I/O thread), whatever its
//! size. So concurrent writers do not each commit: they queue their validated changes, and one
//! of them (the leader) applies everything queued as one engine transaction, each change
//! checked against the ones before it, while the next batch gathers behind it.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::StoreError;

/// What a queued change came to: committed, stale (its reads changed; the body runs again),
/// or an engine failure.
pub type Outcome = Result<bool, StoreError>;

struct State<W> {
    queue: Vec<(u64, W)>,
    done: HashMap<u64, Outcome>,
    next: u64,
    leading: bool,
}

pub struct Combiner<W> {
    state: Mutex<State<W>>,
    wake: Condvar,
}

impl<W> Default for Combiner<W> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                queue: Vec::new(),
                done: HashMap::new(),
                next: 0,
                leading: false,
            }),
            wake: Condvar::new(),
        }
    }
}

impl<W> Combiner<W> {
    fn lock(&self) -> MutexGuard<'_, State<W>> {
        // The state is consistent between statements; a panicking leader is handled below.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `work` and returns its outcome once some leader (perhaps this caller) has
    /// applied it. `apply` gets a batch in queue order and returns one outcome per item.
    pub fn submit(&self, work: W, apply: &dyn Fn(Vec<W>) -> Vec<Outcome>) -> Outcome {
        let mut state = self.lock();
        let ticket = state.next;
        state.next += 1;
        state.queue.push((ticket, work));
        loop {
            if let Some(outcome) = state.done.remove(&ticket) {
                return outcome;
            }
            if !state.leading {
                state.leading = true;
                let batch = std::mem::take(&mut state.queue);
                drop(state);
                let (tickets, works): (Vec<u64>, Vec<W>) = batch.into_iter().unzip();
                let lead = Leading {
                    combiner: self,
                    tickets,
                    own: ticket,
                };
                let outcomes = apply(works);
                state = lead.finish(outcomes);
                continue;
            }
            state = self
                .wake
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// A leader's batch in flight. If `apply` panics, its writers get an error instead of
/// waiting forever, and another writer can lead.
struct Leading<'a, W> {
    combiner: &'a Combiner<W>,
    tickets: Vec<u64>,
    /// The leader's own item: its caller unwinds with the panic and takes no outcome.
    own: u64,
}

impl<'a, W> Leading<'a, W> {
    fn finish(mut self, outcomes: Vec<Outcome>) -> MutexGuard<'a, State<W>> {
        let tickets = std::mem::take(&mut self.tickets);
        let mut state = self.combiner.lock();
        let mut outcomes = outcomes.into_iter();
        for ticket in tickets {
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(StoreError::Engine(
                    "a batched commit lost its outcome".into(),
                ))
            });
            state.done.insert(ticket, outcome);
        }
        state.leading = false;
        self.combiner.wake.notify_all();
        state
    }
}

impl<W> Drop for Leading<'_, W> {
    fn drop(&mut self) {
        if self.tickets.is_empty() {
            return;
        }
        let mut state = self.combiner.lock();
        for ticket in self.tickets.drain(..).filter(|t| *t != self.own) {
            state.done.insert(
                ticket,
                Err(StoreError::Engine("a batched commit failed".into())),
            );
        }
        state.leading = false;
        self.combiner.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    #[test]
    fn every_item_gets_its_own_outcome_and_batches_form_under_contention() {
        let combiner = Arc::new(Combiner::<u32>::default());
        let batches = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..16u32)
            .map(|w| {
                let (combiner, batches) = (Arc::clone(&combiner), Arc::clone(&batches));
                thread::spawn(move || {
                    for i in 0..50u32 {
                        let item = w * 1000 + i;
                        let apply = |items: Vec<u32>| {
                            batches.fetch_add(1, Ordering::SeqCst);
                            thread::sleep(Duration::from_micros(200));
                            // Odd items are "stale": the outcome must reach the right caller.
                            items.into_iter().map(|x| Ok(x % 2 == 0)).collect()
                        };
                        let got = combiner.submit(item, &apply).unwrap();
                        assert_eq!(got, item % 2 == 0, "item {item}");
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(
            n < 16 * 50,
            "items shared batches: {n} batches for 800 items"
        );
    }

    #[test]
    fn a_panicking_leader_fails_its_batch_and_others_go_on() {
        let combiner = Combiner::<u32>::default();
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            combiner.submit(1, &|_| panic!("engine bug"))
        }));
        assert!(failed.is_err());
        assert!(
            combiner
                .submit(2, &|items| items.iter().map(|_| Ok(true)).collect())
                .unwrap()
        );
        // Nothing is left behind for callers that are gone.
        assert!(combiner.lock().done.is_empty());
        assert!(!combiner.lock().leading);
    }
}
