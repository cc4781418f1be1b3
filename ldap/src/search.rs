//! The receiving end of a directory's search: exact scope and filter checks, limits, paging
//! positions, encoding, and back-pressure to the socket.
//!
//! The sink runs on the blocking thread that runs the directory's search. Matching entries are
//! encoded there and handed to the connection through a bounded channel: when the client reads
//! slowly the channel fills and the directory's thread waits, so memory stays flat whatever the
//! size of the result.

use std::cell::Cell;
use std::time::Instant;

use bytes::Bytes;
use ldap3_proto::proto::LdapSearchScope;
use tokio::sync::mpsc;

use crate::directory::{CancelFlag, EntrySink, Stop, in_scope};
use crate::dn::Dn;
use crate::entry::{Entry, Selection};
use crate::filter::Filter;
use crate::schema::Schema;

/// How a search ended, as far as the sink is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The directory ran out of candidates.
    Complete,
    /// One more match than the size limit allows was found.
    SizeLimit,
    /// The page is full and at least one more match exists.
    PageFull,
    TimeLimit,
    /// Abandoned, or the connection is gone: nothing more is sent.
    Cancelled,
}

/// Which limit `limit` is: the client's or server's size limit, or a page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Size,
    Page,
}

/// Where a search's encoded entries go.
pub enum Output<'a> {
    /// The connection's writer, waiting while it is full: back-pressure from the socket.
    Channel(&'a mpsc::Sender<Bytes>),
    /// Kept for the caller to write. For point lookups, which run on the connection's own task
    /// and so cannot wait on the writer that task drives; they yield an entry or two.
    Buffer(&'a mut Vec<Bytes>),
}

impl Output<'_> {
    /// Fails when the connection is gone.
    fn send(&mut self, frame: Bytes) -> Result<(), Stop> {
        match self {
            Output::Channel(tx) => tx.blocking_send(frame).map_err(|_| Stop),
            Output::Buffer(frames) => {
                frames.push(frame);
                Ok(())
            }
        }
    }
}

pub struct ServerSink<'a> {
    pub msgid: i32,
    pub base: &'a Dn,
    pub scope: LdapSearchScope,
    pub filter: &'a Filter,
    pub schema: &'a Schema,
    pub selection: &'a Selection,
    pub out: Output<'a>,
    pub cancel: &'a CancelFlag,
    pub deadline: Option<Instant>,
    /// Matches to drop before sending (resuming a page without positions).
    pub skip: u64,
    /// Positions at or before this were returned by an earlier page.
    pub resume_after: Option<Vec<u8>>,
    pub limit: Option<usize>,
    pub limit_kind: LimitKind,
    pub sent: usize,
    pub last_position: Option<Vec<u8>>,
    pub outcome: Option<Outcome>,
    /// Set when `is_stopped` told the directory that the time is up. A directory that stops on
    /// that answer sends nothing more, so without this mark its partial result would be
    /// reported as complete.
    pub timed_out: Cell<bool>,
}

impl ServerSink<'_> {
    /// How the search ended once the directory has returned.
    pub fn finish(&self) -> Outcome {
        match &self.outcome {
            Some(o) => o.clone(),
            None if self.timed_out.get() => Outcome::TimeLimit,
            None => Outcome::Complete,
        }
    }

    fn stop(&mut self, outcome: Outcome) -> Result<(), Stop> {
        self.outcome.get_or_insert(outcome);
        Err(Stop)
    }

    fn offer(&mut self, entry: Entry, position: Option<Vec<u8>>) -> Result<(), Stop> {
        if self.outcome.is_some() {
            return Err(Stop);
        }
        if self.cancel.is_cancelled() {
            return self.stop(Outcome::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return self.stop(Outcome::TimeLimit);
        }
        if let (Some(p), Some(after)) = (&position, &self.resume_after)
            && p <= after
        {
            return Ok(());
        }
        if !in_scope(self.base, self.scope.clone(), entry.dn())
            || !self.filter.matches(&entry, self.schema)
        {
            return Ok(());
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        if self.limit.is_some_and(|l| self.sent >= l) {
            return self.stop(match self.limit_kind {
                LimitKind::Size => Outcome::SizeLimit,
                LimitKind::Page => Outcome::PageFull,
            });
        }
        let bytes = entry.encode_result(self.msgid, self.selection, self.schema);
        if self.out.send(bytes).is_err() {
            return self.stop(Outcome::Cancelled);
        }
        self.sent += 1;
        self.last_position = position;
        Ok(())
    }
}

impl EntrySink for ServerSink<'_> {
    fn send(&mut self, entry: Entry) -> Result<(), Stop> {
        self.offer(entry, None)
    }

    fn send_at(&mut self, entry: Entry, position: Vec<u8>) -> Result<(), Stop> {
        self.offer(entry, Some(position))
    }

    fn is_stopped(&self) -> bool {
        if self.outcome.is_some() || self.cancel.is_cancelled() {
            return true;
        }
        let late = self.deadline.is_some_and(|d| Instant::now() >= d);
        if late {
            self.timed_out.set(true);
        }
        late
    }
}

/// Collects the one entry a compare needs.
#[derive(Default)]
pub struct FirstEntry {
    pub dn: Option<Dn>,
    pub entry: Option<Entry>,
}

impl EntrySink for FirstEntry {
    fn send(&mut self, entry: Entry) -> Result<(), Stop> {
        if self.dn.as_ref().is_some_and(|d| d != entry.dn()) {
            return Ok(());
        }
        self.entry = Some(entry);
        Err(Stop)
    }

    fn send_at(&mut self, entry: Entry, _position: Vec<u8>) -> Result<(), Stop> {
        self.send(entry)
    }

    fn is_stopped(&self) -> bool {
        self.entry.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse_filter;

    fn entry(uid: &str) -> Entry {
        Entry::new(Dn::parse(&format!("uid={uid},ou=people,dc=x")).expect("dn"))
            .with("uid", [uid])
            .with("objectClass", ["person"])
    }

    struct Harness {
        base: Dn,
        filter: Filter,
        schema: Schema,
        selection: Selection,
        cancel: CancelFlag,
    }

    impl Harness {
        fn new(filter: &str) -> Harness {
            let schema = Schema::standard();
            Harness {
                base: Dn::parse("ou=people,dc=x").expect("dn"),
                filter: Filter::compile(&parse_filter(filter).expect("filter"), &schema),
                selection: Selection::parse(&[], false, &schema),
                schema,
                cancel: CancelFlag::default(),
            }
        }

        fn sink<'a>(&'a self, tx: &'a mpsc::Sender<Bytes>) -> ServerSink<'a> {
            ServerSink {
                msgid: 4,
                base: &self.base,
                scope: LdapSearchScope::OneLevel,
                filter: &self.filter,
                schema: &self.schema,
                selection: &self.selection,
                out: Output::Channel(tx),
                cancel: &self.cancel,
                deadline: None,
                skip: 0,
                resume_after: None,
                limit: None,
                limit_kind: LimitKind::Size,
                sent: 0,
                last_position: None,
                outcome: None,
                timed_out: Cell::new(false),
            }
        }
    }

    fn received(rx: &mut mpsc::Receiver<Bytes>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(b) = rx.try_recv() {
            // The encoded entry carries its DN as plain text.
            let text = String::from_utf8_lossy(&b).into_owned();
            let start = text.find("uid=").expect("dn");
            out.push(text[start..start + 5].to_string());
        }
        out
    }

    #[test]
    fn filters_scope_and_limits() {
        let h = Harness::new("(uid=a*)");
        let (tx, mut rx) = mpsc::channel(16);
        let mut s = h.sink(&tx);
        s.limit = Some(2);
        assert_eq!(s.send(entry("a1")), Ok(()));
        assert_eq!(s.send(entry("b1")), Ok(()));
        // Out of scope (base itself for one-level).
        assert_eq!(
            s.send(Entry::new(h.base.clone()).with("uid", ["a"])),
            Ok(())
        );
        assert_eq!(s.send(entry("a2")), Ok(()));
        assert!(!s.is_stopped());
        assert_eq!(s.send(entry("a3")), Err(Stop));
        assert_eq!(s.outcome, Some(Outcome::SizeLimit));
        assert!(s.is_stopped());
        assert_eq!(s.send(entry("a4")), Err(Stop));
        assert_eq!(s.sent, 2);
        assert_eq!(received(&mut rx), ["uid=a", "uid=a"]);
    }

    #[test]
    fn exactly_the_limit_is_not_exceeded() {
        let h = Harness::new("(objectClass=*)");
        let (tx, _rx) = mpsc::channel(16);
        let mut s = h.sink(&tx);
        s.limit = Some(1);
        assert_eq!(s.send(entry("a1")), Ok(()));
        assert_eq!(s.outcome, None);
    }

    #[test]
    fn page_resume_by_position_and_skip() {
        let h = Harness::new("(objectClass=*)");
        let (tx, _rx) = mpsc::channel(16);
        let mut s = h.sink(&tx);
        s.resume_after = Some(vec![2]);
        s.limit = Some(1);
        s.limit_kind = LimitKind::Page;
        assert_eq!(s.send_at(entry("a1"), vec![1]), Ok(()));
        assert_eq!(s.send_at(entry("a2"), vec![2]), Ok(()));
        assert_eq!(s.sent, 0);
        assert_eq!(s.send_at(entry("a3"), vec![3]), Ok(()));
        assert_eq!(s.send_at(entry("a4"), vec![4]), Err(Stop));
        assert_eq!(s.outcome, Some(Outcome::PageFull));
        assert_eq!(s.last_position, Some(vec![3]));

        let mut s = h.sink(&tx);
        s.skip = 2;
        for u in ["a1", "a2", "a3"] {
            assert_eq!(s.send(entry(u)), Ok(()));
        }
        assert_eq!(s.sent, 1);
    }

    #[test]
    fn cancel_deadline_and_closed_channel_stop() {
        let h = Harness::new("(objectClass=*)");
        let (tx, rx) = mpsc::channel(16);
        let mut s = h.sink(&tx);
        h.cancel.cancel();
        assert_eq!(s.send(entry("a1")), Err(Stop));
        assert_eq!(s.outcome, Some(Outcome::Cancelled));

        let h = Harness::new("(objectClass=*)");
        let mut s = h.sink(&tx);
        s.deadline = Some(Instant::now());
        assert!(s.is_stopped());
        assert_eq!(s.send(entry("a1")), Err(Stop));
        assert_eq!(s.outcome, Some(Outcome::TimeLimit));

        // A directory that stops on `is_stopped` alone, without another send: still a time
        // limit, not a complete result.
        let mut s = h.sink(&tx);
        assert_eq!(s.send(entry("a1")), Ok(()));
        s.deadline = Some(Instant::now());
        assert!(s.is_stopped());
        assert_eq!(s.outcome, None);
        assert_eq!(s.finish(), Outcome::TimeLimit);
        let s = h.sink(&tx);
        assert!(!s.is_stopped());
        assert_eq!(s.finish(), Outcome::Complete);

        drop(rx);
        let mut s = h.sink(&tx);
        assert_eq!(s.send(entry("a1")), Err(Stop));
        assert_eq!(s.outcome, Some(Outcome::Cancelled));
    }

    #[test]
    fn first_entry_takes_the_named_dn() {
        let mut f = FirstEntry {
            dn: Some(Dn::parse("uid=b,ou=people,dc=x").expect("dn")),
            entry: None,
        };
        assert_eq!(f.send(entry("a")), Ok(()));
        assert!(!f.is_stopped());
        assert_eq!(f.send(entry("b")), Err(Stop));
        assert_eq!(f.entry.as_ref().and_then(|e| e.first_str("uid")), Some("b"));
    }
}
