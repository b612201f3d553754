//! The app's web view, driven over W3C WebDriver.
//!
//! `tauri-driver` is a WebDriver intermediary: it starts Debian's
//! `WebKitWebDriver` (package webkit2gtk-driver) behind it and turns the
//! `tauri:options` capability into WebKitGTK's `webkitgtk:browserOptions`,
//! so WebKitWebDriver launches the app binary as its "browser". It also sets
//! `TAURI_WEBVIEW_AUTOMATION=true`, without which the app does not allow
//! automation of its web view.
//!
//! [`WebDriver`] is a small client for the W3C protocol
//! (<https://www.w3.org/TR/webdriver2/>) over `reqwest`; [`TauriDriver`]
//! owns the tauri-driver process and one session.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{WAIT, free_port, proc, temp_dir, wait_for};

/// The key under which W3C WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A script that returns its element argument's rendered text.
const INNER_TEXT: &str = "return arguments[0].innerText;";

/// A web element reference, valid in the document it was found in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub id: String,
}

impl Element {
    /// The reference as a script argument (`arguments[i]` is then the element).
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }
}

/// A WebDriver error: the remote end's `error` code and message, or a
/// transport failure (`error` = "transport").
#[derive(Clone, Debug)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl std::error::Error for WebDriverError {}

/// One WebDriver session on a remote end (`base` is e.g. `http://127.0.0.1:4444`).
#[derive(Clone, Debug)]
pub struct WebDriver {
    http: reqwest::Client,
    base: String,
    session: String,
    /// What the remote end said it supports.
    pub capabilities: Value,
}

impl WebDriver {
    /// Creates a session with `capabilities` (the W3C `capabilities` object,
    /// e.g. `{"alwaysMatch": {...}}`). Starting the browser (the app) is part
    /// of this request, so it may take a while; it fails after [`WAIT`].
    pub async fn new_session(base: &str, capabilities: Value) -> Result<WebDriver, WebDriverError> {
        let http = reqwest::Client::new();
        let value = tokio::time::timeout(
            WAIT,
            request(
                &http,
                reqwest::Method::POST,
                &format!("{base}/session"),
                Some(json!({ "capabilities": capabilities })),
            ),
        )
        .await
        .map_err(|_| WebDriverError {
            error: "timeout".into(),
            message: format!("no new session within {WAIT:?}"),
        })??;
        let session = value["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError {
                error: "protocol".into(),
                message: format!("new session without a sessionId: {value}"),
            })?
            .to_owned();
        Ok(WebDriver {
            http,
            base: base.to_owned(),
            session,
            capabilities: value["capabilities"].clone(),
        })
    }

    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// Sends a command relative to the session (`path` like `/element`) and
    /// returns its `value`.
    pub async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        request(&self.http, method, &url, body).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("WebDriver GET {path}: {e}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"))
    }

    /// Ends the session; WebKitWebDriver then closes the browser's windows.
    pub async fn delete_session(&self) -> Result<(), WebDriverError> {
        self.command(reqwest::Method::DELETE, "", None)
            .await
            .map(drop)
    }

    /// The first element matching `css` now, if any.
    pub async fn try_find(&self, css: &str) -> Result<Option<Element>, WebDriverError> {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        match found {
            Ok(value) => element(&value).map(Some),
            Err(e) if e.error == "no such element" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The first element matching `css`, waiting until the page has one.
    pub async fn find(&self, css: &str) -> Element {
        wait_for(&format!("an element matching {css:?}"), WAIT, || async {
            self.try_find(css)
                .await
                .unwrap_or_else(|e| panic!("find {css:?}: {e}"))
        })
        .await
    }

    /// Every element matching `css` now (possibly none: this does not wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let value = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await;
        value
            .as_array()
            .unwrap_or_else(|| panic!("find all {css:?}: not an array: {value}"))
            .iter()
            .map(|v| element(v).unwrap_or_else(|e| panic!("find all {css:?}: {e}")))
            .collect()
    }

    /// Waits until no element matches `css`.
    pub async fn wait_gone(&self, css: &str) {
        wait_for(&format!("no element to match {css:?}"), WAIT, || async {
            self.try_find(css)
                .await
                .unwrap_or_else(|e| panic!("find {css:?}: {e}"))
                .is_none()
                .then_some(())
        })
        .await
    }

    /// Waits until the first element matching `css` has a text for which
    /// `predicate` holds; returns that text. The element is looked up again
    /// on every try, since a re-render replaces it.
    pub async fn wait_text(&self, css: &str, predicate: impl Fn(&str) -> bool) -> String {
        let mut last = None;
        let predicate = &predicate;
        let found = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(Some(el)) = self.try_find(css).await
                    && let Ok(value) = self
                        .command(
                            reqwest::Method::POST,
                            "/execute/sync",
                            Some(json!({"script": INNER_TEXT, "args": [el.to_json()]})),
                        )
                        .await
                {
                    let text = value.as_str().unwrap_or_default().to_owned();
                    if predicate(&text) {
                        return text;
                    }
                    last = Some(text);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "timed out after {WAIT:?} waiting for the text of {css:?} to match; last text: {}",
                last.map_or("(no such element)".to_owned(), |t| format!("{t:?}"))
            )
        })
    }

    /// Waits until the first element matching `css` is rendered (it and its
    /// ancestors take up room on the page), and returns it.
    pub async fn wait_visible(&self, css: &str) -> Element {
        wait_for(&format!("{css:?} to be visible"), WAIT, || async {
            let el = self.try_find(css).await.ok().flatten()?;
            let shown = self
                .execute(
                    "const r = arguments[0].getClientRects(); return r.length > 0;",
                    vec![el.to_json()],
                )
                .await;
            (shown == json!(true)).then_some(el)
        })
        .await
    }

    pub async fn click(&self, el: &Element) {
        self.post(&format!("/element/{}/click", el.id), json!({}))
            .await;
    }

    /// Types `text` into the element (appends to what it holds).
    pub async fn send_keys(&self, el: &Element, text: &str) {
        self.post(&format!("/element/{}/value", el.id), json!({"text": text}))
            .await;
    }

    pub async fn clear(&self, el: &Element) {
        self.post(&format!("/element/{}/clear", el.id), json!({}))
            .await;
    }

    /// The rendered text (what a user sees, not `textContent`): the page's
    /// own `innerText`. WebKitWebDriver's Get Element Text answers "" for
    /// some visible elements (text inside an inline-flex box), so it is not used.
    pub async fn text(&self, el: &Element) -> String {
        let value = self.execute(INNER_TEXT, vec![el.to_json()]).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// An HTML attribute; `None` when absent.
    pub async fn attribute(&self, el: &Element, name: &str) -> Option<String> {
        let value = self
            .get(&format!("/element/{}/attribute/{name}", el.id))
            .await;
        value.as_str().map(str::to_owned)
    }

    /// A DOM property (`value`, `checked`, ...); `Value::Null` when undefined.
    pub async fn property(&self, el: &Element, name: &str) -> Value {
        self.get(&format!("/element/{}/property/{name}", el.id))
            .await
    }

    /// Whether a checkbox/radio is checked or an option is selected.
    pub async fn is_selected(&self, el: &Element) -> bool {
        let value = self.get(&format!("/element/{}/selected", el.id)).await;
        value
            .as_bool()
            .unwrap_or_else(|| panic!("is selected: not a boolean: {value}"))
    }

    pub async fn is_enabled(&self, el: &Element) -> bool {
        let value = self.get(&format!("/element/{}/enabled", el.id)).await;
        value
            .as_bool()
            .unwrap_or_else(|| panic!("is enabled: not a boolean: {value}"))
    }

    /// Runs `script` as a function body (`return ...;` gives the result;
    /// `arguments[i]` are `args`) in the current page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// Like [`execute`](Self::execute), but `arguments[args.len()]` is a
    /// callback to call with the result (for promises).
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/async", json!({"script": script, "args": args}))
            .await
    }

    /// A PNG of the current top-level browsing context.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine as _;
        let value = self.get("/screenshot").await;
        let encoded = value
            .as_str()
            .unwrap_or_else(|| panic!("screenshot: not a string: {value}"));
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_else(|e| panic!("screenshot: not base64: {e}"))
    }

    /// Writes a PNG screenshot to `path` (for a failing test's evidence).
    pub async fn save_screenshot(&self, path: &Path) {
        let png = self.screenshot_png().await;
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("write the screenshot {}: {e}", path.display()));
    }

    pub async fn title(&self) -> String {
        self.get("/title")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// The handles of every top-level browsing context (window) of the session.
    pub async fn window_handles(&self) -> Vec<String> {
        let value = self.get("/window/handles").await;
        value
            .as_array()
            .unwrap_or_else(|| panic!("window handles: not an array: {value}"))
            .iter()
            .filter_map(|h| h.as_str().map(str::to_owned))
            .collect()
    }

    pub async fn window_handle(&self) -> String {
        self.get("/window")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn switch_to_window(&self, handle: &str) {
        self.post("/window", json!({"handle": handle})).await;
    }
}

/// The element reference in a command's `value`.
fn element(value: &Value) -> Result<Element, WebDriverError> {
    value[ELEMENT_KEY]
        .as_str()
        .map(|id| Element { id: id.to_owned() })
        .ok_or_else(|| WebDriverError {
            error: "protocol".into(),
            message: format!("not an element reference: {value}"),
        })
}

/// One HTTP exchange with a remote end: the `value` of a success, or the
/// W3C error (`{"value": {"error", "message"}}`) of a failure.
async fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let transport = |e: reqwest::Error| WebDriverError {
        error: "transport".into(),
        message: format!("{url}: {e}"),
    };
    let mut builder = http.request(method, url);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    let response = builder.send().await.map_err(transport)?;
    let status = response.status();
    let text = response.text().await.map_err(transport)?;
    let parsed: Value = serde_json::from_str(&text).map_err(|_| WebDriverError {
        error: "protocol".into(),
        message: format!("{url} answered {status} with no JSON: {text:.200}"),
    })?;
    let value = parsed.get("value").cloned().unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        Err(WebDriverError {
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or(&text).to_owned(),
        })
    }
}

/// Where tauri-driver is: `~/.cargo/bin` (where `cargo install` puts it), else `$PATH`.
pub fn tauri_driver_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/tauri-driver"))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("tauri-driver"))
}

/// A `tauri-driver` process and one session with the app it launched.
///
/// Dropping it kills tauri-driver and everything under it — WebKitWebDriver,
/// the app and the app's WebKit processes — so no app outlives its test.
#[derive(Debug)]
pub struct TauriDriver {
    driver: WebDriver,
    child: Child,
    pub port: u16,
    pub native_port: u16,
    /// The application binary the session launched.
    pub app: PathBuf,
    /// tauri-driver's and WebKitWebDriver's stderr, which the app inherits.
    pub log: PathBuf,
}

impl std::ops::Deref for TauriDriver {
    type Target = WebDriver;
    fn deref(&self) -> &WebDriver {
        &self.driver
    }
}

impl TauriDriver {
    /// Starts tauri-driver on free ports with `envs` added to its environment
    /// (WebKitWebDriver and then the app inherit it), waits until it answers,
    /// and opens a session that launches `app` with `args`.
    pub async fn start(app: &Path, args: &[&str], envs: &[(&str, &str)]) -> TauriDriver {
        let capabilities = json!({
            "alwaysMatch": {
                "tauri:options": {
                    "application": app,
                    "args": args,
                }
            }
        });
        Self::start_with_capabilities(app, capabilities, envs).await
    }

    /// Like [`start`](Self::start) with the W3C `capabilities` object given
    /// as is (tauri-driver only rewrites `alwaysMatch."tauri:options"`).
    pub async fn start_with_capabilities(
        app: &Path,
        capabilities: Value,
        envs: &[(&str, &str)],
    ) -> TauriDriver {
        let port = free_port();
        let mut native_port = free_port();
        while native_port == port {
            native_port = free_port();
        }
        let log = temp_dir("tauri-driver").join("driver.log");
        let stderr = std::fs::File::create(&log).expect("create the tauri-driver log");
        let mut command = Command::new(tauri_driver_path());
        command
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "start {} (cargo install tauri-driver): {e}",
                tauri_driver_path().display()
            )
        });
        let pid = child.id();
        let mut started = StartGuard(Some(child));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        // /status goes through tauri-driver to WebKitWebDriver, so an answer
        // means both are up. A driver that died is reported as such rather
        // than as a timeout.
        wait_for(
            "tauri-driver and WebKitWebDriver to answer /status",
            WAIT,
            || async {
                assert!(
                    proc::is_running(pid),
                    "tauri-driver exited before answering:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                request(&http, reqwest::Method::GET, &format!("{base}/status"), None)
                    .await
                    .ok()
                    .filter(|value| value["ready"] != false)
                    .map(drop)
            },
        )
        .await;
        let driver = WebDriver::new_session(&base, capabilities)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "open a WebDriver session with {}: {e}\n{}",
                    app.display(),
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        TauriDriver {
            driver,
            child: started.0.take().expect("the child"),
            port,
            native_port,
            app: app.to_path_buf(),
            log,
        }
    }

    /// tauri-driver's pid: the root of the tree the app runs in.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The app's pid, waiting until it appears under tauri-driver (it is a
    /// child of WebKitWebDriver, not of the test).
    pub async fn app_pid(&self) -> u32 {
        let name = self
            .app
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        wait_for(
            &format!("the app {name} to run under tauri-driver"),
            WAIT,
            || async {
                proc::descendants(self.pid())
                    .into_iter()
                    .find(|p| p.is_named(&name))
                    .map(|p| p.pid)
            },
        )
        .await
    }

    /// The log so far (tauri-driver, WebKitWebDriver, and the app's stderr).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ends the session (the app's windows close), then stops everything.
    pub async fn quit(self) {
        // The session may already be gone with the app; stopping is what matters.
        let _ = self.driver.delete_session().await;
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // SIGKILL to tauri-driver alone would orphan WebKitWebDriver and the
        // app, so the whole tree goes, then tauri-driver is reaped.
        proc::kill_tree(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills a tauri-driver that never got as far as a session (a failed start
/// panics, and the process must not outlive the test).
struct StartGuard(Option<Child>);

impl Drop for StartGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            proc::kill_tree(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
