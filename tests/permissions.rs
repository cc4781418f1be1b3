//! The permission engine over a realistic organisation: who sees whom, who may change what.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use rollcall::audit::Source;
use rollcall::model::{
    EntityPermissions, LicenseLimits, LicenseType, PermissionLevel as L, Role, RoleType, User,
    UserId,
};
use rollcall::service::{Actor, NewUser, Plan, Service, ServiceError};

struct Org {
    service: Service,
    ids: BTreeMap<&'static str, UserId>,
    _dir: tempfile::TempDir,
}

const EMPLOYEES: [(&str, Option<&str>); 9] = [
    ("ceo", None),
    ("vp_a", Some("ceo")),
    ("vp_b", Some("ceo")),
    ("mgr_a1", Some("vp_a")),
    ("mgr_a2", Some("vp_a")),
    ("eng1", Some("mgr_a1")),
    ("eng2", Some("mgr_a1")),
    ("eng3", Some("mgr_a2")),
    ("temp", None),
];

fn org() -> Org {
    let (dir, service) = service_with(LicenseLimits::default());
    let mut ids = BTreeMap::new();
    for (name, manager) in EMPLOYEES {
        let mut u = person(name, LicenseType::Employee, true);
        u.manager = manager.map(|m| ids[m]);
        ids.insert(name, create(&service, u).id);
    }
    let parent = account(&service, "Parent Co", true);
    let mut child = rollcall::model::Account::new("Child Co");
    child.parent = Some(parent.id);
    let child = service.create_account(&admin(), child).unwrap();
    let other = account(&service, "Other Co", true);
    for (name, license, acct) in [
        ("p_parent", LicenseType::Partner, parent.id),
        ("c_parent", LicenseType::Customer, parent.id),
        ("p_child", LicenseType::Partner, child.id),
        ("p_other", LicenseType::Partner, other.id),
    ] {
        let mut u = person(name, license, true);
        u.account = Some(acct);
        ids.insert(name, create(&service, u).id);
    }
    Org {
        service,
        ids,
        _dir: dir,
    }
}

impl Org {
    /// Gives `who` a fresh role whose user permissions are `levels` (read, create, edit, delete).
    fn grant(&self, who: &str, role_type: RoleType, levels: [L; 4]) {
        let mut role = Role::new(
            format!("{who}-{}", self.service.roles(&admin()).unwrap().len()),
            Some(role_type),
        );
        role.permissions.user = EntityPermissions {
            read: levels[0],
            create: levels[1],
            edit: levels[2],
            delete: levels[3],
        };
        let role = self.service.create_role(&admin(), role).unwrap();
        self.service
            .add_member(&admin(), role.id, self.ids[who])
            .unwrap();
    }

    fn actor(&self, who: &str) -> Actor {
        Actor::user(self.ids[who], Source::Scim, None)
    }

    fn name_of(&self, id: UserId) -> &'static str {
        self.ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(k, _)| *k)
            .unwrap()
    }

    fn visible(&self, actor: &Actor) -> BTreeSet<&'static str> {
        let mut seen = BTreeSet::new();
        self.service
            .list_users(actor, &Plan::Scan, &mut |u: &User| {
                seen.insert(self.name_of(u.id));
                std::ops::ControlFlow::Continue(())
            })
            .unwrap();
        // Single reads must agree with the list.
        for (name, id) in &self.ids {
            let readable = self.service.user(actor, *id).is_ok();
            assert_eq!(readable, seen.contains(name), "{name}: single read vs list");
        }
        seen
    }
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

#[test]
fn read_levels_give_exactly_the_expected_users() {
    let cases: Vec<(&str, RoleType, L, Vec<&'static str>)> = vec![
        ("eng1", RoleType::Employee, L::Private, vec!["eng1"]),
        (
            "mgr_a1",
            RoleType::Employee,
            L::SubordinatesDirect,
            vec!["mgr_a1", "eng1", "eng2"],
        ),
        (
            "vp_a",
            RoleType::Employee,
            L::SubordinatesDirect,
            vec!["vp_a", "mgr_a1", "mgr_a2"],
        ),
        (
            "vp_a",
            RoleType::Employee,
            L::SubordinatesAll,
            vec!["vp_a", "mgr_a1", "mgr_a2", "eng1", "eng2", "eng3"],
        ),
        (
            "eng1",
            RoleType::Employee,
            L::Team,
            vec!["eng1", "mgr_a1", "eng2"],
        ),
        (
            "mgr_a1",
            RoleType::Employee,
            L::Team,
            vec!["mgr_a1", "vp_a", "mgr_a2"],
        ),
        (
            "mgr_a1",
            RoleType::Employee,
            L::TeamSubordinatesDirect,
            vec!["mgr_a1", "vp_a", "mgr_a2", "eng1", "eng2"],
        ),
        (
            "vp_a",
            RoleType::Employee,
            L::TeamSubordinatesAll,
            vec![
                "vp_a", "ceo", "vp_b", "mgr_a1", "mgr_a2", "eng1", "eng2", "eng3",
            ],
        ),
        ("temp", RoleType::Employee, L::Team, vec!["temp"]),
        (
            "eng3",
            RoleType::Employee,
            L::AllEmployees,
            EMPLOYEES.iter().map(|(n, _)| *n).collect(),
        ),
        (
            "p_parent",
            RoleType::Partner,
            L::Account,
            vec!["p_parent", "c_parent"],
        ),
        (
            "p_parent",
            RoleType::Partner,
            L::AccountHierarchy,
            vec!["p_parent", "c_parent", "p_child"],
        ),
        (
            "p_child",
            RoleType::Partner,
            L::AccountHierarchy,
            vec!["p_child"],
        ),
        ("c_parent", RoleType::Customer, L::Private, vec!["c_parent"]),
        ("eng2", RoleType::Employee, L::None, vec![]),
    ];
    for (who, role_type, level, expected) in cases {
        let org = org();
        org.grant(who, role_type, [level, L::None, L::None, L::None]);
        let expected: BTreeSet<_> = expected.into_iter().collect();
        assert_eq!(org.visible(&org.actor(who)), expected, "{who} with {level}");
    }
}

#[test]
fn several_roles_add_up_and_administrators_see_everyone() {
    let org = org();
    org.grant(
        "eng1",
        RoleType::Employee,
        [L::Private, L::None, L::None, L::None],
    );
    org.grant(
        "eng1",
        RoleType::Employee,
        [L::SubordinatesAll, L::None, L::None, L::None],
    );
    org.grant(
        "eng1",
        RoleType::Employee,
        [L::Team, L::None, L::None, L::None],
    );
    assert_eq!(
        org.visible(&org.actor("eng1")),
        set(&["eng1", "mgr_a1", "eng2"])
    );

    let mut admins = Role::new("Admins", Some(RoleType::Employee));
    admins.administrator = true;
    let admins = org.service.create_role(&admin(), admins).unwrap();
    org.service
        .add_member(&admin(), admins.id, org.ids["vp_b"])
        .unwrap();
    assert_eq!(org.visible(&org.actor("vp_b")).len(), org.ids.len());
}

#[test]
fn anonymous_sees_nothing_until_a_guest_role_grants_it() {
    let org = org();
    let anonymous = Actor::anonymous(Source::Ldap, None);
    assert!(org.visible(&anonymous).is_empty());
    let mut guest = Role::new("Public", Some(RoleType::Guest));
    guest.permissions.user.read = L::All;
    org.service.create_role(&admin(), guest).unwrap();
    assert_eq!(org.visible(&anonymous).len(), org.ids.len());
}

#[test]
fn writes_need_the_matching_level() {
    let org = org();
    org.grant(
        "eng1",
        RoleType::Employee,
        [L::Team, L::None, L::Private, L::None],
    );
    let eng1 = org.actor("eng1");
    org.service
        .update_user(&eng1, org.ids["eng1"], None, |u| {
            u.title = Some("Engineer".into());
            Ok(())
        })
        .unwrap();
    let err = org
        .service
        .update_user(&eng1, org.ids["eng2"], None, |u| {
            u.title = Some("Intern".into());
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    assert!(matches!(
        org.service.anonymise_user(&eng1, org.ids["eng2"], None),
        Err(ServiceError::Forbidden(_))
    ));
    // Out of read scope reads as missing, not forbidden.
    assert!(matches!(
        org.service.user(&eng1, org.ids["ceo"]),
        Err(ServiceError::NotFound { .. })
    ));

    // A partner who may create users in its account cannot create them elsewhere.
    org.grant(
        "p_parent",
        RoleType::Partner,
        [L::Account, L::Account, L::Account, L::None],
    );
    let partner = org.actor("p_parent");
    let parent_co = org.service.account_by_name(&admin(), "Parent Co").unwrap();
    let other_co = org.service.account_by_name(&admin(), "Other Co").unwrap();
    let mut mine = person("p_new", LicenseType::Partner, false);
    mine.account = Some(parent_co.id);
    org.service
        .create_user(
            &partner,
            NewUser {
                user: mine,
                password: None,
            },
        )
        .unwrap();
    let mut theirs = person("p_intruder", LicenseType::Partner, false);
    theirs.account = Some(other_co.id);
    assert!(matches!(
        org.service.create_user(
            &partner,
            NewUser {
                user: theirs,
                password: None
            }
        ),
        Err(ServiceError::Forbidden(_))
    ));
    // Nor move one of its users into another account.
    let err = org
        .service
        .update_user(&partner, org.ids["c_parent"], None, |u| {
            u.account = Some(other_co.id);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
}

#[test]
fn limited_administrators_cannot_escalate() {
    let org = org();
    let mut admins = Role::new("Admins", Some(RoleType::Employee));
    admins.administrator = true;
    let admins = org.service.create_role(&admin(), admins).unwrap();
    org.service
        .add_member(&admin(), admins.id, org.ids["ceo"])
        .unwrap();

    let mut hr = Role::new("HR", Some(RoleType::Employee));
    hr.permissions.user = EntityPermissions {
        read: L::AllEmployees,
        create: L::AllEmployees,
        edit: L::AllEmployees,
        delete: L::None,
    };
    hr.permissions.role = EntityPermissions {
        read: L::All,
        create: L::None,
        edit: L::All,
        delete: L::None,
    };
    let hr = org.service.create_role(&admin(), hr).unwrap();
    org.service
        .add_member(&admin(), hr.id, org.ids["vp_b"])
        .unwrap();
    let vp_b = org.actor("vp_b");

    // Can do the job: edit an ordinary employee, add them to HR-or-lesser roles.
    org.service
        .update_user(&vp_b, org.ids["eng3"], None, |u| {
            u.department = Some("R&D".into());
            Ok(())
        })
        .unwrap();
    let mut readers = Role::new("Readers", Some(RoleType::Employee));
    readers.permissions.user.read = L::AllEmployees;
    let readers = org.service.create_role(&admin(), readers).unwrap();
    org.service
        .add_member(&vp_b, readers.id, org.ids["eng3"])
        .unwrap();

    // Cannot make anyone (themselves included) an administrator.
    for who in ["vp_b", "eng3"] {
        let err = org
            .service
            .add_member(&vp_b, admins.id, org.ids[who])
            .unwrap_err();
        assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    }
    // Cannot grant a role holding more than they hold.
    let mut deleters = Role::new("Deleters", Some(RoleType::Employee));
    deleters.permissions.user.delete = L::All;
    let deleters = org.service.create_role(&admin(), deleters).unwrap();
    assert!(matches!(
        org.service.add_member(&vp_b, deleters.id, org.ids["eng3"]),
        Err(ServiceError::Forbidden(_))
    ));
    // Cannot edit an administrator.
    let err = org
        .service
        .update_user(&vp_b, org.ids["ceo"], None, |u| {
            u.title = Some("ex-CEO".into());
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    // Cannot change role permissions, their own role's included.
    let mut wider = hr.clone();
    wider.permissions.user.delete = L::All;
    assert!(matches!(
        org.service.replace_role(&vp_b, hr.id, wider, None),
        Err(ServiceError::Forbidden(_))
    ));
    let mut renamed = readers.clone();
    renamed.name = "Employee Readers".into();
    org.service
        .replace_role(&vp_b, readers.id, renamed, None)
        .unwrap();

    let ceo = org.service.user(&admin(), org.ids["ceo"]).unwrap();
    assert_eq!(ceo.title, None);
    assert_eq!(
        org.service.role_members(&admin(), admins.id).unwrap(),
        vec![org.ids["ceo"]]
    );
}

#[test]
fn manager_cycles_are_refused_on_write_and_never_loop_on_read() {
    let org = org();
    let err = org
        .service
        .update_user(&admin(), org.ids["ceo"], None, |u| {
            u.manager = Some(org.ids["eng1"]);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::ManagerCycle(_)), "{err}");
    org.grant(
        "ceo",
        RoleType::Employee,
        [L::TeamSubordinatesAll, L::None, L::None, L::None],
    );
    assert_eq!(
        org.visible(&org.actor("ceo")).len(),
        8,
        "everyone under the CEO, not temp or externals"
    );
}

/// Seed 002: users edit their own record except their userName, emails, teams, roles and
/// whether they are active; a partner may not move itself into another company's account.
#[test]
fn users_cannot_change_their_own_protected_fields() {
    let org = org();
    org.grant(
        "eng1",
        RoleType::Employee,
        [L::Private, L::None, L::Private, L::None],
    );
    let eng1 = org.actor("eng1");
    let me = org.ids["eng1"];
    org.service
        .update_user(&eng1, me, None, |u| {
            u.title = Some("Staff Engineer".into());
            u.display_name = Some("Eng One".into());
            Ok(())
        })
        .unwrap();
    type Change = fn(&mut User);
    let changes: [(&str, Change); 4] = [
        ("userName", |u| u.user_name = "eng1-renamed".into()),
        ("active", |u| u.active = false),
        ("manager", |u| u.manager = None),
        ("emails", |u| {
            u.emails = vec![rollcall::model::MultiValue {
                value: "me@elsewhere.example".into(),
                kind: Some("work".into()),
                primary: true,
                display: None,
            }]
        }),
    ];
    for (field, change) in changes {
        let err = org
            .service
            .update_user(&eng1, me, None, |u| {
                change(u);
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Forbidden(why) if why.contains(field)),
            "{field}: {err}"
        );
    }
    let mine = org.service.user(&admin(), me).unwrap();
    assert_eq!(
        (mine.user_name.as_str(), mine.active, mine.manager.is_some()),
        ("eng1", true, true)
    );
    assert_eq!(mine.title.as_deref(), Some("Staff Engineer"));
    // An administrator may.
    org.service
        .update_user(&admin(), me, None, |u| {
            u.user_name = "eng1-renamed".into();
            Ok(())
        })
        .unwrap();

    // A partner that may edit its account's users may not move itself to another account.
    org.grant(
        "p_parent",
        RoleType::Partner,
        [L::Account, L::None, L::Account, L::None],
    );
    let other_co = org.service.account_by_name(&admin(), "Other Co").unwrap();
    let err = org
        .service
        .update_user(&org.actor("p_parent"), org.ids["p_parent"], None, |u| {
            u.account = Some(other_co.id);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    assert!(!org.visible(&org.actor("p_parent")).contains("p_other"));
}

/// DESIGN §2: Delete on Role and Account is a permission like the others; roles that grant
/// anything, and whether an account is licensed (its partner seats), are the administrators'.
#[test]
fn deleting_roles_and_accounts_and_licensing_accounts_need_the_rights() {
    let org = org();
    let plain = org
        .service
        .create_role(&admin(), Role::new("Lunch Club", None))
        .unwrap();
    let mut editors = Role::new("Editors", Some(RoleType::Employee));
    editors.permissions.user.edit = L::All;
    let editors = org.service.create_role(&admin(), editors).unwrap();

    // Reading every role is not deleting one.
    let mut readers = Role::new("Role Readers", Some(RoleType::Employee));
    readers.permissions.role.read = L::All;
    readers.permissions.account.read = L::All;
    let readers = org.service.create_role(&admin(), readers).unwrap();
    org.service
        .add_member(&admin(), readers.id, org.ids["eng2"])
        .unwrap();
    let eng2 = org.actor("eng2");
    for id in [plain.id, editors.id, readers.id] {
        let err = org.service.delete_role(&eng2, id, None).unwrap_err();
        assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    }
    let empty = account(&org.service, "Empty Co", false);
    let err = org
        .service
        .delete_account(&eng2, empty.id, None)
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");

    // Delete on roles and accounts: plain groups and accounts go, roles that grant do not.
    let mut deleters = Role::new("Deleters", Some(RoleType::Employee));
    deleters.permissions.role = rollcall::model::EntityPermissions {
        read: L::All,
        create: L::None,
        edit: L::None,
        delete: L::All,
    };
    deleters.permissions.account.read = L::All;
    deleters.permissions.account.delete = L::All;
    let deleters = org.service.create_role(&admin(), deleters).unwrap();
    org.service
        .add_member(&admin(), deleters.id, org.ids["eng3"])
        .unwrap();
    let eng3 = org.actor("eng3");
    org.service.delete_role(&eng3, plain.id, None).unwrap();
    let err = org
        .service
        .delete_role(&eng3, editors.id, None)
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("only administrators")),
        "{err}"
    );
    org.service.delete_account(&eng3, empty.id, None).unwrap();
    org.service.delete_role(&admin(), editors.id, None).unwrap();

    // A partner that may edit its own account may not license it, nor move it under another.
    let mut acct = rollcall::model::Role::new("Account Editors", Some(RoleType::Partner));
    acct.permissions.account.read = L::AccountHierarchy;
    acct.permissions.account.edit = L::AccountHierarchy;
    acct.permissions.account.create = L::AccountHierarchy;
    let acct = org.service.create_role(&admin(), acct).unwrap();
    org.service
        .add_member(&admin(), acct.id, org.ids["p_parent"])
        .unwrap();
    let partner = org.actor("p_parent");
    let parent_co = org.service.account_by_name(&admin(), "Parent Co").unwrap();
    let child_co = org.service.account_by_name(&admin(), "Child Co").unwrap();
    let other_co = org.service.account_by_name(&admin(), "Other Co").unwrap();
    let mut licensed = child_co.clone();
    licensed.licensed = true;
    let err = org
        .service
        .replace_account(&partner, child_co.id, licensed, None)
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("licensed")),
        "{err}"
    );
    let mut moved = child_co.clone();
    moved.parent = Some(other_co.id);
    let err = org
        .service
        .replace_account(&partner, child_co.id, moved, None)
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    let mut new_child = rollcall::model::Account::new("Licensed Child");
    new_child.parent = Some(parent_co.id);
    new_child.licensed = true;
    let err = org
        .service
        .create_account(&partner, new_child.clone())
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    // What the role does allow still works: renaming, an unlicensed child.
    let mut renamed = child_co.clone();
    renamed.name = "Child Company".into();
    org.service
        .replace_account(&partner, child_co.id, renamed, None)
        .unwrap();
    new_child.licensed = false;
    org.service.create_account(&partner, new_child).unwrap();
    assert!(!org.service.account(&admin(), child_co.id).unwrap().licensed);
}

/// Without an active administrator nobody could grant the role again over any interface: the
/// last one cannot be deactivated, anonymised or removed, nor its role deleted or unflagged.
#[test]
fn the_last_active_administrator_stays() {
    let org = org();
    let mut admins = Role::new("Admins", Some(RoleType::Employee));
    admins.administrator = true;
    let admins = org.service.create_role(&admin(), admins).unwrap();
    let (ceo, vp_a) = (org.ids["ceo"], org.ids["vp_a"]);
    org.service.add_member(&admin(), admins.id, ceo).unwrap();
    let last = |r: Result<(), ServiceError>| {
        let err = r.unwrap_err();
        assert!(matches!(err, ServiceError::LastAdministrator(_)), "{err}");
    };
    last(org.service.set_active(&admin(), ceo, false, None).map(drop));
    last(org.service.anonymise_user(&admin(), ceo, None));
    last(org.service.remove_member(&admin(), admins.id, ceo));
    last(org.service.delete_role(&admin(), admins.id, None));
    let mut unflagged = org.service.role(&admin(), admins.id).unwrap();
    unflagged.administrator = false;
    last(
        org.service
            .replace_role(&admin(), admins.id, unflagged, None)
            .map(drop),
    );
    let still = org.service.user(&admin(), ceo).unwrap();
    assert!(still.active && still.roles.contains(&admins.id));

    // With a second administrator, either may go, but not both.
    org.service.add_member(&admin(), admins.id, vp_a).unwrap();
    org.service.set_active(&admin(), ceo, false, None).unwrap();
    last(org.service.remove_member(&admin(), admins.id, vp_a));
    // An inactive holder does not count; everyone else is unaffected.
    org.service.set_active(&admin(), ceo, true, None).unwrap();
    org.service
        .remove_member(&admin(), admins.id, vp_a)
        .unwrap();
    org.service
        .set_active(&admin(), org.ids["eng1"], false, None)
        .unwrap();
}
