//! A real headless Chromium driven through chromedriver's W3C WebDriver API, for console tests
//! here and in `crates/server/tests/console_browser.rs` (which includes this file by path).
//! Skipped with a loud message when Chromium or chromedriver is missing — never on CI (`CI` set),
//! where that is a failure instead.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// chromedriver, or `None` when the test may be skipped here (never on CI).
pub(crate) fn browser_tools() -> Option<PathBuf> {
    let driver = on_path("chromedriver");
    let missing = match (Path::new(CHROMIUM).is_file(), &driver) {
        (true, Some(_)) => return driver,
        (false, _) => format!("{CHROMIUM} is missing"),
        (true, None) => "chromedriver is not on PATH".to_string(),
    };
    if std::env::var_os("CI").is_some() {
        panic!("{missing}: CI must install chromium and chromium-driver (apt-get install -y chromium chromium-driver) to run the console's browser tests");
    }
    slipway_store::testing::report_skipped(&format!(
        "the browser: {missing}; install chromium and chromium-driver to run it"
    ));
    None
}

/// axe-core's script (the accessibility engine, from npm): `SLIPWAY_AXE_JS`, else where `.ci/run`
/// installs it (`~/.cache/slipway-npm/node_modules/axe-core/axe.min.js`). `None` when the check
/// may be skipped here (never on CI).
pub(crate) fn axe_source() -> Option<String> {
    let path = std::env::var_os("SLIPWAY_AXE_JS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| {
                PathBuf::from(home).join(".cache/slipway-npm/node_modules/axe-core/axe.min.js")
            })
        });
    if let Some(source) = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        return Some(source);
    }
    let missing = format!(
        "axe-core is missing ({}); install it with `npm install --prefix ~/.cache/slipway-npm axe-core@4`",
        path.map_or_else(|| "no HOME".to_string(), |p| p.display().to_string())
    );
    if std::env::var_os("CI").is_some() {
        panic!("{missing}: CI must install it to run the accessibility check");
    }
    slipway_store::testing::report_skipped(&format!("the accessibility check: {missing}"));
    None
}

/// chromedriver, stopped when the test ends however it ends.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Asked politely, chromedriver reaps the browsers it started; killing is the fallback.
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        let _ = agent.get(&format!("{}/shutdown", self.url)).call();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

pub(crate) fn start_driver(program: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = agent
            .get(&format!("{}/status", driver.url))
            .call()
            .ok()
            .and_then(|r| r.into_json::<Value>().ok())
            .is_some_and(|v| v["value"]["ready"] == true);
        if ready {
            return driver;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not become ready within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One WebDriver session: a headless Chromium with a throw-away profile, 1366×768.
pub(crate) struct Browser {
    agent: ureq::Agent,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) fn open(driver: &Driver) -> Browser {
        let profile = tempfile::tempdir().expect("a profile folder");
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1366,768",
                     format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let created: Value = match agent
            .post(&format!("{}/session", driver.url))
            .send_json(capabilities)
        {
            Ok(r) => r.into_json().expect("json"),
            Err(ureq::Error::Status(code, r)) => panic!(
                "chromedriver refused the session ({code}): {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => panic!("chromedriver did not answer: {e}"),
        };
        let session = created["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Browser {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
            session: format!("{}/session/{session}", driver.url),
            _profile: profile,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let request = self
            .agent
            .request(method, &format!("{}{path}", self.session));
        let result = match body {
            Some(b) => request.send_json(b),
            None => request.call(),
        };
        match result {
            Ok(r) => r.into_json::<Value>().expect("json")["value"].clone(),
            Err(ureq::Error::Status(code, r)) => panic!(
                "WebDriver {method} {path} failed ({code}): {}",
                r.into_string().unwrap_or_default()
            ),
            Err(e) => panic!("WebDriver {method} {path} failed: {e}"),
        }
    }

    pub(crate) fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    pub(crate) fn find(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.command("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    pub(crate) fn click(&self, css: &str) {
        let id = self.find(css);
        self.command("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    pub(crate) fn script(&self, source: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": source, "args": [] })),
        )
    }

    /// The WCAG 2.1 A and AA rules axe-core finds broken on the current page, one line each
    /// (rule, what it asks, the first elements that break it); empty when there are none.
    pub(crate) fn accessibility_violations(&self, axe: &str) -> Vec<String> {
        self.script(&format!("{axe}\n;return null;"));
        let found = self.command(
            "POST",
            "/execute/async",
            Some(json!({ "script": "const done = arguments[arguments.length - 1]; axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then(r => done(r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))).catch(e => done(['axe failed: ' + e]));", "args": [] })),
        );
        serde_json::from_value(found).expect("a list of violations")
    }

    /// The text a reader sees in `css` (empty when there is no such element).
    pub(crate) fn text(&self, css: &str) -> String {
        self.script(&format!(
            "const e = document.querySelector({}); return e ? e.innerText : '';",
            json!(css)
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// The text in `css`, once it contains `needle` (polled, at most `within`).
    pub(crate) fn wait_for_text(&self, css: &str, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text(css);
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "`{needle}` did not appear in {css} within {within:?}; it shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The path and query of the current page.
    pub(crate) fn path(&self) -> String {
        let url = self
            .command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string();
        url.splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or(url)
    }

    /// Show pages as a device `width` × `height` CSS pixels wide would (a phone at 390 px,
    /// a desktop at 1400 px), through Chromium's own device emulation.
    pub(crate) fn viewport(&self, width: u32, height: u32) {
        self.command(
            "POST",
            "/goog/cdp/execute",
            Some(
                json!({ "cmd": "Emulation.setDeviceMetricsOverride", "params": {
                    "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600
                }}),
            ),
        );
    }

    /// Save the whole current page as `NAME.png` among the test artefacts (`SLIPWAY_SCREENSHOTS`,
    /// else `screenshots/` in the Cargo target folder); returns the file written.
    pub(crate) fn screenshot(&self, name: &str) -> PathBuf {
        let shot = self.command(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": "Page.captureScreenshot", "params": {
                "format": "png", "captureBeyondViewport": true
            }})),
        );
        let png = decode_base64(shot["data"].as_str().expect("a base64 screenshot"));
        let folder = screenshot_folder();
        std::fs::create_dir_all(&folder).expect("the screenshot folder can be made");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot can be written");
        path
    }

    /// Press keys on whatever has the focus, as a person at the keyboard would: each char of
    /// `keys` is typed, WebDriver's private-use code points are keys (`TAB`, `ENTER`, …).
    pub(crate) fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let key = c.to_string();
                [
                    json!({ "type": "keyDown", "value": key }),
                    json!({ "type": "keyUp", "value": key }),
                ]
            })
            .collect();
        self.command(
            "POST",
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        );
        self.command("DELETE", "/actions", None);
    }

    /// Press Tab until the focused element matches `css` (at most `max` presses) and check the
    /// focus is visible there; how many presses it took. Fails when the element cannot be
    /// reached from the keyboard.
    pub(crate) fn tab_to(&self, css: &str, max: usize) -> usize {
        for presses in 1..=max {
            self.press(TAB);
            let here = self.script(&format!(
                "const e = document.activeElement; if (!e || !e.matches({})) return null; \
                 const s = getComputedStyle(e); const r = e.getBoundingClientRect(); \
                 return [s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2, r.width > 0 && r.height > 0];",
                json!(css)
            ));
            if here.is_null() {
                continue;
            }
            assert_eq!(
                here,
                json!([true, true]),
                "{css} has the focus but does not show it (outline, size)"
            );
            return presses;
        }
        let at = self
            .script("const e = document.activeElement; return e ? e.outerHTML.slice(0, 200) : '';");
        panic!("{css} was not reached with {max} presses of Tab; the focus is on {at}");
    }

    /// The cells of every body row of the first table in `css`.
    pub(crate) fn table(&self, css: &str) -> Vec<Vec<String>> {
        let rows = self.script(&format!("return [...document.querySelectorAll({})].map(r => [...r.cells].map(c => c.innerText.trim()));", json!(format!("{css} tbody tr"))));
        serde_json::from_value(rows).expect("rows of cells")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium before chromedriver itself is stopped.
        let _ = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build()
            .delete(&self.session)
            .call();
    }
}

/// Where screenshots go: `SLIPWAY_SCREENSHOTS`, else `CARGO_TARGET_DIR/screenshots`, else the
/// workspace's `target/screenshots`.
fn screenshot_folder() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLIPWAY_SCREENSHOTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

/// Standard base64 (what WebDriver and the DevTools protocol send), padding optional.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: {other:?}"),
        }
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut bits = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            bits |= value(*c) << (18 - 6 * i);
        }
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// WebDriver's key code points.
pub(crate) const TAB: &str = "\u{E004}";
pub(crate) const ENTER: &str = "\u{E007}";
pub(crate) const ARROW_UP: &str = "\u{E013}";
pub(crate) const ARROW_DOWN: &str = "\u{E015}";
pub(crate) const SPACE: &str = "\u{E00D}";
pub(crate) const ESCAPE: &str = "\u{E00C}";

/// Fail unless the page is no wider than the window (nothing scrolls sideways but boxes meant to).
pub(crate) fn no_sideways_scroll(b: &Browser, page: &str) {
    let sizes = b.script("return [document.scrollingElement.scrollWidth, window.innerWidth];");
    let (scroll, inner) = (sizes[0].as_f64().unwrap(), sizes[1].as_f64().unwrap());
    assert!(
        scroll <= inner,
        "{page} scrolls sideways at {inner} px: it is {scroll} px wide"
    );
}

/// Fail if a box that hides its overflow cuts text off sideways: "no sideways scroll" would not
/// see it. Boxes meant to scroll (`overflow: auto/scroll`) are fine; so are the 1-pixel boxes of
/// text kept for screen readers only, and text whose whole value is on hover (`title`).
pub(crate) fn no_clipped_text(b: &Browser, page: &str) {
    let clipped = b.script(
        "return [...document.querySelectorAll('main *')].filter(e => { \
           const s = getComputedStyle(e); \
           if (!['hidden', 'clip'].includes(s.overflowX)) return false; \
           if (e.clientWidth <= 1 || e.closest('[title]') || e.offsetParent === null) return false; \
           return e.scrollWidth > e.clientWidth + 1 && e.textContent.trim() !== ''; \
         }).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ': ' + e.textContent.trim().slice(0, 60));",
    );
    let clipped = clipped.as_array().cloned().unwrap_or_default();
    assert!(
        clipped.is_empty(),
        "{page} cuts text off in a box that hides its overflow: {clipped:?}"
    );
}
