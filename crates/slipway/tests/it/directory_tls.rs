//! Signing in through a directory that speaks TLS: a real `slapd` with a certificate signed by a
//! CA the test makes, reached by `ldaps://` and by `ldap://` with StartTLS from a real `slipway
//! server`. Trusting another CA is a sign-in error that names TLS and changes nothing, and the
//! server keeps serving.

use serde_json::{json, Value};

use crate::support::sso_peers::{free_port, Directory, DirectoryPerson, TestCertificates, BASE};
use crate::support::{Server, ADMIN_TOKEN};

const PASSWORD: &str = "lena-over-tls";

fn people() -> Vec<DirectoryPerson<'static>> {
    vec![DirectoryPerson {
        uid: "lena",
        name: "Lena L.",
        password: PASSWORD,
        groups: &["release-ops"],
    }]
}

/// A server whose sign-in configuration reaches the directory at `url`.
fn slipway_trusting(url: &str, start_tls: bool, ca_file: &str) -> (Server, tempfile::TempDir) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("auth.yaml");
    let config = format!(
        "ldap:\n  url: {url}\n  start_tls: {start_tls}\n  tls_ca_file: {ca_file}\n  \
         user_dn: \"uid={{username}},ou=people,{BASE}\"\n  \
         groups: {{ base: \"ou=groups,{BASE}\" }}\n  \
         roles:\n    - {{ group: \"cn=release-ops,ou=groups,{BASE}\", role: ops }}\n"
    );
    std::fs::write(&path, config).expect("the auth config");
    let server = Server::start_listening(
        &format!("127.0.0.1:{}", free_port()),
        &[("SLIPWAY_AUTH_CONFIG", path.to_str().expect("UTF-8"))],
    );
    (server, folder)
}

/// `POST /api/v1/session` (what `slipway login` sends): the status and the body.
fn sign_in(base: &str) -> (u16, String) {
    match ureq::post(&format!("{base}/api/v1/session"))
        .send_json(json!({ "username": "lena", "password": PASSWORD }))
    {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("the server did not answer: {e}"),
    }
}

fn role_of_lena(base: &str) -> Option<String> {
    let reply: Value = ureq::get(&format!("{base}/api/v1/users"))
        .set("authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("users")
        .into_json()
        .expect("JSON");
    let list = reply["items"].as_array().or(reply.as_array()).cloned();
    list.unwrap_or_default()
        .into_iter()
        .find(|u| u["username"] == "lena")
        .and_then(|u| u["role"].as_str().map(str::to_string))
}

#[test]
fn people_sign_in_over_ldaps_and_starttls_and_a_wrong_ca_is_a_tls_error_naming_the_fix() {
    let Some(directory) = Directory::start_with_tls(&people()) else {
        return;
    };
    let tls = directory.tls.as_ref().expect("started with TLS");
    let right_ca = tls.ca_file.to_str().expect("UTF-8").to_string();
    let elsewhere = tempfile::tempdir().expect("a folder");
    let wrong_ca = elsewhere.path().join("other-ca.pem");
    std::fs::write(&wrong_ca, TestCertificates::new("Someone else's CA").ca_pem)
        .expect("the other CA");
    let wrong_ca = wrong_ca.to_str().expect("UTF-8").to_string();

    for (url, start_tls) in [
        (tls.ldaps_url.as_str(), false),
        (directory.url.as_str(), true),
    ] {
        let (server, _config) = slipway_trusting(url, start_tls, &right_ca);
        let (status, body) = sign_in(&server.url);
        assert_eq!(status, 200, "{url} start_tls={start_tls}: {body}");
        assert_eq!(role_of_lena(&server.url).as_deref(), Some("ops"), "{url}");

        let (server, _config) = slipway_trusting(url, start_tls, &wrong_ca);
        let (status, body) = sign_in(&server.url);
        assert_eq!(status, 503, "{url}: {body}");
        assert!(body.contains("TLS with the directory at"), "{url}: {body}");
        assert!(body.contains("UnknownIssuer"), "{url}: {body}");
        assert!(body.contains("ldap.tls_ca_file"), "{url}: {body}");
        assert_eq!(role_of_lena(&server.url), None, "nobody was signed in");
        // The server is still there and answers the next sign-in the same way.
        assert_eq!(sign_in(&server.url).0, 503);
    }
}
