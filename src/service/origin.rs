//! Where a new record comes from, and so which of its times are believed.

use time::OffsetDateTime;

/// A client creating a record now says nothing about its past; a record moved from another
/// directory (an export read by `rollcall import`) has one: when it was created, when it was
/// first activated, how old its password is. Keeping them keeps what is computed from them
/// (dormancy, access reviews, `meta.created`) from starting again at the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Made now: its times are now, whatever the record says.
    New,
    /// Moved from another directory: its times are kept, unless they lie in the future.
    Moved,
}

impl Origin {
    /// The time a record of this origin keeps, given the one it claims.
    pub(crate) fn since(self, claimed: OffsetDateTime, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Moved if claimed <= now => claimed,
            Self::New | Self::Moved => now,
        }
    }

    /// The same for a time a record may not have: a new one has none.
    pub(crate) fn kept(
        self,
        claimed: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        claimed.filter(|at| self == Self::Moved && *at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn only_a_moved_record_keeps_its_past_and_never_a_future() {
        let now = datetime!(2026-12-07 12:00 UTC);
        let past = datetime!(2024-01-01 00:00 UTC);
        let future = datetime!(2027-01-01 00:00 UTC);
        assert_eq!(Origin::Moved.since(past, now), past);
        assert_eq!(Origin::Moved.since(future, now), now);
        assert_eq!(Origin::New.since(past, now), now);
        assert_eq!(Origin::Moved.kept(Some(past), now), Some(past));
        assert_eq!(Origin::Moved.kept(Some(future), now), None);
        assert_eq!(Origin::New.kept(Some(past), now), None);
        assert_eq!(Origin::Moved.kept(None, now), None);
    }
}
