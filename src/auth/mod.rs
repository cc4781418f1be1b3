//! Authentication building blocks that hold no rules of their own: lockout bookkeeping and
//! attempts in flight, TOTP,
//! mailed sign-in codes, known devices, session records and session-token signing. The decisions are made in
//! [`crate::service`].

pub mod attempts;
pub mod device;
pub mod email_code;
pub mod jwt;
pub mod lockout;
pub mod session;
pub mod spray;
pub mod totp;
