//! The outside sign-in authorities single sign-on is tested against, as real processes: an
//! OpenID provider (the npm package `oidc-provider`, run by `oidc_provider.mjs` under node) and
//! an LDAP directory (`slapd` from the machine's packages, with its own configuration, database
//! and port in a temporary folder). Both are killed when dropped. When one is missing the test
//! is skipped with a line saying so, except under CI, where it fails (`.ci/run` installs both).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The OpenID client Slipway is registered as at the test provider.
pub(crate) const CLIENT_ID: &str = "slipway";
pub(crate) const CLIENT_SECRET: &str = "client-secret-for-tests-only";

/// A free loopback port, for a process that must know its callback before it starts.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn missing<T>(what: &str) -> Option<T> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing; .ci/run installs it"
    );
    slipway_store::testing::report_skipped(what);
    None
}

/// A running `oidc-provider`, killed when dropped.
pub(crate) struct OidcProvider {
    child: Child,
    pub(crate) issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcProvider {
    /// Start the provider with `users` (`{"quinn": {"password", "name", "groups"}}`) and
    /// Slipway's callback registered; `None` (skipped) when node or the package is missing.
    pub(crate) fn start(redirect: &str, users: &Value) -> Option<OidcProvider> {
        let modules = PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/slipway-oidc/node_modules");
        if !modules.join("oidc-provider/package.json").exists() {
            return missing("the npm package oidc-provider in ~/.cache/slipway-oidc");
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/oidc_provider.mjs"
        );
        let child = Command::new("node")
            .arg(script)
            .env("SLIPWAY_OIDC_MODULES", &modules)
            .env("SLIPWAY_OIDC_CLIENT_ID", CLIENT_ID)
            .env("SLIPWAY_OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("SLIPWAY_OIDC_REDIRECT", redirect)
            .env("SLIPWAY_OIDC_USERS", users.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            return missing("node");
        };
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let issuer = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(issuer) => issuer,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the OpenID provider did not start within 30 s");
            }
        };
        Some(OidcProvider { child, issuer })
    }

    /// Change (or, with `null`, remove) a person at the provider while it runs.
    pub(crate) fn set_user(&self, name: &str, user: &Value) {
        ureq::put(&format!("{}/test-admin/users/{name}", self.issuer))
            .send_string(&user.to_string())
            .expect("the provider takes the change");
    }

    /// How many times the provider rotated `name`'s refresh token (a user marked
    /// `"rotate_refresh_token": true`), spending the one used.
    pub(crate) fn rotations(&self, name: &str) -> u64 {
        ureq::get(&format!("{}/test-admin/rotations/{name}", self.issuer))
            .call()
            .expect("the provider answers")
            .into_string()
            .expect("a number")
            .trim()
            .parse()
            .expect("a count")
    }

    /// Stop it (the provider is down).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test directory's base.
pub(crate) const BASE: &str = "dc=example,dc=org";

/// A running `slapd` on its own port and folder, killed when dropped.
pub(crate) struct Directory {
    child: Child,
    pub(crate) url: String,
    /// With [`Directory::start_with_tls`]: where it speaks TLS from the first byte, and the CA
    /// file that verifies its certificate (its `url` then also accepts StartTLS).
    pub(crate) tls: Option<DirectoryTls>,
    _folder: tempfile::TempDir,
}

pub(crate) struct DirectoryTls {
    pub(crate) ldaps_url: String,
    pub(crate) ca_file: PathBuf,
}

/// A certificate authority the test makes, and a certificate it signed for 127.0.0.1.
pub(crate) struct TestCertificates {
    pub(crate) ca_pem: String,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl TestCertificates {
    pub(crate) fn new(ca_name: &str) -> TestCertificates {
        let ca_key = rcgen::KeyPair::generate().expect("a CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        let authority = params.self_signed(&ca_key).expect("the CA certificate");
        let leaf_key = rcgen::KeyPair::generate().expect("the directory's key");
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let leaf = rcgen::CertificateParams::new(names)
            .expect("leaf params")
            .signed_by(&leaf_key, &authority, &ca_key)
            .expect("the directory's certificate");
        TestCertificates {
            ca_pem: authority.pem(),
            cert_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
        }
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person in the test directory and the groups (by `cn`) they are a member of.
pub(crate) struct DirectoryPerson<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub groups: &'a [&'a str],
}

fn find_slapd() -> Option<PathBuf> {
    [
        "/usr/sbin/slapd",
        "/usr/local/sbin/slapd",
        "/usr/local/libexec/slapd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

impl Directory {
    /// `slapd` with `ou=people` and `ou=groups` under [`BASE`], holding `people`; `None`
    /// (skipped) when slapd is not installed.
    pub(crate) fn start(people: &[DirectoryPerson<'_>]) -> Option<Directory> {
        Directory::start_listening(people, false)
    }

    /// The same, also speaking TLS with a certificate signed by a CA made here: `ldaps://` on a
    /// second port, and StartTLS on `url`.
    pub(crate) fn start_with_tls(people: &[DirectoryPerson<'_>]) -> Option<Directory> {
        Directory::start_listening(people, true)
    }

    fn start_listening(people: &[DirectoryPerson<'_>], with_tls: bool) -> Option<Directory> {
        let Some(slapd) = find_slapd() else {
            return missing("slapd (Debian package slapd)");
        };
        let folder = tempfile::tempdir().expect("a temporary folder");
        let dir = folder.path();
        std::fs::create_dir(dir.join("db")).expect("the database folder");
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             pidfile {d}/slapd.pid\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             database mdb\n\
             suffix \"{BASE}\"\n\
             rootdn \"cn=admin,{BASE}\"\n\
             rootpw directory-admin\n\
             directory {d}/db\n\
             access to attrs=userPassword by self =xw by anonymous auth by * none\n\
             access to * by users read by * none\n",
            d = dir.display()
        );
        let conf = if with_tls {
            let certificates = TestCertificates::new("Slipway test directory CA");
            std::fs::write(dir.join("ca.pem"), &certificates.ca_pem).expect("ca.pem");
            std::fs::write(dir.join("cert.pem"), &certificates.cert_pem).expect("cert.pem");
            std::fs::write(dir.join("key.pem"), &certificates.key_pem).expect("key.pem");
            format!(
                "TLSCertificateFile {d}/cert.pem\nTLSCertificateKeyFile {d}/key.pem\n{conf}",
                d = dir.display()
            )
        } else {
            conf
        };
        std::fs::write(dir.join("slapd.conf"), conf).expect("slapd.conf");
        let mut ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n"
        );
        let mut groups: Vec<&str> = people
            .iter()
            .flat_map(|p| p.groups.iter().copied())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        for p in people {
            ldif.push_str(&format!(
                "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: {uid}\nuserPassword: {pw}\n\n",
                uid = p.uid,
                name = p.name,
                pw = p.password
            ));
        }
        for g in groups {
            ldif.push_str(&format!(
                "dn: cn={g},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {g}\n"
            ));
            for p in people.iter().filter(|p| p.groups.contains(&g)) {
                ldif.push_str(&format!("member: uid={},ou=people,{BASE}\n", p.uid));
            }
            ldif.push('\n');
        }
        std::fs::write(dir.join("data.ldif"), ldif).expect("data.ldif");
        let loaded = Command::new(slapd.with_file_name("slapadd"))
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(dir.join("data.ldif"))
            .output()
            .expect("slapadd runs");
        assert!(
            loaded.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let tls = with_tls.then(|| DirectoryTls {
            ldaps_url: format!("ldaps://127.0.0.1:{}", free_port()),
            ca_file: dir.join("ca.pem"),
        });
        let listen = match &tls {
            Some(t) => format!("{url}/ {}/", t.ldaps_url),
            None => format!("{url}/"),
        };
        let child = Command::new(&slapd)
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .args(["-h", &listen, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts");
        let ports: Vec<u16> = std::iter::once(&url)
            .chain(tls.as_ref().map(|t| &t.ldaps_url))
            .map(|u| {
                u.rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("a port")
            })
            .collect();
        let directory = Directory {
            child,
            url,
            tls,
            _folder: folder,
        };
        // Bounded wait for the ports to accept.
        for _ in 0..100 {
            if ports
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
            {
                return Some(directory);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("slapd did not listen on {ports:?} within 10 s");
    }

    /// Stop it (the directory is down).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
