//! A real browser for the dashboard tests: Debian's headless Chromium,
//! driven through chromedriver (WebDriver) with the fantoccini client.
//! Each method blocks until done, so tests read top to bottom.

use fantoccini::{Client, Locator};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    /// Where screenshots go (kept as test artifacts).
    pub shots: std::path::PathBuf,
}

/// The legacy (but supported) chromedriver call that returns the browser's
/// console since the last call.
#[derive(Debug)]
struct ConsoleLog;

impl fantoccini::wd::WebDriverCompatibleCommand for ConsoleLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_string()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// A fresh headless Chromium with an empty profile, `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; .ci/run installs it)");
        let profile = tempfile::tempdir().expect("profile dir").keep();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), serde_json::json!({ "browser": "ALL" }));
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let attempt = rt.block_on(
                fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}")),
            );
            match attempt {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("no WebDriver session from chromedriver: {e}"),
            }
        };
        let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Browser {
            rt,
            client: Some(client),
            driver,
            shots,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("an open session")
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.c().goto(url)).expect("navigate");
    }

    /// Runs `js` (a function body; `arguments` are not passed) and returns its value.
    pub fn eval(&self, js: &str) -> Value {
        self.rt.block_on(self.c().execute(js, vec![])).expect("execute script")
    }

    /// Runs `js` asynchronously: it calls `arguments[arguments.length - 1]`
    /// with its result.
    #[allow(dead_code)]
    pub fn eval_async(&self, js: &str) -> Value {
        self.rt
            .block_on(self.c().execute_async(js, vec![]))
            .expect("execute async script")
    }

    /// Waits until `css` matches an element whose text contains `text`.
    pub fn wait_text(&self, css: &str, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let seen = self.texts(css);
            if let Some(t) = seen.iter().find(|t| t.contains(text)) {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no `{css}` with text {text:?} within {secs} s; seen: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The texts of every element `css` matches.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let js = format!(
            "return Array.from(document.querySelectorAll({})).map(e => e.innerText || e.textContent || '')",
            serde_json::to_string(css).unwrap_or_default()
        );
        self.eval(&js)
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// Clicks the first element `css` matches, waiting for it to appear.
    pub fn click(&self, css: &str) {
        let e = self.wait_for(css);
        self.rt.block_on(e.click()).expect("click");
    }

    /// Clicks the button (or link) whose text contains `text`.
    pub fn click_text(&self, tag: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.rt.block_on(async {
                for e in self.c().find_all(Locator::Css(tag)).await.ok()? {
                    if e.text().await.ok()?.contains(text) {
                        return Some(e);
                    }
                }
                None
            });
            if let Some(e) = found {
                self.rt.block_on(e.click()).expect("click");
                return;
            }
            assert!(Instant::now() < deadline, "no <{tag}> with text {text:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `keys` into the element `css` matches (WebDriver key codes work:
    /// `\u{E014}` is the right arrow, `\u{E007}` Enter).
    pub fn keys(&self, css: &str, keys: &str) {
        let e = self.wait_for(css);
        self.rt.block_on(e.send_keys(keys)).expect("send keys");
    }

    /// Presses `keys` on whatever has the focus.
    pub fn press(&self, keys: &str) {
        let active = self
            .rt
            .block_on(self.c().active_element())
            .expect("the focused element");
        self.rt.block_on(active.send_keys(keys)).expect("send keys");
    }

    fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(e) = self.rt.block_on(self.c().find(Locator::Css(css))) {
                return e;
            }
            assert!(Instant::now() < deadline, "no element `{css}` within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a screenshot as `<name>.png` among the test artifacts.
    pub fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.rt.block_on(self.c().screenshot()).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// The console's errors (level SEVERE) since the last call.
    pub fn console_errors(&self) -> Vec<String> {
        let log = self.rt.block_on(self.c().issue_cmd(ConsoleLog)).expect("browser log");
        log.as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
