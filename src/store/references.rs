//! What the records must agree on among themselves, whatever engine holds them: every role,
//! account and manager a record names exists, a typed role's members hold its license type,
//! and neither managers nor parent accounts go round in a loop. The service refuses a change
//! that would break one of these; a check (and a restore, which runs the same one) finds
//! where something else did: a bug, a store edited by hand, or a backup of either.
//!
//! A manager that was anonymised is not a finding: anonymisation keeps the record (so that
//! references and the audit trail still resolve), and a release before this one left its
//! reports pointing at it; front ends show such a manager as gone.

use std::collections::BTreeMap;

use crate::model::{Account, AccountId, Role, RoleId, User, UserId};

/// One entry of an index over users, read back into what it says of the records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum UserIndexEntry {
    ExternalId {
        user: UserId,
        external_id: String,
    },
    /// The number as the index keeps it (see [`crate::model::fold_words`]).
    EmployeeNumber {
        user: UserId,
        number: String,
    },
    /// The address as the index keeps it (case-folded).
    Email {
        user: UserId,
        address: String,
    },
    Manager {
        user: UserId,
        manager: UserId,
    },
    Account {
        user: UserId,
        account: AccountId,
    },
    RoleMember {
        user: UserId,
        role: RoleId,
    },
}

impl UserIndexEntry {
    /// What the index is for, as an operator would name it.
    fn index_meaning(&self) -> &'static str {
        match self {
            Self::ExternalId { .. } => "users by externalId",
            Self::EmployeeNumber { .. } => "users by employee number",
            Self::Email { .. } => "users by email address",
            Self::Manager { .. } => "users by manager",
            Self::Account { .. } => "users by account",
            Self::RoleMember { .. } => "members by role",
        }
    }
}

/// How an index disagrees with the records at one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Drift {
    /// The records say it; the index lacks it (a lookup by it misses the user).
    Missing,
    /// The index has it; no record says it (a lookup by it finds a user it should not).
    Stale,
}

impl Drift {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Stale => "stale",
        }
    }
}

/// Followed references, gathered user by user so that a check holds a few bytes per user
/// rather than every record.
pub(super) struct References<'a> {
    roles: BTreeMap<RoleId, &'a Role>,
    accounts: BTreeMap<AccountId, &'a Account>,
    /// Every user record, by id: its userName (anonymised ones keep a placeholder) and its
    /// manager.
    users: BTreeMap<UserId, (String, Option<UserId>)>,
    problems: Vec<String>,
}

impl<'a> References<'a> {
    pub(super) fn new(roles: &'a [Role], accounts: &'a [Account]) -> Self {
        Self {
            roles: roles.iter().map(|r| (r.id, r)).collect(),
            accounts: accounts.iter().map(|a| (a.id, a)).collect(),
            users: BTreeMap::new(),
            problems: Vec::new(),
        }
    }

    /// Checks what `user` names that the roles and accounts answer; its manager is checked
    /// by [`Self::finish`], once every user is known.
    pub(super) fn user(&mut self, user: &User) {
        self.users
            .insert(user.id, (user.user_name.clone(), user.manager));
        if user.anonymised {
            // Erased: no roles, account or manager, and invisible to every front end.
            return;
        }
        for id in &user.roles {
            let Some(role) = self.roles.get(id) else {
                self.problems.push(format!(
                    "user {:?} holds role {id}, which does not exist",
                    user.user_name
                ));
                continue;
            };
            if let Some(role_type) = role.role_type
                && !role.admits(user.license)
            {
                self.problems.push(format!(
                    "user {:?} holds {role_type} role {:?} but has license {}",
                    user.user_name, role.name, user.license
                ));
            }
        }
        if let Some(account) = user.account
            && !self.accounts.contains_key(&account)
        {
            self.problems.push(format!(
                "user {:?} belongs to account {account}, which does not exist",
                user.user_name
            ));
        }
    }

    /// An index finding, naming the records its entry is about as the reference findings
    /// name them (`user "eve"`, `role "Crew"`), and the index by its tree and its meaning:
    /// `idx_user_manager (users by manager): missing entry: user "eve" reports to "bob"`.
    /// Call it once every user has been seen.
    pub(super) fn index_finding(
        &self,
        index: &str,
        drift: Drift,
        entry: &UserIndexEntry,
    ) -> String {
        let says = match entry {
            UserIndexEntry::ExternalId { user, external_id } => {
                format!(
                    "user {} has externalId {external_id:?}",
                    self.user_named(*user)
                )
            }
            UserIndexEntry::EmployeeNumber { user, number } => {
                format!(
                    "user {} has employee number {number:?}",
                    self.user_named(*user)
                )
            }
            UserIndexEntry::Email { user, address } => {
                format!("user {} has address {address:?}", self.user_named(*user))
            }
            UserIndexEntry::Manager { user, manager } => format!(
                "user {} reports to {}",
                self.user_named(*user),
                self.user_named(*manager)
            ),
            UserIndexEntry::Account { user, account } => format!(
                "user {} belongs to account {}",
                self.user_named(*user),
                self.account_named(*account)
            ),
            UserIndexEntry::RoleMember { user, role } => format!(
                "user {} holds role {}",
                self.user_named(*user),
                self.role_named(*role)
            ),
        };
        let meaning = entry.index_meaning();
        let drift_said = drift.as_str();
        match drift {
            Drift::Missing => format!("{index} ({meaning}): {drift_said} entry: {says}"),
            Drift::Stale => {
                format!("{index} ({meaning}): {drift_said} entry (no record says so): {says}")
            }
        }
    }

    /// A user as findings name it: its userName, or its id when there is no such record.
    fn user_named(&self, id: UserId) -> String {
        match self.users.get(&id) {
            Some((name, _)) => format!("{name:?}"),
            None => format!("{id} (no such user)"),
        }
    }

    fn role_named(&self, id: RoleId) -> String {
        match self.roles.get(&id) {
            Some(role) => format!("{:?}", role.name),
            None => format!("{id} (no such role)"),
        }
    }

    fn account_named(&self, id: AccountId) -> String {
        match self.accounts.get(&id) {
            Some(account) => format!("{:?}", account.name),
            None => format!("{id} (no such account)"),
        }
    }

    /// Every finding: those of the users seen, then managers and parent accounts.
    pub(super) fn finish(mut self) -> Vec<String> {
        for (name, manager) in self.users.values() {
            if let Some(manager) = manager
                && !self.users.contains_key(manager)
            {
                self.problems.push(format!(
                    "user {name:?} has manager {manager}, which does not exist"
                ));
            }
        }
        let managers: BTreeMap<UserId, Option<UserId>> = self
            .users
            .iter()
            .map(|(id, (_, manager))| (*id, *manager))
            .collect();
        for cycle in loops(&managers) {
            let names: Vec<String> = cycle
                .iter()
                .map(|id| format!("{:?}", self.users[id].0))
                .collect();
            self.problems.push(format!(
                "managers go round in a loop: {}",
                names.join(" → ")
            ));
        }
        for account in self.accounts.values() {
            if let Some(parent) = account.parent
                && !self.accounts.contains_key(&parent)
            {
                self.problems.push(format!(
                    "account {:?} has parent {parent}, which does not exist",
                    account.name
                ));
            }
        }
        let parents: BTreeMap<AccountId, Option<AccountId>> =
            self.accounts.values().map(|a| (a.id, a.parent)).collect();
        for cycle in loops(&parents) {
            let names: Vec<String> = cycle
                .iter()
                .map(|id| format!("{:?}", self.accounts[id].name))
                .collect();
            self.problems.push(format!(
                "parent accounts go round in a loop: {}",
                names.join(" → ")
            ));
        }
        self.problems
    }
}

/// Each loop in a graph where every node points at most at one other (a manager, a parent),
/// once, as the nodes met going round it and the first one again. Every node is walked once,
/// so a deep organisation costs no more than a flat one.
fn loops<K: Ord + Copy>(next: &BTreeMap<K, Option<K>>) -> Vec<Vec<K>> {
    /// Where a walk stands with a node.
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        OnThisWalk(usize),
        Done,
    }
    let mut seen: BTreeMap<K, Seen> = BTreeMap::new();
    let mut found = Vec::new();
    for start in next.keys() {
        let mut walk: Vec<K> = Vec::new();
        let mut at = Some(*start);
        while let Some(node) = at {
            match seen.get(&node) {
                Some(Seen::Done) => break,
                Some(Seen::OnThisWalk(from)) => {
                    let mut cycle = walk[*from..].to_vec();
                    cycle.push(node);
                    found.push(cycle);
                    break;
                }
                None => {}
            }
            seen.insert(node, Seen::OnThisWalk(walk.len()));
            walk.push(node);
            // A node that points at a missing record ends the walk (reported apart).
            at = next.get(&node).copied().flatten();
        }
        for node in walk {
            seen.insert(node, Seen::Done);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(u8, Option<u8>)]) -> BTreeMap<u8, Option<u8>> {
        edges.iter().copied().collect()
    }

    #[test]
    fn finds_each_loop_once_and_nothing_in_a_tree() {
        let tree = graph(&[(1, None), (2, Some(1)), (3, Some(2)), (4, Some(2))]);
        assert!(loops(&tree).is_empty());
        let two = graph(&[(1, Some(2)), (2, Some(3)), (3, Some(2)), (4, Some(1))]);
        assert_eq!(loops(&two), [vec![2, 3, 2]]);
        let own = graph(&[(1, Some(1)), (2, Some(1)), (5, Some(6)), (6, Some(5))]);
        assert_eq!(loops(&own), [vec![1, 1], vec![5, 6, 5]]);
        let dangling = graph(&[(1, Some(9)), (2, Some(1))]);
        assert!(loops(&dangling).is_empty());
    }
}
