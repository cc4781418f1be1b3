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
