//! Single sign-on against real authorities: an OpenID provider (`oidc-provider` under node) and
//! an LDAP directory (`slapd`), each started by the test, with a real `slipway server` started
//! with `--auth-config`. Sign-in creates the user with the role their groups map to; every bad
//! answer (wrong state, replayed code, no mapped group, the authority down) signs nobody in,
//! and the local break-glass admin signs in whatever the directory's state.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::sso_peers::{
    free_port, Directory, DirectoryPerson, OidcProvider, BASE, CLIENT_ID, CLIENT_SECRET,
};
use crate::support::{browser, ok, spawn_agent, AgentProcess, Server, ADMIN_TOKEN};

/// An answer as the test reads it: status, headers that matter, body.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) location: Option<String>,
    cookies: Vec<(String, String)>,
    pub(super) body: String,
}

/// A client that follows no redirects and keeps cookies per origin, as a browser would.
pub(super) struct Client {
    agent: ureq::Agent,
    jar: HashMap<String, HashMap<String, String>>,
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default().to_string()
}

impl Client {
    pub(super) fn new() -> Client {
        Client {
            agent: ureq::AgentBuilder::new()
                .redirects(0)
                .timeout(Duration::from_secs(30))
                .build(),
            jar: HashMap::new(),
        }
    }

    fn cookie_header(&self, url: &str) -> String {
        self.jar
            .get(&origin(url))
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn keep(&mut self, url: &str, r: ureq::Response) -> Reply {
        let status = r.status();
        let location = r.header("location").map(|l| {
            if l.starts_with('/') {
                format!("http://{}{l}", origin(url))
            } else {
                l.to_string()
            }
        });
        let cookies: Vec<(String, String)> = r
            .all("set-cookie")
            .iter()
            .filter_map(|c| c.split(';').next()?.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let jar = self.jar.entry(origin(url)).or_default();
        for (k, v) in &cookies {
            if v.is_empty() {
                jar.remove(k);
            } else {
                jar.insert(k.clone(), v.clone());
            }
        }
        let body = r.into_string().unwrap_or_default();
        Reply {
            status,
            location,
            cookies,
            body,
        }
    }

    pub(super) fn get(&mut self, url: &str) -> Reply {
        let r = self
            .agent
            .get(url)
            .set("cookie", &self.cookie_header(url))
            .call();
        match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => self.keep(url, r),
            Err(e) => panic!("GET {url}: {e}"),
        }
    }

    fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Reply {
        let r = self
            .agent
            .post(url)
            .set("cookie", &self.cookie_header(url))
            .send_form(form);
        match r {
            Ok(r) | Err(ureq::Error::Status(_, r)) => self.keep(url, r),
            Err(e) => panic!("POST {url}: {e}"),
        }
    }

    fn post_json(&mut self, url: &str, body: &Value, csrf: Option<&str>) -> Reply {
        let mut request = self.agent.post(url).set("cookie", &self.cookie_header(url));
        if let Some(csrf) = csrf {
            request = request.set("x-csrf-token", csrf);
        }
        match request.send_json(body) {
            Ok(r) | Err(ureq::Error::Status(_, r)) => self.keep(url, r),
            Err(e) => panic!("POST {url}: {e}"),
        }
    }

    pub(super) fn has_session(&self, base: &str) -> bool {
        self.jar
            .get(&origin(base))
            .is_some_and(|c| c.contains_key("slipway_session"))
    }
}

/// Start at Slipway's "Sign in with …" and sign in at the provider; the provider's answer (the
/// callback URL) is returned unvisited, so a test can tamper with it or visit it.
pub(super) fn provider_answer(c: &mut Client, base: &str, user: &str, password: &str) -> String {
    let started = c.get(&format!("{base}/login/oidc"));
    assert_eq!(started.status, 303, "start: {}", started.body);
    let to_provider = started.location.expect("a redirect to the provider");
    assert!(
        to_provider.contains("code_challenge_method=S256"),
        "{to_provider}"
    );
    let interaction = c.get(&to_provider);
    let login_page = interaction.location.expect("the provider's login page");
    let signed = c.post_form(
        &format!("{login_page}/login"),
        &[("login", user), ("password", password)],
    );
    assert_eq!(signed.status, 303, "provider login: {}", signed.body);
    let resumed = c.get(&signed.location.expect("back to the authorization"));
    let answer = resumed.location.expect("the provider answers Slipway");
    assert!(
        answer.starts_with(&format!("{base}/login/oidc/callback?")),
        "{answer}"
    );
    answer
}

/// The items an API list answers the admin (`/api/v1/users`, `/api/v1/audit?limit=500`).
pub(super) fn listed(base: &str, path: &str) -> Vec<Value> {
    let reply: Value = ureq::get(&format!("{base}{path}"))
        .set("authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into_json()
        .expect("JSON");
    reply["items"]
        .as_array()
        .or(reply.as_array())
        .cloned()
        .unwrap_or_default()
}

fn users(base: &str) -> Vec<Value> {
    listed(base, "/api/v1/users")
}

pub(super) fn user(base: &str, name: &str) -> Option<Value> {
    users(base).into_iter().find(|u| u["username"] == name)
}

pub(super) fn audit_verbs(base: &str) -> Vec<String> {
    listed(base, "/api/v1/audit?limit=500")
        .iter()
        .filter_map(|e| e["verb"].as_str().map(str::to_string))
        .collect()
}

/// A Slipway server on a port chosen first, so its callback can be registered at the provider.
pub(super) fn slipway_with(port: u16, auth_config: &str) -> (Server, tempfile::TempDir) {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("auth.yaml");
    std::fs::write(&path, auth_config).expect("the auth config");
    let server = Server::start_listening(
        &format!("127.0.0.1:{port}"),
        &[("SLIPWAY_AUTH_CONFIG", path.to_str().expect("UTF-8"))],
    );
    (server, folder)
}

pub(super) fn oidc_config(issuer: &str, port: u16) -> String {
    format!(
        "sessions: {{ idle_minutes: 30, absolute_hours: 8 }}\n\
         oidc:\n  name: Example ID\n  issuer: {issuer}\n  client_id: {CLIENT_ID}\n  client_secret: {CLIENT_SECRET}\n  \
         redirect_url: http://127.0.0.1:{port}/login/oidc/callback\n  scopes: [openid, profile, groups]\n  \
         roles:\n    - {{ group: slipway-admins, role: admin }}\n    - {{ group: release-ops, role: ops }}\n"
    )
}

fn provider_users() -> Value {
    json!({
        "quinn": { "password": "quinn-at-the-provider", "name": "Quinn Q.", "groups": ["staff", "release-ops"] },
        "vera": { "password": "vera-at-the-provider", "name": "Vera V.", "groups": ["staff"] },
        "admin": { "password": "not-the-local-admin", "name": "Mallory", "groups": ["slipway-admins"] },
        "tamper-audience": { "password": "pw-tamper", "name": "T", "groups": ["release-ops"], "tamper": "audience" },
        "tamper-nonce": { "password": "pw-tamper", "name": "T", "groups": ["release-ops"], "tamper": "nonce" },
        "tamper-expired": { "password": "pw-tamper", "name": "T", "groups": ["release-ops"], "tamper": "expired" },
        "tamper-signature": { "password": "pw-tamper", "name": "T", "groups": ["release-ops"], "tamper": "signature" }
    })
}

#[test]
fn an_openid_sign_in_creates_the_user_with_the_role_of_their_groups() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let Some(mut provider) = OidcProvider::start(&redirect, &provider_users()) else {
        return;
    };
    let (server, _config) = slipway_with(port, &oidc_config(&provider.issuer, port));
    let base = server.url.clone();

    let mut c = Client::new();
    let page = c.get(&format!("{base}/login"));
    assert!(
        page.body.contains("Sign in with Example ID"),
        "{}",
        page.body
    );

    // Quinn: in release-ops, so ops; the name printed with their signatures is the provider's.
    let answer = provider_answer(&mut c, &base, "quinn", "quinn-at-the-provider");
    let landed = c.get(&answer);
    assert_eq!(landed.status, 200, "{}", landed.body);
    assert!(c.has_session(&base));
    assert!(landed
        .cookies
        .iter()
        .any(|(k, v)| k == "slipway_oidc" && v.is_empty()));
    let home = c.get(&format!("{base}/"));
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("quinn"),
        "the console shows who signed in"
    );
    let quinn = user(&base, "quinn").expect("quinn was created");
    assert_eq!(quinn["role"], "ops");
    assert_eq!(quinn["full_name"], "Quinn Q.");

    // The same answer again (a replay, with the flow cookie it came with) signs nobody in.
    let mut replay = Client::new();
    let first = provider_answer(&mut replay, &base, "quinn", "quinn-at-the-provider");
    let flow = replay.jar[&origin(&base)]["slipway_oidc"].clone();
    assert_eq!(replay.get(&first).status, 200);
    let mut thief = Client::new();
    thief
        .jar
        .entry(origin(&base))
        .or_default()
        .insert("slipway_oidc".into(), flow);
    let replayed = thief.get(&first);
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    assert!(
        replayed.body.contains("nobody was signed in"),
        "{}",
        replayed.body
    );
    assert!(!thief.has_session(&base));

    // A wrong state: the answer belongs to another sign-in.
    let mut c = Client::new();
    let answer = provider_answer(&mut c, &base, "quinn", "quinn-at-the-provider");
    let forged = answer.replace("state=", "state=0");
    let refused = c.get(&forged);
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("state"), "{}", refused.body);
    assert!(!c.has_session(&base));

    // An answer in a browser that never began the sign-in (no flow cookie).
    let mut stranger = Client::new();
    let refused = stranger.get(&answer);
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.contains("did not start in this browser"),
        "{}",
        refused.body
    );

    // Vera is in no mapped group: no account, no session.
    let mut c = Client::new();
    let answer = provider_answer(&mut c, &base, "vera", "vera-at-the-provider");
    let refused = c.get(&answer);
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.contains("none of the groups"),
        "{}",
        refused.body
    );
    assert!(user(&base, "vera").is_none());
    assert!(!c.has_session(&base));

    // "admin" at the provider is not Slipway's local admin: no takeover.
    let mut c = Client::new();
    let answer = provider_answer(&mut c, &base, "admin", "not-the-local-admin");
    let refused = c.get(&answer);
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.contains("never takes an account over"),
        "{}",
        refused.body
    );
    assert!(!c.has_session(&base));

    // ID tokens the provider's key signed but that are wrong: for another application, with
    // another sign-in's nonce, expired, or with a broken signature.
    for (who, why) in [
        ("tamper-audience", "is meant for `another-application`"),
        ("tamper-nonce", "nonce is not the one this sign-in sent"),
        ("tamper-expired", "expired at"),
        ("tamper-signature", "signature does not verify"),
    ] {
        let mut c = Client::new();
        let answer = provider_answer(&mut c, &base, who, "pw-tamper");
        let refused = c.get(&answer);
        assert_eq!(refused.status, 401, "{who}: {}", refused.body);
        assert!(refused.body.contains(why), "{who}: {}", refused.body);
        assert!(!c.has_session(&base), "{who}");
        assert!(user(&base, who).is_none(), "{who}");
    }

    // The provider goes down between the person's sign-in there and Slipway's exchange.
    let mut c = Client::new();
    let answer = provider_answer(&mut c, &base, "quinn", "quinn-at-the-provider");
    provider.stop();
    let down = c.get(&answer);
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(down.body.contains("did not answer"), "{}", down.body);
    assert!(!c.has_session(&base));

    let verbs = audit_verbs(&base);
    assert!(verbs.iter().any(|v| v == "session.login_failed"));
    assert_eq!(
        verbs.iter().filter(|v| *v == "user.create").count(),
        2,
        "admin and quinn only"
    );
}

fn directory_people() -> Vec<DirectoryPerson<'static>> {
    vec![
        DirectoryPerson {
            uid: "lena",
            name: "Lena L.",
            password: "lena-in-the-directory",
            groups: &["release-ops"],
        },
        DirectoryPerson {
            uid: "ned",
            name: "Ned N.",
            password: "ned-in-the-directory",
            groups: &["visitors"],
        },
    ]
}

fn ldap_config(url: &str) -> String {
    format!(
        "ldap:\n  url: {url}\n  user_dn: \"uid={{username}},ou=people,{BASE}\"\n  \
         groups: {{ base: \"ou=groups,{BASE}\" }}\n  \
         roles:\n    - {{ group: \"cn=release-ops,ou=groups,{BASE}\", role: ops }}\n"
    )
}

fn console_login(base: &str, username: &str, password: &str) -> (Reply, bool) {
    let mut c = Client::new();
    let reply = c.post_form(
        &format!("{base}/login"),
        &[("username", username), ("password", password)],
    );
    let signed_in = c.has_session(base);
    (reply, signed_in)
}

#[test]
fn a_directory_sign_in_maps_groups_to_roles_and_the_break_glass_admin_outlives_the_directory() {
    let Some(mut directory) = Directory::start(&directory_people()) else {
        return;
    };
    let (server, _config) = slipway_with(free_port(), &ldap_config(&directory.url));
    let base = server.url.clone();
    // The break-glass admin: a local account with a Slipway password.
    let created = ureq::post(&format!("{base}/api/v1/users"))
        .set("authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_json(json!({ "username": "breakglass", "role": "admin", "password": "break-glass-password" }));
    assert!(created.is_ok(), "{created:?}");

    let (reply, signed_in) = console_login(&base, "lena", "lena-in-the-directory");
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert!(signed_in);
    let lena = user(&base, "lena").expect("lena was created");
    assert_eq!(lena["role"], "ops");
    assert_eq!(lena["full_name"], "Lena L.");

    // The CLI's sign-in goes the same way.
    let api = ureq::post(&format!("{base}/api/v1/session"))
        .send_json(json!({ "username": "lena", "password": "lena-in-the-directory" }));
    assert!(api.is_ok(), "{api:?}");

    for (name, password, why) in [
        ("lena", "wrong", "wrong user name or password"),
        // An empty password is an unauthenticated bind, which slapd accepts: never a sign-in.
        ("lena", "", "wrong user name or password"),
        ("nobody", "whatever-it-is", "wrong user name or password"),
        ("ned", "ned-in-the-directory", "none of the groups"),
    ] {
        let (reply, signed_in) = console_login(&base, name, password);
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        assert!(
            reply.body.to_lowercase().contains(why),
            "{name}: {}",
            reply.body
        );
        assert!(!signed_in, "{name}");
    }
    assert!(user(&base, "ned").is_none());

    directory.stop();
    let (reply, signed_in) = console_login(&base, "lena", "lena-in-the-directory");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("did not answer"), "{}", reply.body);
    assert!(reply.body.contains("break-glass"), "{}", reply.body);
    assert!(!signed_in);
    let (reply, signed_in) = console_login(&base, "breakglass", "break-glass-password");
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert!(
        signed_in,
        "the local admin signs in while the directory is down"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn session_end(server: &Server) -> String {
    runtime().block_on(async {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
                .await
                .unwrap();
        let (end,): (String,) = sqlx::query_as("SELECT expires_at FROM sessions")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        end
    })
}

fn end_sessions_now(server: &Server) {
    runtime().block_on(async {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
                .await
                .unwrap();
        sqlx::query("UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000000Z'")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
}

#[test]
fn a_session_slides_while_used_ends_when_idle_and_its_cookie_lives_to_the_absolute_limit() {
    let Some(directory) = Directory::start(&directory_people()) else {
        return;
    };
    let config = format!(
        "sessions: {{ idle_minutes: 1, absolute_hours: 2 }}\n{}",
        ldap_config(&directory.url)
    );
    let (server, _config) = slipway_with(free_port(), &config);
    let base = server.url.clone();
    let mut c = Client::new();
    let reply = c.post_form(
        &format!("{base}/login"),
        &[("username", "lena"), ("password", "lena-in-the-directory")],
    );
    assert!(c.has_session(&base), "{}", reply.body);
    // The cookie lives to the absolute limit; the server ends the session sooner when idle.
    let raw: Vec<String> = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .post(&format!("{base}/login"))
        .send_form(&[("username", "lena"), ("password", "lena-in-the-directory")])
        .map_or_else(
            |e| match e {
                ureq::Error::Status(_, r) => {
                    r.all("set-cookie").iter().map(|s| s.to_string()).collect()
                }
                other => panic!("{other}"),
            },
            |r| r.all("set-cookie").iter().map(|s| s.to_string()).collect(),
        );
    assert!(
        raw.iter()
            .any(|c| c.starts_with("slipway_session=") && c.contains("Max-Age=7200")),
        "{raw:?}"
    );
    // Only this test's first session from here on.
    runtime().block_on(async {
        use sqlx::Connection;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.db_path().display()))
                .await
                .unwrap();
        sqlx::query(
            "DELETE FROM sessions WHERE expires_at <> (SELECT MIN(expires_at) FROM sessions)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
    let first = session_end(&server);
    // A request after more than a tenth of the idle time moves the end forward.
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(c.get(&format!("{base}/")).status, 200);
    let moved = session_end(&server);
    assert!(moved > first, "{moved} after {first}");
    // Past its end (idle), the session no longer opens the console.
    end_sessions_now(&server);
    let after = c.get(&format!("{base}/"));
    assert_eq!(after.status, 303);
    assert!(after.location.unwrap_or_default().ends_with("/login"));
}

#[test]
fn people_sign_in_through_the_provider_and_the_directory_in_a_real_browser() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let Some(_provider) = OidcProvider::start(&redirect, &provider_users()) else {
        return;
    };
    let Some(directory) = Directory::start(&directory_people()) else {
        return;
    };
    let config = format!(
        "{}{}",
        oidc_config(&_provider.issuer, port),
        ldap_config(&directory.url)
    );
    let (server, _config) = slipway_with(port, &config);
    let base = server.url.clone();
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);

    // Through the OpenID provider: the button, the provider's page, back signed in as ops.
    b.go(&format!("{base}/login"));
    b.click("#sso");
    b.wait_for_text("h1", "Test provider", Duration::from_secs(10));
    b.type_into("#login", "quinn");
    b.type_into("#password", "quinn-at-the-provider");
    b.click("#provider-submit");
    b.wait_for_text("header", "quinn", Duration::from_secs(15));
    assert_eq!(user(&base, "quinn").expect("quinn")["role"], "ops");
    b.click("header form button[type=submit]");
    b.wait_for_text("main", "Sign in", Duration::from_secs(10));

    // Through the directory: the same form as local accounts.
    b.type_into("#username", "lena");
    b.type_into("#password", "lena-in-the-directory");
    b.click("form.card button[type=submit]");
    b.wait_for_text("header", "lena", Duration::from_secs(15));
    assert_eq!(user(&base, "lena").expect("lena")["role"], "ops");
}

/// DEV, then a protected PROD where two ops approvals are needed, each an electronic signature.
const SIGNED_PROD: &str = "\
environments:
  - { name: DEV }
  - name: PROD
    protected: true
    require_signatures: false
    gates:
      approvals: { count: 2, role: ops }
      change_request: false
      signatures: [approvals, rejections, overrides]
project:
  name: sig
  components:
    - { name: app, kind: file }
  plan:
    - { name: Say hello, action: command, roles: [app], with: { run: \"echo hello\" } }
  lifecycles:
    - name: standard
      phases:
        - { name: test, environments: [DEV] }
        - { name: live, environments: [PROD] }
";

/// Release 1.0.0 of `sig` in DEV, asked into PROD: promotion 2 waits for two signed approvals.
fn waiting_for_signed_prod(server: &Server, work: &std::path::Path) -> Vec<AgentProcess> {
    server.release_app(work, "sig", SIGNED_PROD);
    let mut agents = Vec::new();
    for (env, name) in [("DEV", "dev-01"), ("PROD", "prod-01")] {
        let token = server.enrollment_token(env, &["app"]);
        agents.push(spawn_agent(
            &server.url,
            name,
            &work.join(name),
            Some(&token),
        ));
        server.wait_online(name);
    }
    ok(server.deploy("sig", "1.0.0", "DEV"));
    ok(server.start_deploy("sig", "1.0.0", "PROD"));
    server.wait_for_promotion(2, "waiting");
    agents
}

#[test]
fn single_sign_on_people_sign_with_a_fresh_sign_in_or_a_directory_bind_never_the_session() {
    let Some(chromedriver) = browser::browser_tools() else {
        return;
    };
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let Some(provider) = OidcProvider::start(&redirect, &provider_users()) else {
        return;
    };
    let Some(directory) = Directory::start(&directory_people()) else {
        return;
    };
    let config = format!(
        "{}{}",
        oidc_config(&provider.issuer, port),
        ldap_config(&directory.url)
    );
    let (server, _config) = slipway_with(port, &config);
    let work = tempfile::tempdir().expect("a temporary folder");
    let _agents = waiting_for_signed_prod(&server, work.path());
    let base = server.url.clone();

    // Lena (LDAP) signs with her directory password, checked by a new bind; a wrong one
    // changes nothing.
    let mut lena = Client::new();
    let signed_in = lena.post_json(
        &format!("{base}/api/v1/session"),
        &json!({ "username": "lena", "password": "lena-in-the-directory" }),
        None,
    );
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let csrf: Value = serde_json::from_str(&signed_in.body).expect("JSON");
    let csrf = csrf["csrf_token"]
        .as_str()
        .expect("a CSRF token")
        .to_string();
    let approve = format!("{base}/api/v1/promotions/2/approve");
    let wrong = lena.post_json(
        &approve,
        &json!({ "comment": "checked", "password": "not-lenas" }),
        Some(&csrf),
    );
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    let right = lena.post_json(
        &approve,
        &json!({ "comment": "checked the plan", "password": "lena-in-the-directory" }),
        Some(&csrf),
    );
    assert!(right.status < 300, "{}", right.body);

    // Quinn (OpenID) has no password to give: the page sends him to the provider again.
    let driver = browser::start_driver(&chromedriver);
    let b = browser::Browser::open(&driver);
    let wait = Duration::from_secs(15);
    b.go(&format!("{base}/login"));
    b.click("#sso");
    b.wait_for_text("h1", "Test provider", wait);
    b.type_into("#login", "quinn");
    b.type_into("#password", "quinn-at-the-provider");
    b.click("#provider-submit");
    b.wait_for_text("header", "quinn", wait);

    // Voting on the strength of the session alone is refused.
    b.go(&format!("{base}/promotions/2"));
    b.wait_for_text("h1", "Promotion 2", wait);
    b.type_into("#vote-comment", "looks right");
    b.click("#approve");
    // The refusal's own words: the promotion page itself says "one fresh sign-in signs one
    // vote", so waiting for "fresh sign-in" alone passed before the refused vote had answered,
    // and the next navigation then raced the form's answer (its 422 page).
    b.wait_for_text("main", "needs a fresh sign-in there", wait);

    // A fresh sign-in at the provider (it asks again: prompt=login), then the vote signs.
    b.go(&format!("{base}/promotions/2"));
    b.wait_for_text("h1", "Promotion 2", wait);
    b.click("#sign-again a");
    b.wait_for_text("h1", "Test provider", wait);
    b.type_into("#login", "quinn");
    b.type_into("#password", "quinn-at-the-provider");
    b.click("#provider-submit");
    b.wait_for_text("h1", "Promotion 2", wait);
    b.type_into("#vote-comment", "plan reviewed after signing in again");
    b.click("#approve");
    b.wait_for_text(
        "#vote-list",
        "Signed by Quinn Q. (quinn) — approval — ",
        wait,
    );
    let votes = b.text("#vote-list");
    assert!(
        votes.contains("Signed by Lena L. (lena) — approval — "),
        "{votes}"
    );

    let verbs = audit_verbs(&base);
    assert!(
        verbs.iter().any(|v| v == "signature.reauthenticated"),
        "{verbs:?}"
    );
    assert!(verbs.iter().any(|v| v == "signature.failed"), "{verbs:?}");
}

/// Take lena out of `release-ops` (the group's only member is replaced: `groupOfNames` needs
/// one), as the directory's admin, with the OpenLDAP tools.
fn remove_lena_from_release_ops(url: &str) {
    use std::io::Write;
    let ldif = format!(
        "dn: cn=release-ops,ou=groups,{BASE}\nchangetype: modify\nreplace: member\nmember: cn=nobody,{BASE}\n"
    );
    let mut child = std::process::Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            url,
            "-D",
            &format!("cn=admin,{BASE}"),
            "-w",
            "directory-admin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ldapmodify runs (Debian package ldap-utils)");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(ldif.as_bytes())
        .expect("the change is sent");
    let done = child.wait_with_output().expect("ldapmodify ends");
    assert!(
        done.status.success(),
        "ldapmodify: {}",
        String::from_utf8_lossy(&done.stderr)
    );
}

#[test]
fn a_person_taken_out_of_their_directory_groups_loses_sessions_and_tokens_at_the_next_recheck() {
    let Some(directory) = Directory::start(&directory_people()) else {
        return;
    };
    let folder = tempfile::tempdir().expect("a temporary folder");
    let password_file = folder.path().join("reader-password");
    std::fs::write(&password_file, "directory-admin\n").expect("the password file");
    // Re-checked at every request, as the directory's admin account reads.
    let config = format!(
        "{}  recheck: {{ minutes: 0, bind_dn: \"cn=admin,{BASE}\", bind_password_file: {} }}\n",
        ldap_config(&directory.url),
        password_file.display()
    );
    let (server, _config) = slipway_with(free_port(), &config);
    let base = server.url.clone();
    let mut lena = Client::new();
    let signed_in = lena.post_json(
        &format!("{base}/api/v1/session"),
        &json!({ "username": "lena", "password": "lena-in-the-directory" }),
        None,
    );
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let token: Value = serde_json::from_str(&ok(server.cli(
        None,
        &[
            "token", "create", "--name", "ci", "--user", "lena", "-o", "json",
        ],
    )))
    .expect("JSON");
    let token = token["secret"].as_str().expect("a secret").to_string();
    let whoami = format!("{base}/api/v1/whoami");
    let with_token = |token: &str| match ureq::get(&whoami)
        .set("authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
        Err(e) => panic!("{e}"),
    };
    // Still in the group: every re-check lets her through.
    assert_eq!(lena.get(&whoami).status, 200);
    assert_eq!(with_token(&token), 200);
    assert_eq!(lena.get(&whoami).status, 200);

    remove_lena_from_release_ops(&directory.url);
    assert_eq!(lena.get(&whoami).status, 401, "the session ended");
    assert_eq!(with_token(&token), 401, "the token was revoked");
    let ended = audit_verbs(&base)
        .iter()
        .filter(|v| *v == "user.access_ended")
        .count();
    assert_eq!(ended, 1);
    // And she cannot sign in again while in no mapped group.
    let again = Client::new().post_json(
        &format!("{base}/api/v1/session"),
        &json!({ "username": "lena", "password": "lena-in-the-directory" }),
        None,
    );
    assert_eq!(again.status, 401, "{}", again.body);
}
