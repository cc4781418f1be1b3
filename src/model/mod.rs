//! The directory's domain: who is in it (users, service accounts), how they are grouped (roles,
//! accounts) and what they may consume (licenses). Plain data: the rules that keep it consistent
//! live in [`crate::service`].

mod account;
mod custom;
mod id;
mod license;
mod network;
mod permission;
mod role;
mod user;

pub use account::Account;
pub use custom::{CustomAttribute, CustomAttributes, CustomType};
pub use id::{AccountId, RoleId, UserId};
pub use license::{LicenseLimits, LicenseType, LicenseUsage, PartnerModel};
pub use network::Network;
pub use permission::{
    Action, Entity, EntityPermissions, PermissionGrant, PermissionLevel, Permissions,
};
pub use role::{EffectiveSettings, Role, RoleSettings, RoleType};
pub use user::{Address, MultiValue, Name, PrincipalKind, User};

/// Case-folds a name for uniqueness and lookups. userName, role and account names are unique
/// regardless of case (as in LDAP's caseIgnoreMatch and SCIM's `caseExact: false`), so every index
/// key goes through this one function. Compatibility forms are folded too (NFKC, as PRECIS's
/// UsernameCaseMapped profile does, RFC 8265): a fullwidth `Ａlice` or a decomposed `a\u{301}`
/// is the same name as `Alice` and `á`, so nobody registers a look-alike of someone else.
pub fn fold(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let lower = name.trim().to_lowercase();
    if lower.is_ascii() {
        lower
    } else {
        lower.nfkc().collect()
    }
}

/// The index key of a value that SCIM compares as `caseExact: false` ([`fold`] of it, spaces
/// around it ignored) and LDAP as `caseIgnoreMatch` (white space inside collapsed, each
/// character lower-cased on its own): one key for every value either protocol calls equal to
/// another, so that a lookup by it is a superset of both protocols' matches. Hence the runs
/// of white space made one space, and a final sigma (`ς`, which only the whole-string lower
/// case makes) made `σ`, which is what LDAP's lower case makes of every `Σ`.
pub fn fold_words(value: &str) -> String {
    let folded = fold(value);
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| if c == 'ς' { 'σ' } else { c }));
    }
    out
}

/// What [`fold`] was before it folded compatibility forms (store format 2 and earlier): index
/// keys written then are found by it, to be re-keyed on upgrade.
pub fn fold_before_nfkc(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Whether `name` can name a role or an account: some text, none of it control characters or
/// characters that show as nothing.
pub fn is_visible_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_control() || is_invisible(c))
}

/// Characters that show as nothing (Unicode format characters: zero-width spaces and joiners,
/// direction marks and overrides, the BOM, invisible operators, tags): in a name they make a
/// look-alike of another name that no one can tell apart.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

#[cfg(test)]
mod tests {
    use super::fold_words;

    #[test]
    fn fold_words_makes_one_key_of_what_either_protocol_calls_equal() {
        // SCIM: case and compatibility forms, spaces around. LDAP: also spaces inside.
        for (a, b) in [
            ("E-42", "e-42"),
            ("  e-42 ", "E-42"),
            ("E 42", "e   42"),
            ("E\t42", "e 42"),
            ("\u{FF25}-42", "e-42"),
            ("e\u{3000}42", "E 42"),
            ("ΑΣ", "ασ"),
            ("ΑΣ", "ας"),
        ] {
            assert_eq!(fold_words(a), fold_words(b), "{a:?} and {b:?}");
        }
        assert_ne!(fold_words("e-42"), fold_words("e-43"));
        assert_ne!(fold_words("e42"), fold_words("e 42"));
    }
}
