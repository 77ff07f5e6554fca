//! The LDAP directory: a person's password checked by a simple bind as their DN (found by a
//! template or a search), their printed name and their groups read by searches, over `ldaps://`,
//! `ldap://` upgraded by StartTLS, or plain `ldap://` where the configuration allows it, with a
//! timeout on every read and write. The BER is core's (`sso::ldap`); this file only moves bytes.
//! It blocks, so callers run it on a blocking thread.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use slipway_core::sso::config::{LdapConfig, LdapTransport, MemberValue, Reader};
use slipway_core::sso::ldap::{
    self, escape_dn_value, Answer, BerError, Entry, Filter, Scope, Search, INVALID_CREDENTIALS,
};

use crate::outgoing_tls::{self, Wire};

/// Why the directory did not confirm the person.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LdapError {
    #[error("the directory at {url} did not answer: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the directory at {url} answered with something Slipway cannot read: {detail}")]
    Protocol { url: String, detail: String },
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("TLS with the directory at {url} failed: {detail}; check that ldap.tls_ca_file holds the certificate authority that signed the directory's certificate, and that ldap.url names a host the certificate carries")]
    Tls { url: String, detail: String },
    #[error("{0}")]
    CaFile(outgoing_tls::TlsError),
    #[error("the directory refused {what}: {detail} (result code {code})")]
    Refused {
        what: &'static str,
        code: u32,
        detail: String,
    },
}

/// A person the directory confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryPerson {
    pub(crate) dn: String,
    pub(crate) printed_name: Option<String>,
    pub(crate) groups: Vec<String>,
}

struct Connection {
    stream: Wire,
    url: String,
    next_id: u32,
}

impl Connection {
    fn open(config: &LdapConfig) -> Result<Connection, LdapError> {
        let unreachable = |detail: String| LdapError::Unreachable {
            url: config.url.clone(),
            detail,
        };
        let tls_failed = |e: outgoing_tls::TlsError| LdapError::Tls {
            url: config.url.clone(),
            detail: e.0,
        };
        let endpoint = config.endpoint().map_err(|e| unreachable(e.message))?;
        let timeout = Duration::from_secs(u64::from(config.timeout_secs));
        let target = endpoint
            .address()
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("the host name has no address".into()))?;
        let stream =
            TcpStream::connect_timeout(&target, timeout).map_err(|e| unreachable(e.to_string()))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| unreachable(e.to_string()))?;
        let mut connection = Connection {
            stream: Wire::Plain(stream),
            url: config.url.clone(),
            next_id: 1,
        };
        if endpoint.transport == LdapTransport::Plain {
            return Ok(connection);
        }
        let ca = config
            .tls_ca_file
            .as_deref()
            .map(|path| outgoing_tls::CaFile {
                key: "ldap.tls_ca_file",
                path,
            });
        let tls = outgoing_tls::client_config(ca).map_err(LdapError::CaFile)?;
        if endpoint.transport == LdapTransport::StartTls {
            connection.start_tls()?;
        }
        connection.stream = connection
            .stream
            .into_tls(&endpoint.host, tls)
            .map_err(tls_failed)?;
        Ok(connection)
    }

    /// Ask the directory to speak TLS from the next byte (RFC 4511 §4.14); a directory that
    /// refuses is an error, never a fall-back to clear text.
    fn start_tls(&mut self) -> Result<(), LdapError> {
        let id = self.send(ldap::start_tls_request)?;
        // Nothing else is in flight, so the next answer is StartTLS's; a few stray ones bounded.
        for _ in 0..8 {
            match self.receive()? {
                (got, Answer::Extended(o)) if got == id => {
                    return match o.code {
                        0 => Ok(()),
                        code => Err(LdapError::Tls {
                            url: self.url.clone(),
                            detail: format!(
                                "the directory refused StartTLS: {} (result code {code}); is TLS configured on it?",
                                o.diagnostic
                            ),
                        }),
                    };
                }
                _ => continue,
            }
        }
        Err(LdapError::Protocol {
            url: self.url.clone(),
            detail: "no answer to StartTLS".into(),
        })
    }

    fn io(&self, e: std::io::Error) -> LdapError {
        LdapError::Unreachable {
            url: self.url.clone(),
            detail: e.to_string(),
        }
    }

    fn protocol(&self, e: BerError) -> LdapError {
        LdapError::Protocol {
            url: self.url.clone(),
            detail: e.to_string(),
        }
    }

    fn send(&mut self, message: impl FnOnce(u32) -> Vec<u8>) -> Result<u32, LdapError> {
        let id = self.next_id;
        self.next_id += 1;
        let bytes = message(id);
        self.stream
            .write_all(&bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| self.io(e))?;
        Ok(id)
    }

    /// Read one whole message (its length known from its head, at most `ldap::MAX_MESSAGE`).
    fn receive(&mut self) -> Result<(u32, Answer), LdapError> {
        let mut bytes = Vec::with_capacity(64);
        let mut byte = [0u8; 1];
        let total = loop {
            if let Some(total) = ldap::message_length(&bytes).map_err(|e| self.protocol(e))? {
                break total;
            }
            if bytes.len() >= 6 {
                return Err(self.protocol(BerError::Length(1)));
            }
            self.stream.read_exact(&mut byte).map_err(|e| self.io(e))?;
            bytes.push(byte[0]);
        };
        let head = bytes.len();
        bytes.resize(total, 0);
        self.stream
            .read_exact(&mut bytes[head..])
            .map_err(|e| self.io(e))?;
        let (id, answer) = ldap::read_answer(&bytes).map_err(|e| self.protocol(e))?;
        if let Answer::Notice(o) = &answer {
            return Err(LdapError::Refused {
                what: "the connection",
                code: o.code,
                detail: o.diagnostic.clone(),
            });
        }
        Ok((id, answer))
    }

    /// Bind as `dn`; `Ok(false)` for a wrong DN or password.
    fn bind(&mut self, dn: &str, password: &str) -> Result<bool, LdapError> {
        let id = self.send(|id| ldap::bind_request(id, dn, password))?;
        loop {
            match self.receive()? {
                (got, Answer::Bind(o)) if got == id => {
                    return match o.code {
                        0 => Ok(true),
                        INVALID_CREDENTIALS => Ok(false),
                        code => Err(LdapError::Refused {
                            what: "the bind",
                            code,
                            detail: o.diagnostic,
                        }),
                    }
                }
                _ => continue,
            }
        }
    }

    /// The entries a search finds (at most `size_limit`, referrals ignored).
    fn search(&mut self, s: &Search<'_>) -> Result<Vec<Entry>, LdapError> {
        let id = self.send(|id| ldap::search_request(id, s))?;
        let mut entries = Vec::new();
        // The directory sends at most `size_limit` entries, then its result; a few references
        // may come between. Bounded, so a talkative server cannot keep us here.
        for _ in 0..(s.size_limit as usize + 64) {
            match self.receive()? {
                (got, Answer::Entry(e)) if got == id => entries.push(e),
                (got, Answer::SearchDone(o)) if got == id => {
                    // 4: the size limit was reached; what arrived is still the answer.
                    return match o.code {
                        0 | 4 => Ok(entries),
                        code => Err(LdapError::Refused {
                            what: "the search",
                            code,
                            detail: o.diagnostic,
                        }),
                    };
                }
                _ => continue,
            }
        }
        Err(LdapError::Protocol {
            url: self.url.clone(),
            detail: "the search did not end".into(),
        })
    }

    fn close(mut self) {
        // A polite goodbye; the socket closes anyway when dropped.
        let _ = self.send(ldap::unbind_request);
    }
}

/// Confirm `username`'s `password` with the directory and read their name and groups.
pub(crate) fn authenticate(
    config: &LdapConfig,
    username: &str,
    password: &str,
) -> Result<DirectoryPerson, LdapError> {
    // An empty password is an "unauthenticated bind", which directories accept for any DN
    // (RFC 4513 §5.1.2): it must never count as a sign-in.
    if password.is_empty() {
        return Err(LdapError::BadCredentials);
    }
    let mut c = Connection::open(config)?;
    let dn = match (&config.user_dn, &config.search) {
        (Some(template), _) => template.replace("{username}", &escape_dn_value(username)),
        (None, Some(search)) => {
            if let Some(bind_dn) = &search.bind_dn {
                let secret = match &search.bind_password_file {
                    Some(path) => account_password(config, path)?,
                    None => String::new(),
                };
                if !c.bind(bind_dn, &secret)? {
                    return Err(LdapError::Refused {
                        what: "the search account's bind",
                        code: INVALID_CREDENTIALS,
                        detail: format!("check ldap.search.bind_dn `{bind_dn}` and its password"),
                    });
                }
            }
            let found = c.search(&Search {
                base: &search.base,
                scope: Scope::Subtree,
                filter: Filter::Equal(search.attribute.clone(), username.to_string()),
                attributes: &["1.1"],
                size_limit: 2,
            })?;
            match found.as_slice() {
                [one] => one.dn.clone(),
                // Nobody, or several people answering to one name: no sign-in either way.
                _ => return Err(LdapError::BadCredentials),
            }
        }
        (None, None) => return Err(LdapError::BadCredentials),
    };
    if !c.bind(&dn, password)? {
        return Err(LdapError::BadCredentials);
    }
    // Read as the person themselves: what they may read of their own entry and groups.
    let me = c.search(&Search {
        base: &dn,
        scope: Scope::Base,
        filter: Filter::Present("objectClass".into()),
        attributes: &[config.name_attribute.as_str()],
        size_limit: 1,
    })?;
    let printed_name = me
        .first()
        .and_then(|e| e.first(&config.name_attribute))
        .map(str::to_string);
    let groups = read_groups(&mut c, config, &dn, username)?;
    c.close();
    Ok(DirectoryPerson {
        dn,
        printed_name,
        groups,
    })
}

/// A service account's password, from its file.
fn account_password(config: &LdapConfig, path: &str) -> Result<String, LdapError> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| LdapError::Unreachable {
            url: config.url.clone(),
            detail: format!("the service account's password file {path}: {e}"),
        })?
        .trim_end()
        .to_string())
}

/// The DNs of the groups the person (`dn`, `username`) is a member of.
fn read_groups(
    c: &mut Connection,
    config: &LdapConfig,
    dn: &str,
    username: &str,
) -> Result<Vec<String>, LdapError> {
    let member = match config.groups.member_value {
        MemberValue::Dn => dn.to_string(),
        MemberValue::Username => username.to_string(),
    };
    Ok(c.search(&Search {
        base: &config.groups.base,
        scope: Scope::Subtree,
        filter: Filter::Equal(config.groups.member_attribute.clone(), member),
        attributes: &["1.1"],
        size_limit: 500,
    })?
    .into_iter()
    .map(|e| e.dn)
    .collect())
}

/// A signed-in person's groups read again, as the re-check account (`reader`): no password of
/// theirs is needed, and a person removed from the directory's groups shows none.
pub(crate) fn groups_now(
    config: &LdapConfig,
    reader: Reader<'_>,
    dn: &str,
    username: &str,
) -> Result<Vec<String>, LdapError> {
    let mut c = Connection::open(config)?;
    let secret = account_password(config, reader.bind_password_file)?;
    if secret.is_empty() || !c.bind(reader.bind_dn, &secret)? {
        return Err(LdapError::Refused {
            what: "the re-check account's bind",
            code: INVALID_CREDENTIALS,
            detail: format!(
                "check ldap.recheck (or ldap.search) bind_dn `{}` and its password",
                reader.bind_dn
            ),
        });
    }
    let groups = read_groups(&mut c, config, dn, username)?;
    c.close();
    Ok(groups)
}
