//! The directory tree (DESIGN §3): where each kind of record lives and which DN names what.

use rollcall_ldap::{Dn, Rdn};

/// The four branches under the base DN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Branch {
    People,
    Roles,
    Accounts,
    Services,
}

impl Branch {
    pub const ALL: [Branch; 4] = [
        Branch::People,
        Branch::Roles,
        Branch::Accounts,
        Branch::Services,
    ];

    pub fn ou(self) -> &'static str {
        match self {
            Branch::People => "people",
            Branch::Roles => "roles",
            Branch::Accounts => "accounts",
            Branch::Services => "services",
        }
    }

    /// The naming attribute of the entries in the branch.
    pub fn naming(self) -> &'static str {
        match self {
            Branch::People => "uid",
            Branch::Roles | Branch::Services => "cn",
            Branch::Accounts => "o",
        }
    }

    fn from_ou(ou: &str) -> Option<Branch> {
        Branch::ALL
            .into_iter()
            .find(|b| b.ou().eq_ignore_ascii_case(ou))
    }
}

/// What a DN names in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Base,
    Branch(Branch),
    /// A record in a branch, by its naming value (userName, role name, account name).
    Record(Branch, String),
    /// Under an unknown branch, or a name a branch does not use: the deepest existing
    /// ancestor is reported as matchedDN.
    Missing {
        matched: Dn,
    },
    /// Below a record, where nothing lives: matchedDN is the record when the caller may read
    /// it (it may not exist), else its branch.
    BelowRecord(Branch, String),
    /// Not under the base DN at all.
    Outside,
}

#[derive(Clone, Debug)]
pub struct Tree {
    base: Dn,
}

impl Tree {
    pub fn new(base: Dn) -> Tree {
        Tree { base }
    }

    pub fn base(&self) -> &Dn {
        &self.base
    }

    pub fn branch_dn(&self, branch: Branch) -> Dn {
        self.base.child(Rdn::new("ou", branch.ou()))
    }

    pub fn record_dn(&self, branch: Branch, name: &str) -> Dn {
        self.branch_dn(branch)
            .child(Rdn::new(branch.naming(), name))
    }

    pub fn resolve(&self, dn: &Dn) -> Target {
        if !dn.is_within(&self.base) {
            return Target::Outside;
        }
        let below = &dn.rdns()[..dn.depth() - self.base.depth()];
        // `rdns()` lists the leaf first, like the string form.
        match below {
            [] => Target::Base,
            [ou] => match ou.get("ou").and_then(Branch::from_ou) {
                Some(b) if ou.avas().len() == 1 => Target::Branch(b),
                _ => Target::Missing {
                    matched: self.base.clone(),
                },
            },
            [leaf, ou] => match ou.get("ou").and_then(Branch::from_ou) {
                Some(b) if ou.avas().len() == 1 => match leaf.get(b.naming()) {
                    Some(v) if leaf.avas().len() == 1 => Target::Record(b, v.to_owned()),
                    _ => Target::Missing {
                        matched: self.branch_dn(b),
                    },
                },
                _ => Target::Missing {
                    matched: self.base.clone(),
                },
            },
            [.., leaf, ou] => match ou.get("ou").and_then(Branch::from_ou) {
                Some(b) if ou.avas().len() == 1 => match leaf.get(b.naming()) {
                    Some(v) if leaf.avas().len() == 1 => Target::BelowRecord(b, v.to_owned()),
                    _ => Target::Missing {
                        matched: self.branch_dn(b),
                    },
                },
                _ => Target::Missing {
                    matched: self.base.clone(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> Dn {
        Dn::parse(s).expect("dn")
    }

    #[test]
    fn resolves_every_level_of_the_tree_in_any_case() {
        let t = Tree::new(dn("dc=example,dc=com"));
        assert_eq!(t.resolve(&dn("DC=Example,dc=COM")), Target::Base);
        assert_eq!(
            t.resolve(&dn("ou=People,dc=example,dc=com")),
            Target::Branch(Branch::People)
        );
        assert_eq!(
            t.resolve(&dn("UID=a\\,b,ou=people,dc=example,dc=com")),
            Target::Record(Branch::People, "a,b".into())
        );
        assert_eq!(
            t.resolve(&dn("cn=x,ou=people,dc=example,dc=com")),
            Target::Missing {
                matched: dn("ou=people,dc=example,dc=com")
            }
        );
        assert_eq!(
            t.resolve(&dn("ou=nowhere,dc=example,dc=com")),
            Target::Missing {
                matched: dn("dc=example,dc=com")
            }
        );
        assert_eq!(
            t.resolve(&dn("cn=x,uid=Ann,ou=people,dc=example,dc=com")),
            Target::BelowRecord(Branch::People, "Ann".into())
        );
        assert_eq!(
            t.resolve(&dn("cn=x,cn=y,ou=people,dc=example,dc=com")),
            Target::Missing {
                matched: dn("ou=people,dc=example,dc=com")
            }
        );
        assert_eq!(t.resolve(&dn("dc=other,dc=com")), Target::Outside);
        assert_eq!(
            t.record_dn(Branch::Accounts, "Acme").normalized(),
            "o=acme,ou=accounts,dc=example,dc=com"
        );
    }
}
