//! LDAP v3 server protocol.
