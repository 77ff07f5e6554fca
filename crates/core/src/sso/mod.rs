//! Single sign-on decided purely: the server's sign-in configuration (`config`), OpenID Connect
//! ID tokens read and checked (`jose`: the compact JWS and the provider's keys, `claims`: issuer,
//! audience, expiry, nonce and freshness), directory groups mapped to Slipway roles (`roles`),
//! the small subset of LDAPv3 the server speaks (`ldap`: bind and search, encoded and decoded with
//! a bounded BER reader), and how long a console session lives (`session`).
//!
//! It never opens a socket, reads a file or a clock: the server fetches, the caller passes the
//! time, and the signature over a token is checked by the server with the key `jose` names.

pub mod claims;
pub mod config;
pub mod jose;
pub mod ldap;
pub mod roles;
pub mod session;
