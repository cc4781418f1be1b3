//! Counters an operator watches: connections, and operations by kind and result code. Plain
//! atomics on the hot path; whoever exports them (Prometheus text, logs) reads a [`Snapshot`].

use std::sync::atomic::{AtomicU64, Ordering};

use ldap3_proto::proto::{LdapMsg, LdapOp};

/// The operations that end in a result, in the order [`Snapshot::operations`] names them.
pub const OPERATIONS: [&str; 8] = [
    "bind", "search", "modify", "add", "delete", "modrdn", "compare", "extended",
];

/// Result codes are defined up to 123 (RFC 4511 and extensions); anything above is counted
/// under `other`.
const CODES: usize = 124;
const OTHER: usize = CODES;

pub struct Stats {
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
    /// `[operation][result code]`.
    results: Vec<[AtomicU64; CODES + 1]>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Stats").field(&self.snapshot()).finish()
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicU64::new(0),
            results: OPERATIONS
                .iter()
                .map(|_| std::array::from_fn(|_| AtomicU64::new(0)))
                .collect(),
        }
    }
}

/// What the counters said at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Connections accepted since start (each also counted in `open` while it lasts).
    pub accepted: u64,
    /// Connections turned away by the global or per-address limit.
    pub refused: u64,
    pub open: u64,
    /// `(operation, result code, count)` for every pair seen at least once; the code is
    /// `None` for codes outside the defined range.
    pub operations: Vec<(&'static str, Option<u32>, u64)>,
}

impl Stats {
    pub(crate) fn connection_opened(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `msg` if it is the final response of an operation.
    pub(crate) fn response(&self, msg: &LdapMsg) {
        let (op, code) = match &msg.op {
            LdapOp::BindResponse(r) => (0, &r.res.code),
            LdapOp::SearchResultDone(r) => (1, &r.code),
            LdapOp::ModifyResponse(r) => (2, &r.code),
            LdapOp::AddResponse(r) => (3, &r.code),
            LdapOp::DelResponse(r) => (4, &r.code),
            LdapOp::ModifyDNResponse(r) => (5, &r.code),
            LdapOp::CompareResult(r) => (6, &r.code),
            // A response without a name is a notice of disconnection, not an operation's end.
            LdapOp::ExtendedResponse(r) if msg.msgid != 0 => (7, &r.res.code),
            _ => return,
        };
        let code = usize::try_from(code.clone() as u32)
            .ok()
            .filter(|c| *c < CODES)
            .unwrap_or(OTHER);
        self.results[op][code].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut operations = Vec::new();
        for (name, codes) in OPERATIONS.iter().zip(&self.results) {
            for (code, count) in codes.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let code = (code < CODES).then_some(code as u32);
                    operations.push((*name, code, count));
                }
            }
        }
        Snapshot {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            operations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3_proto::proto::{LdapBindResponse, LdapExtendedResponse, LdapResult, LdapResultCode};

    fn res(code: LdapResultCode) -> LdapResult {
        LdapResult {
            code,
            matcheddn: String::new(),
            message: String::new(),
            referral: vec![],
        }
    }

    #[test]
    fn counts_final_responses_by_operation_and_code() {
        let stats = Stats::default();
        let done = |code| LdapMsg {
            msgid: 2,
            op: LdapOp::SearchResultDone(res(code)),
            ctrl: vec![],
        };
        stats.response(&done(LdapResultCode::Success));
        stats.response(&done(LdapResultCode::Success));
        stats.response(&done(LdapResultCode::SizeLimitExceeded));
        stats.response(&LdapMsg {
            msgid: 1,
            op: LdapOp::BindResponse(LdapBindResponse {
                res: res(LdapResultCode::InvalidCredentials),
                saslcreds: None,
            }),
            ctrl: vec![],
        });
        // A notice of disconnection is not an operation.
        stats.response(&LdapMsg {
            msgid: 0,
            op: LdapOp::ExtendedResponse(LdapExtendedResponse {
                res: res(LdapResultCode::Unavailable),
                name: None,
                value: None,
            }),
            ctrl: vec![],
        });
        stats.connection_opened();
        stats.connection_opened();
        stats.connection_closed();
        stats.connection_refused();
        let s = stats.snapshot();
        assert_eq!((s.accepted, s.open, s.refused), (2, 1, 1));
        assert_eq!(
            s.operations,
            vec![
                ("bind", Some(49), 1),
                ("search", Some(0), 2),
                ("search", Some(4), 1),
            ]
        );
    }
}
