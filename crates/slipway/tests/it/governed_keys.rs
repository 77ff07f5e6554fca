//! Trusting a signing key is governed where it opens a protected environment: protected
//! environments take only artifacts a trusted key signed, so a key asked for a project whose
//! releases reach one waits for an admin other than the person who asked (a configuration
//! change request of kind `signing_key`), is trusted once approved (audited with both names),
//! and a second request for the same key name no longer applies once the first is trusted. A
//! project that reaches no protected environment trusts a key at once. Real server and CLI.

use serde_json::Value;

use crate::support::*;

const ENVIRONMENTS: &str = "environments:\n  - { name: DEV }\n  - name: PRE-PROD\n    protected: true\n    gates:\n      change_request: false\n";

fn project(name: &str, environments: &str) -> String {
    format!(
        "{ENVIRONMENTS}project:\n  name: {name}\n  components:\n    - {{ name: app, kind: file }}\n  lifecycles:\n    - name: main\n      phases:\n        - environments: [{environments}]\n"
    )
}

/// `slipway key add` as `token`; what it said.
fn add_key(server: &Server, token: &str, project: &str, name: &str, key: &str) -> String {
    ok(server.cli(
        Some(token),
        &[
            "key",
            "add",
            "--project",
            project,
            "--name",
            name,
            "--public-key",
            key,
        ],
    ))
}

fn trusted_names(server: &Server, project: &str) -> Vec<String> {
    let listed = json(server.cli(None, &["key", "list", "--project", project, "-o", "json"]));
    listed["items"]
        .as_array()
        .or(listed.as_array())
        .into_iter()
        .flatten()
        .filter_map(|k| k["name"].as_str().map(str::to_string))
        .collect()
}

fn public_key(server: &Server, work: &std::path::Path, file_name: &str) -> String {
    let out = work.join(file_name);
    let generated = json(server.cli(
        None,
        &[
            "key",
            "generate",
            "--out",
            out.to_str().expect("UTF-8"),
            "-o",
            "json",
        ],
    ));
    generated["public_key"]
        .as_str()
        .expect("a public key")
        .to_string()
}

fn pending_request(server: &Server, subject: &str, author: &str) -> Value {
    let listed = json(server.cli(None, &["config-change", "list", "-o", "json"]));
    listed["items"]
        .as_array()
        .or(listed.as_array())
        .into_iter()
        .flatten()
        .find(|c| c["subject"] == subject && c["author"] == author && c["state"] == "pending")
        .cloned()
        .unwrap_or_else(|| panic!("no pending request of {author} for {subject}: {listed}"))
}

#[test]
fn a_key_that_opens_a_protected_environment_waits_for_another_admin_and_others_apply_at_once() {
    let server = Server::start();
    let work = tempfile::tempdir().expect("a temporary folder");
    let w = work.path();
    ok(server.apply(&file(w, "p.yaml", &project("p", "DEV, PRE-PROD"))));
    ok(server.apply(&file(w, "tools.yaml", &project("tools", "DEV"))));
    let otto = server.user_with_token("otto", "ops");
    let olga = server.user_with_token("olga", "ops");
    let ada = server.user_with_token("ada", "admin");
    let ci = public_key(&server, w, "ci.key");
    let other = public_key(&server, w, "other.key");

    // Otto asks p to trust his key: p's releases reach the protected PRE-PROD, so it waits.
    let said = add_key(&server, &otto, "p", "ci", &ci);
    assert!(said.contains("not trusted yet"), "{said}");
    assert!(said.contains("PRE-PROD"), "{said}");
    assert!(said.contains("waits for another admin"), "{said}");
    assert!(
        trusted_names(&server, "p").is_empty(),
        "nothing trusted yet"
    );
    let request = pending_request(&server, "project/p/keys/ci", "otto");
    assert_eq!(request["kind"], "signing_key", "{request}");
    assert_eq!(request["desired"]["public_key"], ci.as_str(), "{request}");
    // Olga asks for the same name with another key; both wait.
    add_key(&server, &olga, "p", "ci", &other);
    let olgas = pending_request(&server, "project/p/keys/ci", "olga");

    // An admin's own request is not theirs to approve.
    let said = add_key(&server, &ada, "p", "ada", &other);
    assert!(said.contains("waits for another admin"), "{said}");
    let adas = pending_request(&server, "project/p/keys/ada", "ada");
    let id = adas["id"].to_string();
    let refused = server.cli(Some(&ada), &["config-change", "approve", &id]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("four eyes"),
        "{}",
        stderr(&refused)
    );
    assert!(!trusted_names(&server, "p").contains(&"ada".to_string()));

    // Ada approves Otto's: p trusts it now, recorded with both names.
    let id = request["id"].to_string();
    ok(server.cli(Some(&ada), &["config-change", "approve", &id]));
    assert_eq!(trusted_names(&server, "p"), ["ci"]);
    let keys = json(server.cli(None, &["key", "list", "--project", "p", "-o", "json"]));
    assert!(
        keys.to_string().contains(&ci),
        "Otto's key, not Olga's: {keys}"
    );
    let audit = json(server.cli(
        None,
        &["audit", "list", "--verb", "signing_key.add", "-o", "json"],
    ));
    let added = audit["items"]
        .as_array()
        .or(audit.as_array())
        .into_iter()
        .flatten()
        .find(|e| e["verb"] == "signing_key.add" && e["subject"] == "project/p/keys/ci")
        .cloned()
        .unwrap_or_else(|| panic!("the key's trust is audited: {audit}"));
    let details = added["details"].to_string();
    assert!(
        details.contains("otto") && details.contains("ada"),
        "{added}"
    );

    // Olga's request was made before a key of that name was trusted: it no longer applies.
    let id = olgas["id"].to_string();
    let stale = server.cli(Some(&ada), &["config-change", "approve", &id]);
    assert!(!stale.status.success());
    assert!(
        stderr(&stale).contains("no longer applies cleanly"),
        "{}",
        stderr(&stale)
    );
    assert_eq!(trusted_names(&server, "p"), ["ci"]);

    // tools reaches no protected environment: Otto's key is trusted at once.
    let said = add_key(&server, &otto, "tools", "ci", &ci);
    assert!(said.contains("now trusts key ci"), "{said}");
    assert_eq!(trusted_names(&server, "tools"), ["ci"]);
}
