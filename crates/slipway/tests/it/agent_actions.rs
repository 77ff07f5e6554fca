//! The archive and SQL actions for real: a server, agent processes, archives built here and
//! pushed to the vault, a SQLite database on disk; the automatic rollback puts the extracted
//! tree and the database back exactly as they were, and hostile archives write nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// A site unpacked from an archive, a schema migrated from SQL scripts, and a check that fails
/// while `fail_flag` exists. INT unpacks at most 64 KiB per archive.
fn site_yaml(app: &Path, db: &Path, fail_flag: &Path) -> String {
    format!(
        r#"
environments:
  - name: DEV
    on_failure: roll_back
  - name: INT
    on_failure: roll_back
project:
  name: site
  components:
    - {{ name: web, kind: archive }}
    - {{ name: schema, kind: sql }}
  variables:
    - {{ name: APP, value: "{app}" }}
    - {{ name: DB_URL, value: "sqlite://{db}?mode=rwc" }}
    - {{ name: SLIPWAY_ARCHIVE_MAX_BYTES, value: "65536", environment: INT }}
  plan:
    - name: Unpack the site
      action: archive.extract
      roles: [web]
      with: {{ component: web, destination: "${{APP}}/web", keep: 2 }}
    - name: Migrate
      action: sql.run
      roles: [web]
      with: {{ component: schema, connection: "${{DB_URL}}", script: up.sql, rollback_script: down.sql }}
    - name: Smoke test
      action: command
      roles: [web]
      with: {{ run: "test ! -e {flag}", timeout_secs: 20 }}
"#,
        app = app.display(),
        db = db.display(),
        flag = fail_flag.display()
    )
}

struct Fixture {
    server: Server,
    _agents: Vec<AgentProcess>,
    app: tempfile::TempDir,
    db: PathBuf,
    fail_flag: PathBuf,
    work: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    let db = work.path().join("db/site.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let fail_flag = work.path().join("fail-now");
    let config = file(
        work.path(),
        "site.yaml",
        &site_yaml(app.path(), &db, &fail_flag),
    );
    ok(server.apply(&config));
    let mut agents = Vec::new();
    for env in ["DEV", "INT"] {
        let token = server.enrollment_token(env, &["web"]);
        let child = slipway_command()
            .args([
                "agent",
                "--insecure-http",
                "--server",
                &server.url,
                "--name",
                &format!("{}-01", env.to_lowercase()),
                "--enroll-token",
                &token,
                "--data",
            ])
            .arg(work.path().join(format!("agent-{env}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        agents.push(AgentProcess(child));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = json(server.cli(None, &["target", "list", "-o", "json"]));
        let online = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["liveness"] == "online")
            .count();
        if online == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "agents did not come online");
        std::thread::sleep(Duration::from_millis(100));
    }
    Fixture {
        server,
        _agents: agents,
        app,
        db,
        fail_flag,
        work,
    }
}

/// What goes into a test archive.
enum Item<'a> {
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}
use Item::*;

fn tar_gz(items: &[Item]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for item in items {
        let mut header = tar::Header::new_gnu();
        let (name, data, kind, mode, target) = match item {
            File(name, data, mode) => (*name, *data, tar::EntryType::Regular, *mode, None),
            Symlink(name, target) => (
                *name,
                &b""[..],
                tar::EntryType::Symlink,
                0o777,
                Some(*target),
            ),
        };
        // The name is written raw: `set_path` refuses the hostile names some tests need.
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        if let Some(target) = target {
            header.set_link_name(target).unwrap();
        }
        header.set_cksum();
        tar.append(&header, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

fn zip(items: &[Item]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for item in items {
        match item {
            File(name, data, mode) => {
                let options = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .unix_permissions(*mode);
                zip.start_file(*name, options).unwrap();
                zip.write_all(data).unwrap();
            }
            Symlink(name, target) => zip
                .add_symlink(*name, *target, SimpleFileOptions::default())
                .unwrap(),
        }
    }
    zip.finish().unwrap().into_inner()
}

/// Push both components' archives and make a release of them.
fn release(f: &Fixture, version: &str, web: Vec<u8>, schema: Vec<u8>) {
    for (component, bytes) in [("web", web), ("schema", schema)] {
        let path = f.work.path().join(format!("{component}-{version}.archive"));
        std::fs::write(&path, bytes).unwrap();
        ok(f.server
            .push_artifact(path.to_str().unwrap(), "site", component, version));
    }
    ok(f.server
        .release_unsigned("site", version, &["web", "schema"]));
}

fn deploy(f: &Fixture, version: &str, env: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "deploy",
        "--project",
        "site",
        "--release",
        version,
        "--env",
        env,
        "--wait",
        "--timeout",
        "120",
    ];
    args.extend_from_slice(extra);
    f.server.cli(None, &args)
}

fn logs(f: &Fixture, deployment: u32) -> String {
    ok(f.server
        .cli(None, &["deployment", "logs", &deployment.to_string()]))
}

/// Every entry under `root`: files with their permission bits and content, links as their
/// target, folders as such.
fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("-> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, "folder".into());
                walk(root, &path, out);
            } else {
                let content = std::fs::read(&path).unwrap();
                out.insert(
                    rel,
                    format!(
                        "{:o} {}",
                        meta.permissions().mode() & 0o777,
                        String::from_utf8_lossy(&content)
                    ),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The database as a person would compare it: its schema, then every row of every table.
fn dump(db: &Path) -> Vec<String> {
    use sqlx::{Connection, Row};
    if !db.exists() {
        return vec!["<no database file>".into()];
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let objects = sqlx::query(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut out = Vec::new();
        for object in objects {
            let (kind, name, sql): (String, String, String) =
                (object.get(0), object.get(1), object.get(2));
            out.push(format!("{kind} {name}: {sql}"));
            if kind != "table" {
                continue;
            }
            let columns: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
                    .bind(&name)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            let row_text = columns
                .iter()
                .map(|(c,)| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT {row_text} FROM \"{name}\" ORDER BY rowid"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            out.extend(rows.into_iter().map(|(r,)| format!("  {name}: {r}")));
        }
        out
    })
}

const V1_UP: &[u8] = b"-- 1.0.0: the pets table\n\
CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
INSERT INTO pets (id, name) VALUES (1, 'Rex'), (2, 'Tom');\n";
const V1_DOWN: &[u8] = b"DROP TABLE pets;\n";
const V2_UP: &[u8] = b"CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n\
INSERT INTO owners VALUES (1, 'Ann; of Green Gables');\n\
INSERT INTO pets (id, name) VALUES (3, 'Felix');\n\
UPDATE pets SET name = 'Rex II' WHERE id = 1;\n";
const V2_DOWN: &[u8] = b"UPDATE pets SET name = 'Rex' WHERE id = 1;\n\
DELETE FROM pets WHERE id = 3;\n\
DROP TABLE owners;\n";

/// 1.0.0 ships its site as tar.gz and its schema as zip; 2.0.0 the other way round.
fn two_releases(f: &Fixture) {
    let web1 = tar_gz(&[
        File("index.html", b"<h1>v1</h1>", 0o644),
        File("assets/app.js", b"console.log('v1')", 0o644),
        File("bin/run.sh", b"#!/bin/sh\necho v1\n", 0o755),
        Symlink("latest", "index.html"),
    ]);
    let schema1 = zip(&[
        File("up.sql", V1_UP, 0o644),
        File("down.sql", V1_DOWN, 0o644),
    ]);
    release(f, "1.0.0", web1, schema1);
    let web2 = zip(&[
        File("index.html", b"<h1>v2</h1>", 0o644),
        File("assets/app.js", b"console.log('v2')", 0o600),
        File("new.html", b"new in v2", 0o644),
        Symlink("latest", "new.html"),
    ]);
    let schema2 = tar_gz(&[
        File("up.sql", V2_UP, 0o644),
        File("down.sql", V2_DOWN, 0o644),
    ]);
    release(f, "2.0.0", web2, schema2);
}

#[test]
fn a_failed_release_puts_the_extracted_tree_and_the_database_back_exactly() {
    let f = fixture();
    two_releases(&f);
    let first = ok(deploy(&f, "1.0.0", "DEV", &[]));
    assert!(first.contains("deployment 1: succeeded"), "{first}");
    let web = f.app.path().join("web");
    assert_eq!(
        std::fs::read_to_string(web.join("current/index.html")).unwrap(),
        "<h1>v1</h1>"
    );
    assert_eq!(
        std::fs::read_to_string(web.join("current/latest")).unwrap(),
        "<h1>v1</h1>"
    );
    let run_sh = Command::new(web.join("current/bin/run.sh"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&run_sh.stdout), "v1\n");
    let v1_db = dump(&f.db);
    assert!(v1_db.contains(&"  pets: 1|'Rex'".to_string()), "{v1_db:?}");
    assert!(v1_db.contains(&"  pets: 2|'Tom'".to_string()), "{v1_db:?}");
    let log = logs(&f, 1);
    assert!(
        log.contains("up.sql from schema 1.0.0: 2 statement(s) committed"),
        "{log}"
    );
    let v1_tree = tree(f.app.path());

    // 2.0.0 unpacks and migrates, then its smoke test fails: DEV rolls back by itself.
    std::fs::write(&f.fail_flag, "").unwrap();
    let out = deploy(&f, "2.0.0", "DEV", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("failed and was rolled back"),
        "{}",
        stderr(&out)
    );
    let log = logs(&f, 2);
    for line in [
        "extracted web 2.0.0 (zip): 3 file(s), 0 folder(s), 1 link(s), 37 bytes",
        "up.sql from schema 2.0.0: 4 statement(s) committed",
        "down.sql from schema 2.0.0: 3 statement(s) committed",
        "is back to 1.0.0",
    ] {
        assert!(log.contains(line), "`{line}` missing:\n{log}");
    }
    assert_eq!(
        tree(f.app.path()),
        v1_tree,
        "the tree differs after the rollback"
    );
    assert_eq!(
        dump(&f.db),
        v1_db,
        "the database differs after the rollback"
    );

    // Forward again, then undone later as a deployment of its own: the same exact state.
    std::fs::remove_file(&f.fail_flag).unwrap();
    ok(deploy(&f, "2.0.0", "DEV", &[]));
    assert_eq!(
        std::fs::read_to_string(web.join("current/latest")).unwrap(),
        "new in v2"
    );
    assert!(dump(&f.db).contains(&"  owners: 1|'Ann; of Green Gables'".to_string()));
    ok(f.server.cli(
        None,
        &[
            "rollback",
            "--project",
            "site",
            "--env",
            "DEV",
            "--wait",
            "--timeout",
            "60",
        ],
    ));
    assert_eq!(tree(f.app.path()), v1_tree);
    assert_eq!(dump(&f.db), v1_db);
}

#[test]
fn a_failing_script_leaves_the_database_as_it_was() {
    let f = fixture();
    two_releases(&f);
    ok(deploy(&f, "1.0.0", "DEV", &[]));
    let (v1_tree, v1_db) = (tree(f.app.path()), dump(&f.db));
    let broken = b"CREATE TABLE owners (id INTEGER);\n\
        INSERT INTO pets (id, name) VALUES (9, 'Ghost');\n\
        INSERT INTO nowhere VALUES (1);\n";
    release(
        &f,
        "3.0.0",
        zip(&[File("index.html", b"<h1>v3</h1>", 0o644)]),
        zip(&[File("up.sql", broken, 0o644), File("down.sql", b"", 0o644)]),
    );
    let out = deploy(&f, "3.0.0", "DEV", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let log = logs(&f, 2);
    assert!(log.contains("statement 3 failed"), "{log}");
    assert!(log.contains("no such table: nowhere"), "{log}");
    assert!(log.contains("the transaction was rolled back"), "{log}");
    // The failed step is not undone (it changed nothing); the extraction before it is.
    assert!(!log.contains("down.sql"), "{log}");
    assert_eq!(dump(&f.db), v1_db);
    assert_eq!(tree(f.app.path()), v1_tree);

    // A migration whose declared undo is missing from its archive does not run at all.
    release(
        &f,
        "4.0.0",
        zip(&[File("index.html", b"<h1>v4</h1>", 0o644)]),
        zip(&[
            File("up.sql", V2_UP, 0o644),
            File("downgrade.sql", V2_DOWN, 0o644),
        ]),
    );
    let out = deploy(&f, "4.0.0", "DEV", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let log = logs(&f, 3);
    assert!(
        log.contains("script down.sql is not in the component's archive (it holds: downgrade.sql, up.sql); refusing to run up.sql as it could not be undone"),
        "{log}"
    );
    assert_eq!(dump(&f.db), v1_db);
    assert_eq!(tree(f.app.path()), v1_tree);
}

#[test]
fn a_dry_run_lists_the_archive_and_probes_the_database_changing_nothing() {
    let f = fixture();
    two_releases(&f);
    let out = ok(deploy(&f, "1.0.0", "DEV", &["--dry-run"]));
    assert!(
        out.contains(
            "would extract web 1.0.0 (tar.gz: 3 file(s), 0 folder(s), 1 link(s), 46 bytes)"
        ),
        "{out}"
    );
    assert!(out.contains("no entry leaves the destination"), "{out}");
    assert!(out.contains("would run up.sql from schema 1.0.0"), "{out}");
    assert!(
        out.contains("does not exist yet and will be created"),
        "{out}"
    );
    assert!(tree(f.app.path()).is_empty());
    assert!(!f.db.exists(), "a dry run created the database");
}

#[test]
fn archives_that_would_escape_are_refused_and_write_nothing() {
    let f = fixture();
    let schema = || {
        zip(&[
            File("up.sql", V1_UP, 0o644),
            File("down.sql", V1_DOWN, 0o644),
        ])
    };
    release(
        &f,
        "6.6.6",
        tar_gz(&[
            File("index.html", b"fine", 0o644),
            File("../escape", b"gotcha", 0o644),
        ]),
        schema(),
    );
    release(
        &f,
        "6.6.7",
        zip(&[File("index.html", b"fine", 0o644), Symlink("docs", "/etc")]),
        schema(),
    );
    release(
        &f,
        "6.6.8",
        tar_gz(&[
            Symlink("up", "sub/.."),
            Symlink("sub", "."),
            File("index.html", b"fine", 0o644),
        ]),
        schema(),
    );
    for (number, (version, refusal)) in [
        (
            "6.6.6",
            "entry `../escape` would land outside the destination: its path climbs out",
        ),
        (
            "6.6.7",
            "entry `docs` would land outside the destination: it links to the absolute path /etc",
        ),
        (
            "6.6.8",
            "entry `up` would land outside the destination: its link target sub/.. climbs above",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = deploy(&f, version, "DEV", &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        let log = logs(&f, number as u32 + 1);
        assert!(log.contains(refusal), "{log}");
        assert!(log.contains("nothing was extracted"), "{log}");
        assert!(tree(f.app.path()).is_empty(), "{:?}", tree(f.app.path()));
        assert!(!f.app.path().parent().unwrap().join("escape").exists());
        assert!(!f.db.exists(), "the migration after the refused step ran");
    }
}

#[test]
fn an_archive_bomb_is_refused_by_the_configured_limit() {
    let f = fixture();
    let zeros = vec![0u8; 1 << 20];
    let bomb = tar_gz(&[
        File("index.html", b"hi", 0o644),
        File("zeros.bin", &zeros, 0o644),
    ]);
    assert!(bomb.len() < 10_000, "the test bomb should compress well");
    release(
        &f,
        "9.9.9",
        bomb,
        zip(&[
            File("up.sql", V1_UP, 0o644),
            File("down.sql", V1_DOWN, 0o644),
        ]),
    );
    let out = deploy(&f, "9.9.9", "INT", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let log = logs(&f, 1);
    assert!(
        log.contains("unpacks to more than 65536 bytes; refused as a possible archive bomb"),
        "{log}"
    );
    assert!(tree(f.app.path()).is_empty());
    // DEV keeps the default limit (4 GiB): the same release goes through there.
    ok(deploy(&f, "9.9.9", "DEV", &[]));
    assert_eq!(
        std::fs::metadata(f.app.path().join("web/current/zeros.bin"))
            .unwrap()
            .len(),
        1 << 20
    );
}
