//! The permission engine over a realistic organisation: who sees whom, who may change what.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use rollcall::audit::Source;
use rollcall::model::{
    EntityPermissions, LicenseLimits, LicenseType, PermissionLevel as L, Role, RoleType, User,
    UserId,
};
use rollcall::service::{Actor, NewUser, Plan, Service, ServiceError, SessionUse};

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
    // Nor rename one that grants anything: applications grant by name, and a plain group
    // could then take the name (`memberOf=cn=Readers,…`). A plain group is theirs to rename.
    let mut renamed = readers.clone();
    renamed.name = "Employee Readers".into();
    let err = org
        .service
        .replace_role(&vp_b, readers.id, renamed, None)
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("rename")),
        "{err}"
    );
    let lunch = org
        .service
        .create_role(&admin(), Role::new("Lunch", None))
        .unwrap();
    let mut renamed = lunch.clone();
    renamed.name = "Lunch Club".into();
    org.service
        .replace_role(&vp_b, lunch.id, renamed, None)
        .unwrap();
    // Nor grant API access, which only administrators hand out, though it gives no level.
    let mut api = Role::new("API users", Some(RoleType::Employee));
    api.settings.api_access = true;
    let api = org.service.create_role(&admin(), api).unwrap();
    let err = org
        .service
        .add_member(&vp_b, api.id, org.ids["eng3"])
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("API access")),
        "{err}"
    );

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
/// Nor what the identity provider grants them (entitlements, SCIM roles, certificates).
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
    fn idp_value() -> Vec<rollcall::model::MultiValue> {
        vec![rollcall::model::MultiValue {
            value: "Admin".into(),
            ..Default::default()
        }]
    }
    let changes: [(&str, Change); 8] = [
        ("userName", |u| u.user_name = "eng1-renamed".into()),
        ("externalId", |u| {
            u.external_id = Some("someone-elses".into())
        }),
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
        // What the identity provider grants: not the user's to give itself.
        ("entitlements", |u| u.entitlements = idp_value()),
        ("SCIM roles", |u| u.scim_roles = idp_value()),
        ("x509Certificates", |u| u.x509_certificates = idp_value()),
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
    // Nor anonymise themselves, even with Delete on their own record: that is final.
    org.grant(
        "eng1",
        RoleType::Employee,
        [L::Private, L::None, L::Private, L::Private],
    );
    let err = org
        .service
        .anonymise_user(&org.actor("eng1"), me, None)
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("cannot anonymise itself")),
        "{err}"
    );
    assert_eq!(org.service.user(&admin(), me).unwrap().user_name, "eng1");
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

    // Nor change their own roles through the role: leaving a role that requires MFA would
    // drop the requirement, joining one would take its rights.
    let mut leads = Role::new("Leads", Some(RoleType::Employee));
    leads.permissions.role = EntityPermissions::uniform(L::All);
    leads.permissions.user = EntityPermissions {
        read: L::Private,
        create: L::None,
        edit: L::Private,
        delete: L::None,
    };
    leads.settings.mfa_required = true;
    let leads = org.service.create_role(&admin(), leads).unwrap();
    let lunch = org
        .service
        .create_role(&admin(), Role::new("Lunch", None))
        .unwrap();
    let eng2 = org.ids["eng2"];
    org.service.add_member(&admin(), leads.id, eng2).unwrap();
    let as_eng2 = org.actor("eng2");
    for err in [
        org.service.remove_member(&as_eng2, leads.id, eng2),
        org.service.add_member(&as_eng2, lunch.id, eng2),
    ] {
        let err = err.unwrap_err();
        assert!(
            matches!(&err, ServiceError::Forbidden(why) if why.contains("own roles")),
            "{err}"
        );
    }
    assert_eq!(
        org.service.user(&admin(), eng2).unwrap().roles,
        vec![leads.id]
    );
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
    // Another company's account is, to the partner, no account at all.
    let mut moved = child_co.clone();
    moved.parent = Some(other_co.id);
    let err = org
        .service
        .replace_account(&partner, child_co.id, moved, None)
        .unwrap_err();
    assert!(matches!(err, ServiceError::UnknownAccount(_)), "{err}");
    // Nor take it from under its parent: a top-level account is out of every role's reach
    // that went through the parent, and only those who create top-level accounts make one.
    let mut detached = child_co.clone();
    detached.parent = None;
    let err = org
        .service
        .replace_account(&partner, child_co.id, detached, None)
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("top-level")),
        "{err}"
    );
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

const PW: &str = "Str0ng-Pass-123!";

fn role(service: &Service, name: &str, role_type: RoleType, shape: impl Fn(&mut Role)) -> Role {
    let mut role = Role::new(name, Some(role_type));
    shape(&mut role);
    service.create_role(&admin(), role).unwrap()
}

/// Account "Acme" and "pam", a partner in it whose role reaches the account's users for every
/// action (and nobody else).
fn partner_administrator(s: &Service) -> (rollcall::model::Account, UserId) {
    let acme = account(s, "Acme", false);
    let partner_admin = role(s, "Partner admin", RoleType::Partner, |r| {
        r.permissions.user = EntityPermissions::uniform(L::Account);
    });
    let mut pam = person("pam", LicenseType::Partner, true);
    pam.account = Some(acme.id);
    pam.roles = vec![partner_admin.id];
    (acme, create(s, pam).id)
}

fn rest_login() -> rollcall::service::LoginSource {
    rollcall::service::LoginSource {
        source: Source::Rest,
        client: None,
        expects: rollcall::service::Expected::Anyone,
    }
}

/// Whoever could set a user's password could sign in with that user's roles: a limited
/// administrator (Edit on all employees) may not change the provisioning service account, nor
/// anyone holding a role it could not grant, while it still changes ordinary employees.
#[test]
fn nobody_gains_a_role_by_changing_someone_who_holds_it() {
    let (_d, s) = service_with(LicenseLimits::default());
    let provisioning = role(&s, "Provisioning", RoleType::Employee, |r| {
        r.permissions.user = EntityPermissions::uniform(L::All);
        r.permissions.role = EntityPermissions::uniform(L::All);
        r.settings.api_access = true;
    });
    let mut api = User::new("provisioning");
    api.kind = rollcall::model::PrincipalKind::Api;
    api.active = true;
    api.roles = vec![provisioning.id];
    let api = create(&s, api);
    let helpdesk = role(&s, "Helpdesk", RoleType::Employee, |r| {
        r.permissions.user = EntityPermissions {
            read: L::AllEmployees,
            create: L::None,
            edit: L::AllEmployees,
            delete: L::None,
        };
    });
    let mut ivy = person("ivy", LicenseType::Employee, true);
    ivy.roles = vec![helpdesk.id];
    let ivy = create_with(&s, ivy, Some(PW));
    let ivy = Actor::user(ivy.id, Source::Ldap, None);
    let err = s
        .set_password(&ivy, api.id, "Taken-Over-Pass-9")
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("service accounts")),
        "{err}"
    );
    // A person holding the role is as far out of the helpdesk's reach.
    let mut pia = person("pia", LicenseType::Employee, true);
    pia.roles = vec![provisioning.id];
    let pia = create_with(&s, pia, Some(PW));
    let err = s
        .set_password(&ivy, pia.id, "Taken-Over-Pass-9")
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("holds role \"Provisioning\"")),
        "{err}"
    );
    assert!(
        s.open_session(
            "provisioning",
            "Taken-Over-Pass-9",
            None,
            rest_login(),
            None
        )
        .is_err()
    );
    let err = s
        .update_user(&ivy, api.id, None, |u| {
            u.display_name = Some("mine now".into());
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    let plain = create_with(&s, person("plain", LicenseType::Employee, true), Some(PW));
    s.set_password(&ivy, plain.id, "Reset-By-Helpdesk-1")
        .expect("an ordinary employee is the helpdesk's to reset");
}

/// An account's people are its partners and customers: a customer administrator cannot create
/// an employee (an employee seat, seen by every all-employees role) in its account, nor move
/// one of its customers into an employee seat.
#[test]
fn account_levels_reach_partners_and_customers_only() {
    let (_d, s) = service_with(LicenseLimits::default());
    let cust_co = account(&s, "Cust Co", false);
    let cust_admin = role(&s, "Cust admin", RoleType::Customer, |r| {
        r.permissions.user = EntityPermissions::uniform(L::Account);
    });
    let mut carl = person("carl", LicenseType::Customer, true);
    carl.account = Some(cust_co.id);
    carl.roles = vec![cust_admin.id];
    let carl = Actor::user(create(&s, carl).id, Source::Scim, None);
    let mut minted = person("minted", LicenseType::Employee, true);
    minted.account = Some(cust_co.id);
    let err = s
        .create_user(
            &carl,
            NewUser {
                user: minted,
                password: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    let mut colleague = person("cora", LicenseType::Customer, true);
    colleague.account = Some(cust_co.id);
    let cora = s
        .create_user(
            &carl,
            NewUser {
                user: colleague,
                password: None,
            },
        )
        .expect("a customer of its own account");
    let err = s
        .update_user(&carl, cora.id, None, |u| {
            u.license = LicenseType::Employee;
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Forbidden(why) if why.contains("out of its reach")),
        "{err}"
    );
    let mut employee = person("emma", LicenseType::Employee, true);
    employee.account = Some(cust_co.id);
    let emma = create(&s, employee);
    assert!(matches!(
        s.user(&carl, emma.id),
        Err(ServiceError::NotFound { .. })
    ));
}

/// A user the actor cannot read is not there, to it: changing, removing, unlocking or mailing
/// it by id answers as for a missing id, never naming it.
#[test]
fn writes_to_users_out_of_sight_answer_as_for_missing_ones() {
    let (_d, s) = service_with(LicenseLimits::default());
    let own = role(&s, "Own record", RoleType::Employee, |r| {
        r.permissions.user = EntityPermissions::uniform(L::Private);
    });
    let mut me = person("me", LicenseType::Employee, true);
    me.roles = vec![own.id];
    let me = Actor::user(create(&s, me).id, Source::Scim, None);
    let secret = create(&s, person("secret.ceo", LicenseType::Employee, true));
    let missing = UserId::new();
    for id in [secret.id, missing] {
        let answers = [
            s.anonymise_user(&me, id, None).unwrap_err(),
            s.unlock_user(&me, id).unwrap_err(),
            s.send_password_link(&me, id).unwrap_err(),
            s.remove_totp(&me, Some(id), None).unwrap_err(),
            s.set_password(&me, id, "Whatever-Pass-123").unwrap_err(),
        ];
        for err in answers {
            assert!(matches!(err, ServiceError::NotFound { .. }), "{err}");
            assert!(!err.to_string().contains("secret.ceo"), "{err}");
        }
    }
    // Nor is one a manager to name: the answer is as for a missing id, and nothing is made.
    let (acme, pam_id) = partner_administrator(&s);
    let pam = Actor::user(pam_id, Source::Scim, None);
    for manager in [secret.id, missing] {
        let mut report = person("report", LicenseType::Partner, false);
        report.account = Some(acme.id);
        report.manager = Some(manager);
        let err = s
            .create_user(
                &pam,
                NewUser {
                    user: report,
                    password: None,
                },
            )
            .unwrap_err();
        assert!(matches!(err, ServiceError::UnknownManager(_)), "{err}");
        let err = s
            .update_user(&pam, pam_id, None, |u| {
                u.title = Some("lead".into());
                u.manager = Some(manager);
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::UnknownManager(_) | ServiceError::Forbidden(_)
            ),
            "{err}"
        );
    }
    assert!(s.user_by_name(&admin(), "report").is_err());
    let mut colleague = person("colleague", LicenseType::Partner, false);
    colleague.account = Some(acme.id);
    let colleague = s
        .create_user(
            &pam,
            NewUser {
                user: colleague,
                password: None,
            },
        )
        .unwrap();
    let err = s
        .update_user(&pam, colleague.id, None, |u| {
            u.manager = Some(secret.id);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, ServiceError::UnknownManager(_)), "{err}");
    s.update_user(&pam, colleague.id, None, |u| {
        u.manager = Some(pam_id);
        Ok(())
    })
    .expect("a manager it sees");
}

/// A user's own password is changed with the current one, under the self-service rules, by
/// every path: not reset through Edit on itself, nor from an act-as session, nor by storing a
/// hash. An act-as session ends when its administrator stops being one.
#[test]
fn own_passwords_change_only_with_the_current_one_and_act_as_ends_with_the_admin() {
    let policy = rollcall::password::policy::PasswordPolicy {
        users_may_change: false,
        ..Default::default()
    };
    let (_d, s) = service_with_password_policy(policy);
    let self_edit = role(&s, "Self edit", RoleType::Employee, |r| {
        r.permissions.user = EntityPermissions {
            read: L::Private,
            create: L::None,
            edit: L::Private,
            delete: L::None,
        };
        r.settings.api_access = true;
    });
    let mut tom = person("tom", LicenseType::Employee, true);
    tom.roles = vec![self_edit.id];
    let tom = create_with(&s, tom, Some(PW));
    let as_tom = Actor::user(tom.id, Source::Ldap, None);
    for err in [
        s.set_password(&as_tom, tom.id, "Another-Pass-77!")
            .unwrap_err(),
        s.import_password_hash(&as_tom, tom.id, "{SSHA}e72qgUSDYWCCWRQtZLMaFLJU38hzYWx0")
            .unwrap_err(),
        s.change_own_password(&as_tom, PW, "Another-Pass-77!")
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                ServiceError::Forbidden(_) | ServiceError::PasswordPolicy(_)
            ),
            "{err}"
        );
    }
    assert!(
        s.login(
            "tom",
            PW,
            rollcall::service::SecondFactor::Appended,
            rest_login()
        )
        .is_ok()
    );

    let admins = role(&s, "Admins", RoleType::Employee, |r| r.administrator = true);
    let mut spare = person("spare", LicenseType::Employee, true);
    spare.roles = vec![admins.id];
    create_with(&s, spare, Some(PW));
    let mut boss = person("boss", LicenseType::Employee, true);
    boss.roles = vec![admins.id];
    let boss = create_with(&s, boss, Some(PW));
    let session = s
        .open_session("boss", PW, None, rest_login(), None)
        .unwrap();
    let as_boss = s
        .session_actor(&session.token, SessionUse::Api, Source::Rest, None)
        .unwrap();
    let acting = s.act_as(&as_boss, PW, "tom", None).unwrap();
    let acting_actor = s
        .session_actor(&acting.token, SessionUse::Api, Source::Scim, None)
        .unwrap();
    let err = s
        .set_password(&acting_actor, tom.id, "Another-Pass-77!")
        .unwrap_err();
    assert!(matches!(err, ServiceError::Forbidden(_)), "{err}");
    s.remove_member(&admin(), admins.id, boss.id).unwrap();
    assert!(
        s.session_actor(&acting.token, SessionUse::Api, Source::Scim, None)
            .is_err(),
        "an act-as session ends when its administrator is one no more"
    );
}

/// A SCIM PUT of a Group's members by someone who sees only some of them changes only those:
/// the ones it cannot see were never in the list it was shown, so they stay.
#[test]
fn a_group_put_leaves_members_out_of_sight_alone() {
    let (_d, s) = service_with(LicenseLimits::default());
    let staff = role(&s, "Staff", RoleType::Employee, |r| {
        r.permissions.user = EntityPermissions {
            read: L::Team,
            create: L::None,
            edit: L::Team,
            delete: L::None,
        };
        r.permissions.role = EntityPermissions {
            read: L::Private,
            create: L::None,
            edit: L::Private,
            delete: L::None,
        };
    });
    let boss = create(&s, person("boss", LicenseType::Employee, true));
    let mut lead = person("lead", LicenseType::Employee, true);
    lead.manager = Some(boss.id);
    lead.roles = vec![staff.id];
    let lead = create(&s, lead);
    let mut peer = person("peer", LicenseType::Employee, true);
    peer.manager = Some(boss.id);
    let peer = create(&s, peer);
    let mut hidden = person("hidden.exec", LicenseType::Employee, true);
    hidden.roles = vec![staff.id];
    let hidden = create(&s, hidden);
    let as_lead = Actor::user(lead.id, Source::Scim, None);
    let mut wanted = s.role_members(&as_lead, staff.id).unwrap();
    assert!(!wanted.contains(&hidden.id));
    wanted.push(peer.id);
    s.set_members(&as_lead, staff.id, &wanted, None)
        .expect("the members it sees, and one more");
    let members = s.role_members(&admin(), staff.id).unwrap();
    for id in [lead.id, peer.id, hidden.id] {
        assert!(members.contains(&id), "{members:?}");
    }
}

/// Service accounts take no license seat, so a role that manages the people of an account
/// must not mint them: logins past the license limit. They are the administrators' (seed 002:
/// API users are managed under Administration), to create, change or remove.
#[test]
fn only_administrators_manage_service_accounts() {
    use rollcall::model::PrincipalKind;
    let (_d, s) = service_with(LicenseLimits::default());
    let (acme, pam) = partner_administrator(&s);
    let pam = Actor::user(pam, Source::Scim, None);
    for kind in [PrincipalKind::Api, PrincipalKind::Bind] {
        let mut service = person(&format!("svc-{kind}"), LicenseType::Partner, true);
        service.kind = kind;
        service.account = Some(acme.id);
        let err = s
            .create_user(
                &pam,
                NewUser {
                    user: service.clone(),
                    password: Some("Service-Pass-123".into()),
                },
            )
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Forbidden(why) if why.contains("service accounts")),
            "{err}"
        );
        // One an administrator made in the account is not the partner's to change either.
        let made = create(&s, service);
        let err = s
            .update_user(&pam, made.id, None, |u| {
                u.title = Some("renamed".into());
                Ok(())
            })
            .unwrap_err();
        assert!(
            matches!(&err, ServiceError::Forbidden(why) if why.contains("service accounts")),
            "{err}"
        );
        assert!(s.anonymise_user(&pam, made.id, None).is_err());
        assert_eq!(s.user(&pam, made.id).unwrap().title, None, "still readable");
    }
    // People of the account are still the partner's to make.
    let mut colleague = person("paula", LicenseType::Partner, false);
    colleague.account = Some(acme.id);
    s.create_user(
        &pam,
        NewUser {
            user: colleague,
            password: None,
        },
    )
    .expect("a person in its own account");
}
