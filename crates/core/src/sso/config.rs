//! The server's sign-in configuration: session timeouts, an OpenID Connect provider, an LDAP
//! directory, and how their groups map to roles. It is a file the operator of the host writes
//! (`slipway server --auth-config FILE`), not part of `slipway apply`: who may map a directory
//! group to `admin` is whoever runs the server, like the master key.
//!
//! Read with the same bounded YAML loader as `slipway.yaml`; unknown keys are refused and every
//! value is checked here, so a server never starts on a half-understood configuration.

use serde::Deserialize;

use super::roles::RoleMapping;
use super::session::SessionPolicy;
use crate::access::Role;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub sessions: SessionPolicy,
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
    #[serde(default)]
    pub ldap: Option<LdapConfig>,
}

/// An OpenID Connect provider, signed in to with the authorization code flow and PKCE.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The button's words: "Sign in with {name}".
    pub name: String,
    /// The provider's issuer URL; its discovery document is `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret, or a file holding it (preferred: it stays out of the configuration).
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<String>,
    /// Slipway's callback as registered at the provider: `https://slipway.example/login/oidc/callback`.
    pub redirect_url: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the person in Slipway (their user name).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim printed with their signatures.
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    /// The claim listing their groups or roles (a dotted path reaches into objects).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    pub roles: Vec<RoleMapping>,
    #[serde(default)]
    pub default_role: Option<Role>,
    /// A PEM file of the certificate authorities that may sign the provider's certificate;
    /// without it, the public web roots are trusted.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Asking the provider again, with the refresh token kept from sign-in, whether a signed-in
    /// person is still admitted and with which groups.
    #[serde(default)]
    pub recheck: OidcRecheck,
}

/// How often signed-in people are re-checked at the provider, and how long an unreachable
/// provider is trusted: their sessions and tokens end once the provider refuses them, maps
/// them to no role, or has not answered for `grace_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcRecheck {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_recheck_minutes")]
    pub minutes: u32,
    #[serde(default = "default_grace_minutes")]
    pub grace_minutes: u32,
}

impl Default for OidcRecheck {
    fn default() -> OidcRecheck {
        OidcRecheck {
            enabled: true,
            minutes: default_recheck_minutes(),
            grace_minutes: default_grace_minutes(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_grace_minutes() -> u32 {
    60
}

/// The longest re-check interval or grace: a day (longer is no re-check an auditor accepts).
const MAX_RECHECK_MINUTES: u32 = 24 * 60;

/// An LDAP directory, signed in to by a simple bind with the person's password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldaps://host:port` (TLS from the first byte, port 636 by default) or `ldap://host:port`
    /// (389 by default), upgraded with StartTLS when `start_tls` is set.
    pub url: String,
    /// Upgrade an `ldap://` connection to TLS before anything else is sent (RFC 4513 §3).
    #[serde(default)]
    pub start_tls: bool,
    /// A PEM file of the certificate authorities that may sign the directory's certificate;
    /// without it, the public web roots are trusted.
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Send passwords in clear to a directory that is not on this machine. Only for a network
    /// the operator trusts: anyone on the path reads every password signed in with.
    #[serde(default)]
    pub allow_plain: bool,
    /// The person's DN from their user name, `{username}` escaped into it:
    /// `uid={username},ou=people,dc=example,dc=org`. Or `search`.
    #[serde(default)]
    pub user_dn: Option<String>,
    #[serde(default)]
    pub search: Option<LdapSearch>,
    pub groups: LdapGroups,
    /// The attribute printed with their signatures.
    #[serde(default = "default_name_attribute")]
    pub name_attribute: String,
    pub roles: Vec<RoleMapping>,
    #[serde(default)]
    pub default_role: Option<Role>,
    /// Seconds to wait for the directory before saying it is down.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
    /// Reading a signed-in person's groups again while their sessions and tokens live.
    #[serde(default)]
    pub recheck: LdapRecheck,
}

/// How often a person's groups are read again, and as whom: their sessions and API tokens end
/// once no mapped group remains. The person's own bind is gone after sign-in, so a service
/// account reads (this one, else `search`'s); without any, re-checks are off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapRecheck {
    /// At most this often per person (0: at every request).
    #[serde(default = "default_recheck_minutes")]
    pub minutes: u32,
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password_file: Option<String>,
}

impl Default for LdapRecheck {
    fn default() -> LdapRecheck {
        LdapRecheck {
            minutes: default_recheck_minutes(),
            bind_dn: None,
            bind_password_file: None,
        }
    }
}

fn default_recheck_minutes() -> u32 {
    15
}

/// The service account that reads groups at a re-check: `(bind DN, its password file)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader<'a> {
    pub bind_dn: &'a str,
    pub bind_password_file: &'a str,
}

impl LdapConfig {
    /// Who reads groups at a re-check; `None` when no service account is configured (re-checks
    /// are then off: an anonymous read may see no group and would end everyone's session).
    pub fn recheck_reader(&self) -> Option<Reader<'_>> {
        let from_recheck = self
            .recheck
            .bind_dn
            .as_deref()
            .zip(self.recheck.bind_password_file.as_deref());
        let from_search = self
            .search
            .as_ref()
            .and_then(|s| s.bind_dn.as_deref().zip(s.bind_password_file.as_deref()));
        from_recheck
            .or(from_search)
            .map(|(bind_dn, bind_password_file)| Reader {
                bind_dn,
                bind_password_file,
            })
    }
}

/// Finding the person's DN by searching for their user name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSearch {
    pub base: String,
    #[serde(default = "default_user_attribute")]
    pub attribute: String,
    /// A service account to search as; anonymous when absent.
    #[serde(default)]
    pub bind_dn: Option<String>,
    #[serde(default)]
    pub bind_password_file: Option<String>,
}

/// Where the person's groups are found: entries under `base` whose `member_attribute` holds
/// their DN (`groupOfNames`' `member`) or their user name (`posixGroup`'s `memberUid`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapGroups {
    pub base: String,
    #[serde(default = "default_member_attribute")]
    pub member_attribute: String,
    #[serde(default)]
    pub member_value: MemberValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MemberValue {
    #[default]
    Dn,
    Username,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_name_claim() -> String {
    "name".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_name_attribute() -> String {
    "cn".into()
}
fn default_user_attribute() -> String {
    "uid".into()
}
fn default_member_attribute() -> String {
    "member".into()
}
fn default_timeout() -> u32 {
    5
}

/// Why the sign-in configuration is refused, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthConfigError {
    pub message: String,
}

fn refuse<T>(message: impl Into<String>) -> Result<T, AuthConfigError> {
    Err(AuthConfigError {
        message: message.into(),
    })
}

/// Read and check the sign-in configuration file's text.
pub fn parse(text: &str) -> Result<AuthConfig, AuthConfigError> {
    let (value, _) = crate::config::yaml::parse(text).map_err(|e| AuthConfigError {
        message: format!(
            "line {}, column {}: {}",
            e.position.line, e.position.column, e.message
        ),
    })?;
    let config: AuthConfig =
        serde_path_to_error::deserialize(value).map_err(|e| AuthConfigError {
            message: format!("at `{}`: {}", e.path(), e.inner()),
        })?;
    config.sessions.check().map_err(|e| AuthConfigError {
        message: e.to_string(),
    })?;
    if let Some(oidc) = &config.oidc {
        check_oidc(oidc)?;
    }
    if let Some(ldap) = &config.ldap {
        check_ldap(ldap)?;
    }
    Ok(config)
}

/// `https://…`, or `http://` to the machine itself (a provider on loopback, as in tests).
fn web_url(url: &str, what: &str) -> Result<(), AuthConfigError> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            url.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    if url.starts_with("https://") || loopback {
        Ok(())
    } else {
        refuse(format!(
            "{what} `{url}` must be an https:// URL (plain http:// only to this machine)"
        ))
    }
}

fn check_oidc(o: &OidcConfig) -> Result<(), AuthConfigError> {
    web_url(&o.issuer, "oidc.issuer")?;
    web_url(&o.redirect_url, "oidc.redirect_url")?;
    if !o.redirect_url.ends_with("/login/oidc/callback") {
        return refuse(
            "oidc.redirect_url must end with /login/oidc/callback (Slipway's callback), as registered at the provider",
        );
    }
    if o.client_id.is_empty() || o.name.trim().is_empty() {
        return refuse("oidc.client_id and oidc.name must not be empty");
    }
    if o.client_secret.is_some() && o.client_secret_file.is_some() {
        return refuse("give oidc.client_secret or oidc.client_secret_file, not both");
    }
    if !o.scopes.iter().any(|s| s == "openid") {
        return refuse("oidc.scopes must include `openid`");
    }
    if o.roles.is_empty() && o.default_role.is_none() {
        return refuse(
            "oidc.roles is empty and there is no oidc.default_role: nobody could sign in",
        );
    }
    check_oidc_recheck(&o.recheck)
}

fn check_oidc_recheck(r: &OidcRecheck) -> Result<(), AuthConfigError> {
    if !r.enabled {
        return Ok(());
    }
    if r.minutes == 0 || r.minutes > MAX_RECHECK_MINUTES {
        return refuse(format!(
            "oidc.recheck.minutes is {}: re-check between every 1 and {MAX_RECHECK_MINUTES} minutes (or set `enabled: false`)",
            r.minutes
        ));
    }
    if r.grace_minutes > MAX_RECHECK_MINUTES {
        return refuse(format!(
            "oidc.recheck.grace_minutes is {}: an unreachable provider is trusted for at most {MAX_RECHECK_MINUTES} minutes",
            r.grace_minutes
        ));
    }
    if r.grace_minutes < r.minutes {
        return refuse(format!(
            "oidc.recheck.grace_minutes ({}) is shorter than oidc.recheck.minutes ({}): one missed re-check would end every session; give a grace of at least one interval",
            r.grace_minutes, r.minutes
        ));
    }
    Ok(())
}

fn check_ldap(l: &LdapConfig) -> Result<(), AuthConfigError> {
    l.endpoint()?;
    match (&l.user_dn, &l.search) {
        (Some(template), None) => {
            if template.matches("{username}").count() != 1 {
                return refuse("ldap.user_dn must contain `{username}` exactly once");
            }
        }
        (None, Some(search)) => {
            // A DN without a password would be an unauthenticated bind: anonymous in disguise.
            if search.bind_dn.is_some() != search.bind_password_file.is_some() {
                return refuse(
                    "ldap.search.bind_dn and ldap.search.bind_password_file go together (or neither, to search anonymously)",
                );
            }
        }
        _ => return refuse("give ldap.user_dn (a template) or ldap.search, exactly one of them"),
    }
    if !(1..=60).contains(&l.timeout_secs) {
        return refuse("ldap.timeout_secs must be between 1 and 60");
    }
    if l.recheck.bind_dn.is_some() != l.recheck.bind_password_file.is_some() {
        return refuse(
            "ldap.recheck.bind_dn and ldap.recheck.bind_password_file go together (or neither, to re-check as the search account)",
        );
    }
    if l.recheck.minutes > 1440 {
        return refuse("ldap.recheck.minutes must be between 0 (every request) and 1440");
    }
    if l.roles.is_empty() && l.default_role.is_none() {
        return refuse(
            "ldap.roles is empty and there is no ldap.default_role: nobody could sign in",
        );
    }
    Ok(())
}

/// How the bytes to the directory are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapTransport {
    /// `ldaps://`: TLS from the first byte.
    Tls,
    /// `ldap://` upgraded by the StartTLS extended operation before any bind.
    StartTls,
    /// `ldap://` in clear: only to this machine, or where `allow_plain` says so.
    Plain,
}

/// Where the directory is and how to reach it, read from its URL and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapEndpoint {
    /// The host as written in the URL (a name, or an address without brackets): the name its
    /// certificate must carry.
    pub host: String,
    pub port: u16,
    pub transport: LdapTransport,
}

impl LdapEndpoint {
    /// `host:port`, brackets around an IPv6 address, for connecting.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl LdapConfig {
    /// The directory's endpoint, refused when it would send passwords in clear to another
    /// machine without the configuration saying so.
    pub fn endpoint(&self) -> Result<LdapEndpoint, AuthConfigError> {
        let url = &self.url;
        let (implicit_tls, rest) = if let Some(rest) = url.strip_prefix("ldaps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("ldap://") {
            (false, rest)
        } else {
            return refuse(format!(
                "ldap.url `{url}` must start with ldaps:// (TLS) or ldap:// (with start_tls: true)"
            ));
        };
        let (host, port) = host_and_port(url, rest, if implicit_tls { 636 } else { 389 })?;
        let transport = match (implicit_tls, self.start_tls) {
            (true, true) => {
                return refuse(format!(
                    "ldap.url `{url}` is TLS already: remove `start_tls: true`, or write ldap:// to upgrade with StartTLS"
                ))
            }
            (true, false) => LdapTransport::Tls,
            (false, true) => LdapTransport::StartTls,
            (false, false) => LdapTransport::Plain,
        };
        if transport == LdapTransport::Plain {
            if self.tls_ca_file.is_some() {
                return refuse(format!(
                    "ldap.tls_ca_file is given but ldap.url `{url}` is plain: use ldaps://, or add `start_tls: true`"
                ));
            }
            if !is_loopback(&host) && !self.allow_plain {
                return refuse(format!(
                    "ldap.url `{url}` would send every password in clear to another machine: use ldaps://, \
                     or add `start_tls: true`, or `allow_plain: true` if the network to the directory is trusted"
                ));
            }
        }
        Ok(LdapEndpoint {
            host,
            port,
            transport,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host and port of the part of an LDAP URL after its scheme.
fn host_and_port(
    url: &str,
    rest: &str,
    default_port: u16,
) -> Result<(String, u16), AuthConfigError> {
    let host_port = rest.trim_end_matches('/');
    if host_port.is_empty() || host_port.contains('/') {
        return refuse(format!(
            "ldap.url `{url}` must be ldaps://host[:port] or ldap://host[:port]"
        ));
    }
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) if port.starts_with(':') => (host, Some(&port[1..])),
            _ => return refuse(format!("ldap.url `{url}`: an unclosed `[`")),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => {
                return refuse(format!(
                    "ldap.url `{url}`: write an IPv6 address in brackets, ldap://[::1]:389"
                ))
            }
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return refuse(format!("ldap.url `{url}` names no host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p.parse::<u16>().map_err(|_| AuthConfigError {
            message: format!("ldap.url `{url}`: `{p}` is not a port"),
        })?,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
sessions: { idle_minutes: 15, absolute_hours: 8 }
oidc:
  name: Example ID
  issuer: https://id.example
  client_id: slipway
  client_secret_file: /etc/slipway/oidc-secret
  redirect_url: https://slipway.example/login/oidc/callback
  groups_claim: groups
  roles:
    - { group: slipway-admins, role: admin }
    - { group: release-ops, role: ops }
ldap:
  url: ldap://127.0.0.1:3389
  user_dn: "uid={username},ou=people,dc=example,dc=org"
  groups: { base: "ou=groups,dc=example,dc=org" }
  roles:
    - { group: "cn=admins,ou=groups,dc=example,dc=org", role: admin }
  default_role: viewer
"#;

    #[test]
    fn a_full_configuration_reads_with_its_defaults() {
        let c = parse(FULL).unwrap();
        assert_eq!(c.sessions.idle_minutes, 15);
        let oidc = c.oidc.unwrap();
        assert_eq!(oidc.username_claim, "preferred_username");
        assert_eq!(oidc.scopes, ["openid", "profile", "email"]);
        assert_eq!(oidc.roles[1].role, Role::Ops);
        let ldap = c.ldap.unwrap();
        assert_eq!(ldap.groups.member_attribute, "member");
        assert_eq!(ldap.groups.member_value, MemberValue::Dn);
        assert_eq!(ldap.default_role, Some(Role::Viewer));
        assert_eq!(parse("").unwrap(), AuthConfig::default());
    }

    #[test]
    fn mistakes_are_refused_with_where_they_are() {
        let err = |text: &str| parse(text).unwrap_err().message;
        assert!(err("oidc: { nam: x }").contains("oidc"));
        assert!(err("ldap:\n  url: ldap://h\n  user_dn: x\n  groups: {base: b}\n  roles: []\n  default_role: god\n").contains("unknown variant"));
        let plain = FULL.replace("https://id.example", "http://id.example");
        assert!(err(&plain).contains("https://"));
        let elsewhere = FULL.replace("ldap://127.0.0.1:3389", "ldap://dir.example");
        assert!(err(&elsewhere).contains("in clear"), "{}", err(&elsewhere));
        assert!(err(&elsewhere).contains("allow_plain"));
        let twice = format!(
            "{}  start_tls: true\n",
            FULL.replace("ldap://127.0.0.1:3389", "ldaps://h")
        );
        assert!(err(&twice).contains("TLS already"));
        let ca_in_clear = format!("{FULL}  tls_ca_file: /ca.pem\n");
        assert!(err(&ca_in_clear).contains("plain"));
        assert!(err(&FULL.replace("ldap://127.0.0.1:3389", "ldapx://h")).contains("ldaps://"));
        let no_placeholder = FULL.replace("uid={username}", "uid=x");
        assert!(err(&no_placeholder).contains("{username}"));
        let bad_callback = FULL.replace("/login/oidc/callback", "/cb");
        assert!(err(&bad_callback).contains("callback"));
        assert!(err("sessions: { idle_minutes: 0 }").contains("idle_minutes"));
        let no_password = FULL.replace(
            "  user_dn: \"uid={username},ou=people,dc=example,dc=org\"",
            "  search: { base: \"ou=people,dc=example,dc=org\", bind_dn: \"cn=svc\" }",
        );
        assert!(err(&no_password).contains("go together"));
        assert!(err("{").contains("line"));
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert!(!err(bomb).is_empty());
    }

    #[test]
    fn the_provider_is_rechecked_every_quarter_hour_with_an_hour_of_grace_by_default() {
        let oidc = parse(FULL).unwrap().oidc.unwrap();
        assert_eq!(oidc.recheck, OidcRecheck::default());
        assert!(oidc.recheck.enabled);
        assert_eq!((oidc.recheck.minutes, oidc.recheck.grace_minutes), (15, 60));
        let with = |recheck: &str| {
            FULL.replace(
                "  groups_claim: groups\n",
                &format!("  groups_claim: groups\n  recheck: {recheck}\n"),
            )
        };
        let off = parse(&with("{ enabled: false, minutes: 0 }")).unwrap();
        assert!(!off.oidc.unwrap().recheck.enabled);
        let err = |text: &str| parse(text).unwrap_err().message;
        assert!(err(&with("{ minutes: 0 }")).contains("oidc.recheck.minutes is 0"));
        assert!(err(&with("{ minutes: 5000 }")).contains("between every 1 and 1440"));
        assert!(err(&with("{ minutes: 30, grace_minutes: 10 }"))
            .contains("grace_minutes (10) is shorter than oidc.recheck.minutes (30)"));
        assert!(err(&with("{ grace_minutes: 99999 }")).contains("at most 1440"));
        assert!(err(&with("{ minute: 5 }")).contains("recheck"));
        assert!(err(&with("{ minutes: -1 }")).contains("recheck"));
    }

    #[test]
    fn a_recheck_reads_as_its_own_account_else_the_search_account_else_never() {
        let ldap = parse(FULL).unwrap().ldap.unwrap();
        assert_eq!(ldap.recheck.minutes, 15);
        assert_eq!(
            ldap.recheck_reader(),
            None,
            "a template and no account: off"
        );
        let searching = FULL.replace(
            "  user_dn: \"uid={username},ou=people,dc=example,dc=org\"",
            "  search: { base: \"ou=people,dc=example,dc=org\", bind_dn: \"cn=svc\", bind_password_file: /pw }",
        );
        let ldap = parse(&searching).unwrap().ldap.unwrap();
        assert_eq!(
            ldap.recheck_reader(),
            Some(Reader {
                bind_dn: "cn=svc",
                bind_password_file: "/pw"
            })
        );
        let own = format!(
            "{FULL}  recheck: {{ minutes: 0, bind_dn: cn=reader, bind_password_file: /r }}\n"
        );
        let ldap = parse(&own).unwrap().ldap.unwrap();
        assert_eq!(ldap.recheck.minutes, 0);
        assert_eq!(ldap.recheck_reader().map(|r| r.bind_dn), Some("cn=reader"));
        let half = format!("{FULL}  recheck: {{ bind_dn: cn=reader }}\n");
        assert!(parse(&half).unwrap_err().message.contains("go together"));
        let long = format!("{FULL}  recheck: {{ minutes: 5000 }}\n");
        assert!(parse(&long).unwrap_err().message.contains("1440"));
    }

    fn endpoint(url: &str, extra: &str) -> Result<LdapEndpoint, AuthConfigError> {
        let text = format!(
            "url: \"{url}\"\nuser_dn: \"uid={{username}}\"\ngroups: {{ base: b }}\ndefault_role: viewer\nroles: []\n{extra}"
        );
        let (value, _) = crate::config::yaml::parse(&text).expect("YAML");
        let config: LdapConfig = serde_path_to_error::deserialize(value).expect("an LDAP config");
        config.endpoint()
    }

    #[test]
    fn ldap_endpoints_get_their_default_port_and_transport() {
        let e = endpoint("ldap://dir.example", "start_tls: true").unwrap();
        assert_eq!(
            (e.address(), e.transport),
            ("dir.example:389".into(), LdapTransport::StartTls)
        );
        let e = endpoint("ldaps://dir.example", "").unwrap();
        assert_eq!(
            (e.address(), e.transport),
            ("dir.example:636".into(), LdapTransport::Tls)
        );
        let e = endpoint("ldap://127.0.0.1:3389/", "").unwrap();
        assert_eq!(
            (e.address(), e.transport),
            ("127.0.0.1:3389".into(), LdapTransport::Plain)
        );
        let e = endpoint("ldaps://[::1]:1636", "").unwrap();
        assert_eq!((e.host.as_str(), e.address()), ("::1", "[::1]:1636".into()));
        assert_eq!(
            endpoint("ldap://localhost", "").unwrap().transport,
            LdapTransport::Plain
        );
        let trusted = endpoint("ldap://10.0.0.5", "allow_plain: true").unwrap();
        assert_eq!(trusted.transport, LdapTransport::Plain);
        assert!(endpoint("ldap://10.0.0.5", "").is_err());
        assert!(endpoint("ldap://h:99999", "allow_plain: true").is_err());
        assert!(endpoint("ldaps://", "").is_err());
        assert!(endpoint("ldaps://h/dc=x", "").is_err());
        assert!(endpoint("ldaps://[::1", "").is_err());
        assert!(endpoint("ldaps://::1", "")
            .unwrap_err()
            .message
            .contains("brackets"));
    }
}
