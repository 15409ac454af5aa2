//! The customer page in a real browser (headless Chromium through chromedriver).
//!
//! Runs only when `FRONTDESK_TEST_CHROMEDRIVER` names a chromedriver binary (CI sets
//! it); without it every test here says it was skipped and passes. When it is set,
//! everything must work. `FRONTDESK_SCREENSHOTS=1` also writes the screenshots in
//! `docs/`.
//!
//! ```sh
//! FRONTDESK_TEST_CHROMEDRIVER=/usr/bin/chromedriver cargo test -p frontdesk --test browser
//! ```

mod common;

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T = (), E = Error> = std::result::Result<T, E>;

/// The longest any single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);
const PHONE: (u32, u32) = (390, 844);
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE_NUMBER: &str = "+1 201 555 0123";

// ------------------------------------------------------------------ the browser

/// chromedriver, started for one test and killed when dropped.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver on a free port, or `None` when the tests are not enabled.
    async fn start() -> Result<Option<Self>> {
        let Some(path) = std::env::var_os("FRONTDESK_TEST_CHROMEDRIVER") else {
            // Straight to stderr: the test harness would swallow eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: set FRONTDESK_TEST_CHROMEDRIVER=/usr/bin/chromedriver to run the browser tests"
            );
            return Ok(None);
        };
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // Its own process group: the browsers it starts join it, so dropping the
        // driver can end them all even when a failed test never closed its session.
        let child = Command::new(&path)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "starting chromedriver {}: {e}",
                    PathBuf::from(&path).display()
                )
            })?;
        let mut driver = Self { child, port };
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(exit) = driver.child.try_wait()? {
                return Err(format!("chromedriver exited at start: {exit}").into());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("chromedriver did not listen on port {port} within {WAIT:?}").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Some(driver))
    }

    /// A fresh headless browser session with its own profile, its pages in `lang`.
    async fn browser(&self, lang: Option<&str>) -> Result<Browser> {
        let profile = tempfile::tempdir()?;
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            // No crash handler daemons that would outlive the browser.
            "--disable-crash-reporter".to_owned(),
            "--disable-breakpad".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut options = json!({});
        if let Some(lang) = lang {
            args.push(format!("--lang={lang}"));
            options["prefs"] = json!({ "intl.accept_languages": lang });
        }
        options["args"] = json!(args);
        if let Some(binary) = std::env::var_os("FRONTDESK_TEST_CHROME") {
            options["binary"] = json!(PathBuf::from(binary));
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": options,
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(caps) = caps else {
            return Err("capabilities must be an object".into());
        };
        // Plain HTTP to chromedriver on loopback: no TLS stack is needed (or built).
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{}", self.port)),
        )
        .await
        .map_err(|_| "opening a browser session: no answer within 60 s")?
        .map_err(|e| format!("opening a browser session: {e}"))?;
        Ok(Browser {
            client,
            _profile: profile,
        })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Killed, chromedriver cannot close its browsers: end the whole group (by
        // its id, which is chromedriver's pid), then chromedriver itself.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chrome's console log: not in the W3C protocol, so not a fantoccini method,
/// but sent through fantoccini like any other command.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// One browser session. Its browser is ended by [`Browser::close`], or with the
/// whole process group when the [`Driver`] is dropped after a failed test.
#[derive(Debug)]
struct Browser {
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn close(self) -> Result {
        self.client.close().await?;
        Ok(())
    }

    async fn goto(&self, url: &str) -> Result {
        self.client.goto(url).await?;
        Ok(())
    }

    async fn title(&self) -> Result<String> {
        Ok(self.client.title().await?)
    }

    /// Runs a script in the page and returns its result.
    async fn js(&self, script: &str) -> Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// The element `css` selects (it must exist).
    async fn find(&self, css: &str) -> Result<Element> {
        Ok(self
            .client
            .find(Locator::Css(css))
            .await
            .map_err(|e| format!("finding {css}: {e}"))?)
    }

    /// A real click (scrolled into view, refused when something covers it).
    async fn click(&self, css: &str) -> Result {
        self.find(css)
            .await?
            .click()
            .await
            .map_err(|e| format!("clicking {css}: {e}"))?;
        Ok(())
    }

    /// Types into a field as a person would.
    async fn type_into(&self, css: &str, text: &str) -> Result {
        self.find(css).await?.send_keys(text).await?;
        Ok(())
    }

    /// The rendered (visible) text of an element.
    async fn text(&self, css: &str) -> Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    async fn displayed(&self, css: &str) -> Result<bool> {
        Ok(self.find(css).await?.is_displayed().await?)
    }

    async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        Ok(self.find(css).await?.attr(name).await?)
    }

    /// The browser console's errors (and failed loads) since the last call.
    async fn console_errors(&self) -> Result<Vec<String>> {
        let log = self.client.issue_cmd(BrowserLog).await?;
        Ok(log
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|e| e["level"] == json!("SEVERE"))
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Whether a JavaScript dialog (alert) is open.
    async fn alert_open(&self) -> bool {
        self.client.get_alert_text().await.is_ok()
    }

    /// Sizes the window so the page's viewport is `width`×`height` CSS pixels.
    async fn viewport(&self, (width, height): (u32, u32)) -> Result {
        let mut size = (width, height);
        for _ in 0..3 {
            self.client.set_window_size(size.0, size.1).await?;
            let inner = self
                .js("return [window.innerWidth, window.innerHeight]")
                .await?;
            let w = u32::try_from(inner[0].as_u64().unwrap_or(0))?;
            let h = u32::try_from(inner[1].as_u64().unwrap_or(0))?;
            if (w, h) == (width, height) {
                return Ok(());
            }
            size = (
                size.0 + width - w.min(width),
                size.1 + height - h.min(height),
            );
        }
        Err(format!("could not size the viewport to {width}x{height}").into())
    }

    /// Waits until `script` returns something truthy, failing after [`WAIT`].
    async fn until(&self, what: &str, script: &str) -> Result<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script).await?;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let page = self.js(DEBUG).await.unwrap_or_default();
                return Err(
                    format!("waited {WAIT:?} for {what}; last value {v}; page: {page}").into(),
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until view `id` is the one shown.
    async fn view(&self, id: &str) -> Result {
        let script = format!(
            "const v = document.getElementById('{id}'); return !!v && !v.hidden && v.offsetHeight > 0"
        );
        self.until(&format!("the view #{id}"), &script).await?;
        Ok(())
    }

    /// Waits until the menu heading reads `title`, the list is drawn and nothing is in flight.
    async fn screen(&self, title: &str) -> Result {
        let script = format!(
            "const s = window.frontdesk.state();
             return document.getElementById('menu-title').textContent === {title}
                 && !document.getElementById('menu-view').hidden
                 && document.querySelectorAll('#items button.item').length > 0
                 && s.connected && s.outbox === 0",
            title = json!(title)
        );
        self.until(&format!("the screen '{title}'"), &script)
            .await?;
        Ok(())
    }

    /// Clicks the item `id` on the screen shown.
    async fn choose(&self, id: &str) -> Result {
        self.click(&format!("#items button.item[data-item='{id}']"))
            .await
    }

    /// The test hook's state.
    async fn state(&self) -> Result<Value> {
        self.js("return window.frontdesk.state()").await
    }

    /// Opens the page, types a phone number and asks for the menu.
    async fn start(&self, base: &str) -> Result {
        self.goto(&format!("{base}/")).await?;
        self.view("start-view").await?;
        self.type_into("#phone", PHONE_NUMBER).await?;
        self.click("#start").await?;
        self.view("menu-view").await
    }

    /// Writes `docs/screenshot-NAME.png` when `FRONTDESK_SCREENSHOTS=1`.
    async fn screenshot_to_docs(&self, name: &str) -> Result {
        if std::env::var("FRONTDESK_SCREENSHOTS").as_deref() != Ok("1") {
            return Ok(());
        }
        // Let the smooth scroll to the answer settle first.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let png = self.client.screenshot().await?;
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../../docs/screenshot-{name}.png"));
        std::fs::create_dir_all(path.parent().ok_or("no docs dir")?)?;
        std::fs::write(&path, png)?;
        let _ = writeln!(std::io::stderr(), "wrote {}", path.display());
        Ok(())
    }
}

/// What a failed wait reports about the page.
const DEBUG: &str = "return {
    views: Array.from(document.querySelectorAll('main > section')).filter((s) => !s.hidden).map((s) => s.id),
    title: (document.getElementById('menu-title') || {}).textContent,
    error: (document.getElementById('error-text') || {}).textContent,
    status: (document.getElementById('status') || {}).textContent,
    state: window.frontdesk && window.frontdesk.state(),
}";

/// The record's items as (id, served) pairs.
async fn record_items(
    ts: &TestServer,
    consultation: &str,
) -> Result<(
    Vec<(String, String)>,
    frontdesk_protocol::rest::ServiceRecord,
)> {
    let record = ts.admin().await.service_record(consultation).await?;
    let items = record
        .items
        .iter()
        .map(|i| (i.item.clone(), i.served.clone()))
        .collect();
    Ok((items, record))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const MAIN_TITLE: &str = "Northwind Mobile — how can we help?";
const BILLING_TITLE: &str = "Bills and payments";
const BILL_DUE_TEXT: &str = "Your bill is issued on the 1st of each month";

// ------------------------------------------------------------------ tests

/// The issue's acceptance test, on a phone: start, open a submenu, read content
/// with the menu still listed, end; the service record holds exactly that.
#[tokio::test]
async fn a_customer_reads_content_and_ends_on_a_phone() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = TestServer::start().await;
    let b = driver.browser(None).await?;
    b.goto(&format!("{}/", ts.url())).await?;
    b.viewport(PHONE).await?;

    b.start(&ts.url()).await?;
    b.screen(MAIN_TITLE).await?;
    let items = b.js("return Array.from(document.querySelectorAll('#items button.item')).map((b) => [b.dataset.item, b.dataset.kind])").await?;
    assert_eq!(
        items,
        json!([
            ["billing", "submenu"],
            ["internet", "submenu"],
            ["account", "submenu"],
            ["ask", "bot"],
            ["chat", "chat"],
            ["call", "voice"]
        ])
    );

    b.choose("billing").await?;
    b.screen(BILLING_TITLE).await?;
    b.choose("bill-due").await?;
    b.until(
        "the content",
        &format!(
            "return document.getElementById('content').textContent.includes({})",
            json!(BILL_DUE_TEXT)
        ),
    )
    .await?;
    assert!(
        b.displayed("#content p.content-text").await?,
        "the content is visible"
    );
    assert_eq!(
        b.text("#content h2.content-title").await?,
        "When is my bill due?"
    );
    assert!(
        b.text("#content p.content-text")
            .await?
            .contains(BILL_DUE_TEXT)
    );
    // The menu stays listed under the content.
    b.screen(BILLING_TITLE).await?;
    let listed = b.js("return Array.from(document.querySelectorAll('#items button.item')).filter((b) => b.offsetHeight > 0).map((b) => b.dataset.item)").await?;
    assert_eq!(listed, json!(["bill-due", "pay-methods", "bill-dispute"]));
    // The answer was scrolled into view.
    let top = b
        .js("return document.getElementById('content').getBoundingClientRect().top")
        .await?;
    let top = top.as_f64().ok_or("no content position")?;
    assert!(
        (0.0..f64::from(PHONE.1)).contains(&top),
        "content on screen (top at {top})"
    );

    let consultation = b
        .js("return sessionStorage.getItem('frontdesk.consultation')")
        .await?;
    let consultation = consultation
        .as_str()
        .ok_or("no consultation id in sessionStorage")?
        .to_owned();
    assert_eq!(b.state().await?["consultation"], json!(consultation));

    b.screenshot_to_docs("phone").await?;
    b.viewport(DESKTOP).await?;
    b.screenshot_to_docs("desktop").await?;
    b.viewport(PHONE).await?;

    b.click("#end").await?;
    b.view("done").await?;
    let summary = b.text("#done-summary").await?;
    assert!(summary.contains("2 service items"), "summary: {summary}");

    let (items, record) = record_items(&ts, &consultation).await?;
    assert_eq!(
        items,
        pairs(&[("billing", "opened"), ("bill-due", "shown")])
    );
    assert!(record.ended_at.is_some(), "the consultation has ended");
    assert_eq!(record.end_reason.as_deref(), Some("customer"));

    // It is over: a reload starts afresh instead of resuming.
    assert_eq!(
        b.js("return sessionStorage.getItem('frontdesk.resume')")
            .await?,
        Value::Null
    );
    b.goto(&format!("{}/", ts.url())).await?;
    b.view("start-view").await?;

    // Nothing went wrong on the way: no script error, CSP violation or failed load.
    let errors = b.console_errors().await?;
    assert!(errors.is_empty(), "browser console: {errors:#?}");
    b.close().await
}

/// A dropped connection and a reload both resume the same consultation, and no
/// request is recorded twice.
#[tokio::test]
async fn the_page_resumes_after_a_drop_and_a_reload() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = TestServer::start().await;
    let b = driver.browser(None).await?;
    b.goto(&format!("{}/", ts.url())).await?;
    b.viewport(PHONE).await?;

    b.start(&ts.url()).await?;
    b.screen(MAIN_TITLE).await?;
    b.choose("billing").await?;
    b.screen(BILLING_TITLE).await?;
    let consultation = b.state().await?["consultation"]
        .as_str()
        .ok_or("no consultation")?
        .to_owned();

    // A reload mid-consultation comes back to the same screen of the same consultation.
    b.goto(&format!("{}/", ts.url())).await?;
    b.screen(BILLING_TITLE).await?;
    assert_eq!(b.state().await?["consultation"], json!(consultation));
    assert_eq!(
        b.js("return document.getElementById('start-view').hidden")
            .await?,
        json!(true)
    );

    // The network drops; the customer taps an item before the page has reconnected.
    let connected = b
        .js("window.frontdesk.dropConnection(); return window.frontdesk.state().connected")
        .await?;
    assert_eq!(connected, json!(false), "the hook drops the socket at once");
    b.choose("bill-due").await?;
    b.until(
        "the content after reconnecting",
        &format!(
            "return document.getElementById('content').textContent.includes({})",
            json!(BILL_DUE_TEXT)
        ),
    )
    .await?;
    b.screen(BILLING_TITLE).await?;
    assert_eq!(b.state().await?["consultation"], json!(consultation));
    let status = b.text("#status").await?;
    assert!(status.is_empty(), "no 'reconnecting' left over: {status:?}");

    // Dropped again while an answer is on its way: nothing is lost or doubled.
    b.js("document.querySelector(\"#items button.item[data-item='pay-methods']\").click(); window.frontdesk.dropConnection(); return true").await?;
    b.screen(BILLING_TITLE).await?;

    b.click("#end").await?;
    b.view("done").await?;

    let (items, record) = record_items(&ts, &consultation).await?;
    let ids: Vec<&str> = items.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(&ids[..2], ["billing", "bill-due"], "record: {items:?}");
    assert!(
        ids.len() <= 3 && ids[2..].iter().all(|i| *i == "pay-methods"),
        "record: {items:?}"
    );
    assert_eq!(
        items[..2],
        pairs(&[("billing", "opened"), ("bill-due", "shown")])
    );
    assert!(record.ended_at.is_some());
    let errors = b.console_errors().await?;
    assert!(errors.is_empty(), "browser console: {errors:#?}");
    b.close().await
}

/// A request refused by the rate limit counts as answered: the page sends the
/// same action again under a new request number, and the customer sees the answer
/// as if nothing happened. (Resending the old number would be a duplicate: the
/// server would answer with the unchanged screen and no content.)
#[tokio::test]
async fn rate_limited_requests_are_sent_again_under_new_numbers() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    // One message a second, no burst.
    let ts = TestServer::start_with(|c| {
        c.limits.messages_per_sec = 1;
        c.limits.burst = 1;
    })
    .await;
    let b = driver.browser(None).await?;
    b.goto(&format!("{}/", ts.url())).await?;
    b.viewport(PHONE).await?;

    b.start(&ts.url()).await?;
    b.screen(MAIN_TITLE).await?;
    // The network comes back (the page pings at once, taking the only token) and the
    // customer taps in the same instant: the tap is refused, whatever the timing.
    let tap = |item: &str| {
        format!(
            "window.dispatchEvent(new Event('online'));
             document.querySelector(\"#items button.item[data-item='{item}']\").click();
             return true"
        )
    };
    b.js(&tap("billing")).await?;
    b.screen(BILLING_TITLE).await?;
    b.js(&tap("bill-due")).await?;
    b.until(
        "the content",
        &format!(
            "return document.getElementById('content').textContent.includes({})",
            json!(BILL_DUE_TEXT)
        ),
    )
    .await?;
    b.screen(BILLING_TITLE).await?;
    assert_eq!(
        b.js("return document.getElementById('error').hidden")
            .await?,
        json!(true),
        "no error shown"
    );
    // Two requests applied, each after a refusal: the refused numbers were skipped.
    let state = b.state().await?;
    let last = state["lastAck"].as_u64().ok_or("no lastAck")?;
    assert!(
        last >= 4,
        "both taps were refused once and sent again under new numbers (last ack {last})"
    );
    let consultation = state["consultation"]
        .as_str()
        .ok_or("no consultation")?
        .to_owned();

    b.click("#end").await?;
    b.view("done").await?;
    let (items, record) = record_items(&ts, &consultation).await?;
    assert_eq!(
        items,
        pairs(&[("billing", "opened"), ("bill-due", "shown")])
    );
    assert!(record.ended_at.is_some());
    let errors = b.console_errors().await?;
    assert!(errors.is_empty(), "browser console: {errors:#?}");
    b.close().await
}

/// Chinese for a Chinese browser, server text shown as text and never as markup,
/// and the basics of accessibility.
#[tokio::test]
async fn chinese_escaped_and_accessible() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = TestServer::start().await;
    ts.admin().await.import_menu(HOSTILE_MENU).await?;
    let b = driver.browser(Some("zh-CN")).await?;
    b.goto(&format!("{}/", ts.url())).await?;
    b.viewport(PHONE).await?;
    b.view("start-view").await?;

    // Language.
    assert_eq!(b.text("#start").await?, "查看菜单");
    let lang = b.js("return document.documentElement.lang").await?;
    assert!(
        lang.as_str().is_some_and(|l| l.starts_with("zh")),
        "html lang {lang}"
    );
    assert_eq!(b.title().await?, "服务菜单");

    // The phone field is labelled and described; an empty submit says what is wrong.
    let label = b
        .js("return document.getElementById('phone').labels[0].textContent")
        .await?;
    assert_eq!(label, json!("手机号码"));
    b.click("#start").await?;
    let error = b
        .until(
            "the empty-phone error",
            "return document.getElementById('phone-error').textContent",
        )
        .await?;
    assert_eq!(error, json!("请输入您的手机号码。"));
    assert_eq!(
        b.attr("#phone", "aria-invalid").await?.as_deref(),
        Some("true")
    );

    b.type_into("#phone", PHONE_NUMBER).await?;
    b.click("#start").await?;
    b.view("menu-view").await?;
    b.screen("Tricky <menu> & co").await?;
    let labels = b
        .js("return ['back', 'home', 'end'].map((id) => document.getElementById(id).textContent)")
        .await?;
    assert_eq!(labels, json!(["返回", "主菜单", "结束咨询"]));

    // Titles with markup show as text.
    assert_eq!(
        b.text("#items button.item[data-item='html'] .item-title")
            .await?,
        "A <i>title</i> with markup"
    );
    assert_eq!(
        b.js("return document.querySelectorAll('#items i, #items img').length")
            .await?,
        json!(0)
    );

    // Accessibility basics: every control has a name and a tap target of 44 px or more.
    let small = b
        .js("return Array.from(document.querySelectorAll('button')).filter((b) => b.offsetHeight > 0)
                .filter((b) => { const r = b.getBoundingClientRect(); return r.height < 44 || r.width < 44
                    || !(b.getAttribute('aria-label') || b.textContent.trim()); })
                .map((b) => b.id || b.dataset.item)")
        .await?;
    assert_eq!(small, json!([]), "controls too small or without a name");

    b.choose("html").await?;
    b.until(
        "the content",
        "return document.getElementById('content').textContent.includes('bold')",
    )
    .await?;
    let text = b.text("#content p.content-text").await?;
    assert!(
        text.contains("<img src=x onerror=alert(1)>"),
        "shown literally: {text}"
    );
    assert!(text.contains("<b>bold</b>"), "shown literally: {text}");
    assert!(text.contains("&amp;"), "entities are not decoded: {text}");
    assert_eq!(
        b.text("#content h2.content-title").await?,
        "A <i>title</i> with markup"
    );
    let injected = b.js("return document.querySelectorAll('#content *:not(h2):not(p), script:not([src])').length").await?;
    assert_eq!(injected, json!(0), "no element was made from server text");
    assert!(!b.alert_open().await, "no alert opened");

    // A submenu: the heading takes focus so a screen reader announces the new screen.
    b.choose("more").await?;
    b.screen("More").await?;
    assert_eq!(
        b.js("return document.activeElement && document.activeElement.id")
            .await?,
        json!("menu-title")
    );
    assert_eq!(b.text("#crumbs li[aria-current='location']").await?, "More");
    b.click("#back").await?;
    b.screen("Tricky <menu> & co").await?;

    // An <img src=x> made from the text would also show as a failed load of /x.
    let errors = b.console_errors().await?;
    assert!(errors.is_empty(), "browser console: {errors:#?}");
    b.close().await
}

const HOSTILE_MENU: &str = r#"
title = "Tricky <menu> & co"
root = "main"

[[item]]
id = "main"
kind = "submenu"
title = "Main"
children = ["html", "more"]

[[item]]
id = "html"
kind = "content"
title = "A <i>title</i> with markup"
text = """
<script>alert(1)</script>
Look: <img src=x onerror=alert(1)> and <b>bold</b> &amp; more.
"""

[[item]]
id = "more"
kind = "submenu"
title = "More"
children = ["inner"]

[[item]]
id = "inner"
kind = "content"
title = "Inner"
text = "Inner text."
"#;
