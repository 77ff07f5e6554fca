//! An operator's CA bundle for an outgoing TLS connection (`ldap.tls_ca_file`,
//! `oidc.tls_ca_file`, a mail channel's `smtp.ca_file`) is refused when it is not one, at the
//! server's start or at `slipway apply`, never at the first sign-in or alert, with the same
//! words everywhere: the setting, the path, what is wrong and what a CA file must be.

use std::process::{Command, Stdio};

use crate::support::*;

const HINT: &str = "it must be a readable PEM file of `-----BEGIN CERTIFICATE-----` blocks";

/// `slipway server` with this sign-in configuration: it must refuse to start; its stderr.
fn refused_start(auth_config: &str) -> String {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let config = file(folder.path(), "auth.yaml", auth_config);
    let out = Command::new(slipway_bin())
        .args(["server", "--listen", "127.0.0.1:0", "--data"])
        .arg(folder.path().join("data"))
        .env("SLIPWAY_AUTH_CONFIG", &config)
        .env("SLIPWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::null())
        .output()
        .expect("slipway server runs");
    assert!(!out.status.success(), "it must not start: {}", stderr(&out));
    assert!(!stdout(&out).contains("listening"), "{}", stdout(&out));
    stderr(&out)
}

#[test]
fn a_ca_file_that_is_not_one_stops_the_start_or_the_apply_naming_its_setting() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let garbage: Vec<u8> = (0..2048u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let binary = folder.path().join("binary.pem");
    std::fs::write(&binary, garbage).expect("write");
    let binary = binary.display().to_string();

    // The directory's CA file: binary garbage.
    let ldap = format!(
        "ldap:\n  url: ldaps://127.0.0.1:1636\n  tls_ca_file: {binary}\n  \
         user_dn: \"uid={{username}},ou=people,dc=example,dc=org\"\n  \
         groups: {{ base: \"ou=groups,dc=example,dc=org\" }}\n  default_role: viewer\n  roles: []\n"
    );
    let e = refused_start(&ldap);
    assert!(
        e.contains(&format!(
            "ldap.tls_ca_file {binary}: the file is not PEM text"
        )),
        "{e}"
    );
    assert!(e.contains(HINT), "{e}");

    // The OpenID provider's CA file: missing. The provider itself is never asked at start.
    let oidc = "oidc:\n  name: Example ID\n  issuer: https://id.example\n  client_id: slipway\n  \
                redirect_url: https://slipway.example/login/oidc/callback\n  \
                tls_ca_file: /nonexistent/provider-ca.pem\n  default_role: viewer\n  roles: []\n";
    let e = refused_start(oidc);
    assert!(
        e.contains("oidc.tls_ca_file /nonexistent/provider-ca.pem: cannot be read"),
        "{e}"
    );
    assert!(e.contains(HINT), "{e}");

    // A mail channel's CA file over 1 MiB: refused at apply, and nothing is applied.
    let server = Server::start();
    let huge = folder.path().join("huge.pem");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(8 * 1024 * 1024))
        .expect("a sparse 8 MiB file");
    let yaml = format!(
        "environments:\n  - {{ name: DEV }}\nproject:\n  name: mailer\n  components:\n    - {{ name: app, kind: file }}\n  \
         plan:\n    - {{ name: Run, action: command, roles: [app], with: {{ run: \"true\" }} }}\n  \
         alerts:\n    channels:\n      - name: ops-mail\n        kind: email\n        to: [ops@example.com]\n        \
         smtp: {{ host: 127.0.0.1, port: 2525, from: slipway@example.com, tls: starttls, ca_file: {} }}\n    \
         routes:\n      - {{ min_severity: warning, channels: [ops-mail] }}\n",
        huge.display()
    );
    let applied = server.apply(&file(folder.path(), "slipway.yaml", &yaml));
    assert!(!applied.status.success(), "{}", stdout(&applied));
    let e = stderr(&applied);
    assert!(
        e.contains(&format!(
            "project mailer channel ops-mail smtp.ca_file {}: the file is larger than 1 MiB",
            huge.display()
        )),
        "{e}"
    );
    assert!(e.contains(HINT), "{e}");
    let projects = ok(server.cli(None, &["project", "list"]));
    assert!(!projects.contains("mailer"), "nothing applied: {projects}");
}
