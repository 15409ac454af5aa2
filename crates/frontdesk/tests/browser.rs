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
use frontdesk_client::{AgentClient, Connection, CustomerClient};
use frontdesk_domain::answers::Library;
use frontdesk_protocol::agent::PresenceChoice;
use frontdesk_protocol::{ClientMessage, ServerMessage};
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

    /// A browser of `size`, its pages in `lang`, showing `path` of the server.
    async fn open(
        &self,
        ts: &TestServer,
        path: &str,
        lang: Option<&str>,
        size: (u32, u32),
    ) -> Result<Browser> {
        let b = self.browser(lang).await?;
        b.goto(&format!("{}{path}", ts.url())).await?;
        b.viewport(size).await?;
        Ok(b)
    }

    /// A customer on a phone who has started a consultation and sees the main menu.
    async fn customer(&self, ts: &TestServer, lang: Option<&str>) -> Result<Browser> {
        let c = self.open(ts, "/", lang, PHONE).await?;
        c.start(&ts.url()).await?;
        Ok(c)
    }

    /// An agent on a laptop, at the console's sign-in form.
    async fn agent(&self, ts: &TestServer, lang: Option<&str>) -> Result<Browser> {
        let a = self.open(ts, "/agent", lang, LAPTOP).await?;
        a.view("login-view").await?;
        Ok(a)
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
    /// Checks that nothing went wrong in `whose` browser (no script error, CSP
    /// violation or failed load), then closes it.
    async fn close_clean(self, whose: &str) -> Result {
        self.close_clean_but(whose, |_| false).await
    }

    /// [`Browser::close_clean`], where the console errors `expected` picks are fine.
    async fn close_clean_but(self, whose: &str, expected: impl Fn(&str) -> bool) -> Result {
        let errors: Vec<String> = self
            .console_errors()
            .await?
            .into_iter()
            .filter(|e| !expected(e))
            .collect();
        assert!(errors.is_empty(), "{whose} browser console: {errors:#?}");
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
    ///
    /// The window's frame (outer minus inner size) is read in one snapshot, so it
    /// is right even when an earlier resize has not reached the page yet (under
    /// load it may not have); the size is set again until the page has it.
    async fn viewport(&self, (width, height): (u32, u32)) -> Result {
        let deadline = Instant::now() + WAIT;
        loop {
            let sizes = self
                .js("return [innerWidth, innerHeight, outerWidth, outerHeight]")
                .await?;
            let n = |i: usize| u32::try_from(sizes[i].as_u64().unwrap_or(0));
            let (w, h, outer_w, outer_h) = (n(0)?, n(1)?, n(2)?, n(3)?);
            if (w, h) == (width, height) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "could not size the viewport to {width}x{height} (it is {w}x{h})"
                )
                .into());
            }
            self.client
                .set_window_size(
                    width + outer_w.saturating_sub(w),
                    height + outer_h.saturating_sub(h),
                )
                .await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

    /// Waits until the content shown includes `text`.
    async fn content(&self, text: &str) -> Result {
        let script = format!(
            "return document.getElementById('content').textContent.includes({})",
            json!(text)
        );
        self.until(&format!("the content {text:?}"), &script)
            .await?;
        Ok(())
    }

    /// Waits until the customer is first in the queue for an agent.
    async fn first_in_queue(&self) -> Result {
        self.until(
            "the place in the queue",
            "const q = window.frontdesk.state().queue; return q && q.position === 1",
        )
        .await?;
        Ok(())
    }

    /// Asks the answer bot `text` (typed, sent with Enter) and waits until it has
    /// answered `turns` questions in all, and nothing is left in the outbox; returns
    /// the bot's state then.
    async fn ask_bot(&self, text: &str, turns: usize) -> Result<Value> {
        self.type_into("#bot-input", &format!("{text}\u{E007}"))
            .await?;
        self.bot_answered(turns).await
    }

    /// Waits until the bot's view lists `turns` answered questions and nothing
    /// is left in the outbox; returns the bot's state then.
    async fn bot_answered(&self, turns: usize) -> Result<Value> {
        let script = format!(
            "const s = window.frontdesk.state();
             return s.connected && s.bot && !s.bot.stale && s.bot.turns.length === {turns}
                 && s.asks.length === 0
                 && document.querySelectorAll('#bot-lines li[data-answer]').length === {turns} && s.bot"
        );
        self.until(&format!("{turns} answers from the bot"), &script)
            .await
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

    /// The consultation the page is in, from the test hook.
    async fn consultation(&self) -> Result<String> {
        Ok(self.state().await?["consultation"]
            .as_str()
            .ok_or("no consultation")?
            .to_owned())
    }

    /// Opens the page, types a phone number and waits for the main menu.
    async fn start(&self, base: &str) -> Result {
        self.goto(&format!("{base}/")).await?;
        self.view("start-view").await?;
        self.type_into("#phone", PHONE_NUMBER).await?;
        self.click("#start").await?;
        self.view("menu-view").await?;
        self.screen(MAIN_TITLE).await
    }

    /// Ends the consultation on the page; returns the record's items as (id,
    /// served) pairs, and the record.
    async fn end(
        &self,
        ts: &TestServer,
        consultation: &str,
    ) -> Result<(
        Vec<(String, String)>,
        frontdesk_protocol::rest::ServiceRecord,
    )> {
        self.click("#end").await?;
        self.view("done").await?;
        let record = ts.admin().await.service_record(consultation).await?;
        let items = record
            .items
            .iter()
            .map(|i| (i.item.clone(), i.served.clone()))
            .collect();
        Ok((items, record))
    }

    /// Signs in to the agent console and waits for it.
    async fn sign_in(&self, username: &str, password: &str) -> Result {
        self.type_into("#username", username).await?;
        self.type_into("#password", password).await?;
        self.click("#login").await?;
        self.view("console-view").await
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
    agent: window.frontdeskAgent && window.frontdeskAgent.state(),
}";

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
    let b = driver.customer(&ts, None).await?;
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
    b.content(BILL_DUE_TEXT).await?;
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

    let (items, record) = b.end(&ts, &consultation).await?;
    let summary = b.text("#done-summary").await?;
    assert!(summary.contains("2 service items"), "summary: {summary}");
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

    // Nothing went wrong on the way.
    b.close_clean("the customer's").await
}

/// A dropped connection and a reload both resume the same consultation, and no
/// request is recorded twice.
#[tokio::test]
async fn the_page_resumes_after_a_drop_and_a_reload() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = TestServer::start().await;
    let b = driver.customer(&ts, None).await?;
    b.choose("billing").await?;
    b.screen(BILLING_TITLE).await?;
    let consultation = b.consultation().await?;

    // A reload mid-consultation comes back to the same screen of the same consultation.
    b.goto(&format!("{}/", ts.url())).await?;
    b.screen(BILLING_TITLE).await?;
    assert_eq!(b.consultation().await?, consultation);
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
    b.content(BILL_DUE_TEXT).await?;
    b.screen(BILLING_TITLE).await?;
    assert_eq!(b.consultation().await?, consultation);
    let status = b.text("#status").await?;
    assert!(status.is_empty(), "no 'reconnecting' left over: {status:?}");

    // Dropped again while an answer is on its way: nothing is lost or doubled.
    b.js("document.querySelector(\"#items button.item[data-item='pay-methods']\").click(); window.frontdesk.dropConnection(); return true").await?;
    b.screen(BILLING_TITLE).await?;

    let (items, record) = b.end(&ts, &consultation).await?;
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
    b.close_clean("the customer's").await
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
    let b = driver.customer(&ts, None).await?;
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
    b.content(BILL_DUE_TEXT).await?;
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
    let consultation = b.consultation().await?;

    let (items, record) = b.end(&ts, &consultation).await?;
    assert_eq!(
        items,
        pairs(&[("billing", "opened"), ("bill-due", "shown")])
    );
    assert!(record.ended_at.is_some());
    b.close_clean("the customer's").await
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
    let b = driver.open(&ts, "/", Some("zh-CN"), PHONE).await?;
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
    b.content("bold").await?;
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
    b.close_clean("the customer's").await
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

// ------------------------------------------------------------------ chat with an agent

const LAPTOP: (u32, u32) = (1366, 768);
const AGENT: (&str, &str) = ("alice", "alice-password-1");
const AGENT_NAME: &str = "Alice Wang";

/// The customer page's chat lines as (from, text) pairs, in seq order.
const CUSTOMER_LINES: &str = "const c = window.frontdesk.state().chat;
    return c ? c.lines.map((l) => [l.seq, l.from, l.text]) : null";

/// The agent console's lines of its only service as (seq, from, text).
const AGENT_LINES: &str = "const s = window.frontdeskAgent.state().services[0];
    return s ? s.lines.map((l) => [l.seq, l.from, l.text]) : null";

/// Waits until `script` (returning `[[seq, from, text], …]`) lists `text` from
/// `from`, and returns every line then.
async fn wait_for_line(
    b: &Browser,
    who: &str,
    script: &str,
    from: &str,
    text: &str,
) -> Result<Value> {
    let check = format!(
        "const lines = (() => {{ {script} }})();
         return lines && lines.some((l) => l[1] === {from} && l[2] === {text}) ? lines : null",
        from = json!(from),
        text = json!(text),
    );
    b.until(&format!("{who} to see {from}: {text:?}"), &check)
        .await
}

/// A server with the demo customers (so tiers differ) and one agent account.
async fn chat_server() -> Result<TestServer> {
    chat_server_with(|_| {}).await
}

/// Like [`chat_server`], after `tweak` adjusts the configuration.
async fn chat_server_with(tweak: impl FnOnce(&mut frontdesk_server::Config)) -> Result<TestServer> {
    let ts = TestServer::start_with(tweak).await;
    let today = time::OffsetDateTime::now_utc().date();
    let csv = frontdesk_server::demo::customers_csv(&frontdesk_server::demo::CUSTOMERS, today);
    ts.admin().await.import_customers(&csv).await?;
    frontdesk_server::create_account(
        ts.server.state().store.as_ref(),
        AGENT.0,
        AGENT_NAME,
        "agent",
        AGENT.1,
    )
    .await?;
    Ok(ts)
}

/// A customer on a plain connection who asks for an agent and stays waiting
/// (while the connection is held).
async fn waiting_customer(ts: &TestServer, phone: &str) -> Result<Connection> {
    let mut conn = Connection::open(&ts.url()).await?;
    conn.send(&ClientMessage::start(phone)).await?;
    let welcome = conn.recv().await?;
    if !matches!(welcome, ServerMessage::Welcome { .. }) {
        return Err(format!("expected welcome, got {welcome:?}").into());
    }
    conn.send(&ClientMessage::Select {
        req: 1,
        item: "chat".into(),
    })
    .await?;
    recv_until(&mut conn, "the ack of asking for an agent", |m| match m {
        ServerMessage::Ack { req: 1 } => Some(Ok(())),
        ServerMessage::Error { error, message, .. } => {
            Some(Err(format!("asking for an agent: {error}: {message}")))
        }
        _ => None,
    })
    .await??;
    Ok(conn)
}

/// Every line exactly once, numbered 1, 2, 3, … in order.
fn assert_transcript(lines: &Value, expected: &[(&str, &str)]) {
    let want: Vec<Value> = expected
        .iter()
        .enumerate()
        .map(|(i, (from, text))| json!([i + 1, from, text]))
        .collect();
    assert_eq!(lines, &json!(want), "the transcript");
}

/// The whole path of a chat: a customer on a phone asks for an agent and sees
/// their place; an agent on a laptop signs in (after a wrong password), goes
/// idle, gets the customer with what they viewed, and they talk both ways, also
/// across dropped connections on either side, every message shown once and in
/// order; the agent ends the service and the customer is back at the menu.
#[tokio::test]
async fn a_customer_chats_with_an_agent() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;

    // The customer reads something, then asks for an agent.
    let c = driver.customer(&ts, None).await?;
    c.choose("billing").await?;
    c.screen(BILLING_TITLE).await?;
    c.choose("bill-due").await?;
    c.content(BILL_DUE_TEXT).await?;
    c.click("#home").await?;
    c.screen(MAIN_TITLE).await?;
    c.choose("chat").await?;
    c.first_in_queue().await?;
    c.view("queue").await?;
    assert_eq!(c.text("#queue-position").await?, "1");
    assert!(c.displayed("#queue-cancel").await?, "a way to stop waiting");
    // While waiting the menu stays usable.
    c.screen(MAIN_TITLE).await?;

    // The agent signs in, with a typo first.
    let a = driver.agent(&ts, None).await?;
    assert_eq!(a.title().await?, "Agent console");
    a.type_into("#username", AGENT.0).await?;
    a.type_into("#password", "not-the-password").await?;
    a.click("#login").await?;
    let error = a
        .until(
            "the wrong-password message",
            "return document.getElementById('login-error').textContent",
        )
        .await?;
    assert_eq!(error, json!("Wrong username or password."));
    a.find("#password").await?.clear().await?;
    a.type_into("#password", AGENT.1).await?;
    a.click("#login").await?;
    a.view("console-view").await?;
    a.until(
        "the console connected",
        "return window.frontdeskAgent.state().connected",
    )
    .await?;
    assert_eq!(a.text("#me-name").await?, AGENT_NAME);

    // The queue: one customer, their phone masked, waiting time ticking.
    let queue = a
        .until(
            "the waiting customer",
            "const q = window.frontdeskAgent.state().queue; return q.length === 1 && q",
        )
        .await?;
    let masked = queue["waiting"][0]["phone"].as_str().ok_or("no phone")?;
    assert!(
        masked.ends_with("0123") && !masked.contains("555"),
        "masked: {masked}"
    );
    assert_eq!(a.text("#queue-length").await?, "1");
    assert_eq!(
        a.js("return document.querySelectorAll('#queue-list li').length")
            .await?,
        json!(1)
    );
    assert!(
        a.text("#queue-list .waiting-time").await?.contains(':'),
        "a waiting time"
    );
    // Nobody takes customers yet: still first in line.
    assert_eq!(
        c.state().await?["queue"]["position"],
        json!(1),
        "position before the agent is idle"
    );

    // Idle: the customer comes to the agent with what they did before.
    a.click("#go-idle").await?;
    let services = a
        .until(
            "the customer assigned",
            "const s = window.frontdeskAgent.state(); return s.services.length === 1 && s.services",
        )
        .await?;
    assert_eq!(services[0]["phone"], json!("+12015550123"));
    assert_eq!(services[0]["tier"], json!("core"));
    let viewed = services[0]["viewed"].as_array().ok_or("no viewed")?;
    assert!(
        viewed.contains(&json!("bill-due")),
        "the agent sees what the customer read: {viewed:?}"
    );
    a.view("service").await?;
    assert_eq!(a.text("#svc-phone").await?, "+12015550123");
    assert!(
        a.js("return Array.from(document.querySelectorAll('#viewed .viewed-title')).map((n) => n.textContent)")
            .await?
            .as_array()
            .is_some_and(|t| t.contains(&json!("When is my bill due?"))),
        "the viewed items are listed by title"
    );
    a.until(
        "the queue emptied",
        "return window.frontdeskAgent.state().queue.length === 0",
    )
    .await?;

    // The customer's page turns into the chat.
    c.view("chat-view").await?;
    c.until(
        "the agent's name",
        &format!(
            "return document.getElementById('chat-title').textContent === {}",
            json!(AGENT_NAME)
        ),
    )
    .await?;
    assert_eq!(c.state().await?["queue"], Value::Null);

    // Both ways.
    let hello = "Hello, my bill looks wrong <b>twice</b>";
    c.type_into("#chat-input", hello).await?;
    c.click("#chat-send").await?;
    wait_for_line(&a, "the agent", AGENT_LINES, "customer", hello).await?;
    wait_for_line(&c, "the customer", CUSTOMER_LINES, "customer", hello).await?;
    let reply = "Sorry about that! Let me check.";
    a.type_into("#reply", reply).await?;
    a.click("#send").await?;
    wait_for_line(&c, "the customer", CUSTOMER_LINES, "agent", reply).await?;
    wait_for_line(&a, "the agent", AGENT_LINES, "agent", reply).await?;
    // Text is shown as text.
    assert_eq!(
        a.js("return document.querySelectorAll('#transcript b, #chat-lines b').length")
            .await?,
        json!(0)
    );
    assert!(
        a.text("#transcript").await?.contains(hello),
        "shown literally"
    );

    // The customer's network drops just as they send: the message waits in the
    // outbox and goes once the page has resumed, exactly once.
    let again = "Are you still there?";
    c.js("window.frontdesk.dropConnection(); return true")
        .await?;
    c.type_into("#chat-input", again).await?;
    c.click("#chat-send").await?;
    wait_for_line(&a, "the agent", AGENT_LINES, "customer", again).await?;
    c.until(
        "the customer's outbox emptied",
        "const s = window.frontdesk.state(); return s.connected && s.says.length === 0",
    )
    .await?;

    // The same for the agent.
    let back = "Yes — your bill is fixed now.";
    a.js("window.frontdeskAgent.dropConnection(); return true")
        .await?;
    a.type_into("#reply", back).await?;
    a.click("#send").await?;
    let lines = wait_for_line(&c, "the customer", CUSTOMER_LINES, "agent", back).await?;
    let expected = [
        ("customer", hello),
        ("agent", reply),
        ("customer", again),
        ("agent", back),
    ];
    assert_transcript(&lines, &expected);
    a.until(
        "the agent's outbox emptied",
        "const s = window.frontdeskAgent.state(); return s.connected && s.says.length === 0",
    )
    .await?;
    let lines = wait_for_line(&a, "the agent", AGENT_LINES, "agent", back).await?;
    assert_transcript(&lines, &expected);
    assert_eq!(
        c.js("return document.querySelectorAll('#chat-lines li').length")
            .await?,
        json!(4),
        "each message shown once"
    );

    // Two more customers ask for an agent: the queue lists them, masked, with
    // their tiers and how long they have waited.
    let _sam = waiting_customer(&ts, "+14155550188").await?;
    let _li = waiting_customer(&ts, "+8613912345678").await?;
    let queue = a
        .until(
            "two waiting",
            "const q = window.frontdeskAgent.state().queue; return q.length === 2 && q",
        )
        .await?;
    let tiers: Vec<&Value> = queue["waiting"]
        .as_array()
        .ok_or("no waiting")?
        .iter()
        .map(|w| &w["tier"])
        .collect();
    assert_eq!(
        tiers,
        [&json!("important-promotion"), &json!("general-development")]
    );
    assert_eq!(
        a.js("return Array.from(document.querySelectorAll('#queue-list .tier')).map((n) => n.textContent)")
            .await?,
        json!(["important-promotion", "general-development"])
    );
    assert!(
        !a.text("#queue-list").await?.contains("555"),
        "phones are masked"
    );

    // The console fits a laptop screen without scrolling.
    let overflow = a
        .js("return [document.documentElement.scrollHeight, document.documentElement.scrollWidth, innerHeight, innerWidth]")
        .await?;
    assert!(
        overflow[0].as_u64() <= overflow[2].as_u64()
            && overflow[1].as_u64() <= overflow[3].as_u64(),
        "the console scrolls: [scrollHeight, scrollWidth, innerHeight, innerWidth] = {overflow}"
    );
    // The new customer's glow has done its job; the picture shows the console at rest.
    a.js("document.getAnimations().forEach((x) => { try { x.finish(); } catch (_) { x.cancel(); } }); return true")
        .await?;
    a.screenshot_to_docs("agent").await?;
    c.screenshot_to_docs("chat").await?;

    // The agent steps away (keeping the customer), then ends the service: the
    // customer is back at the menu, told so, and the agent takes nobody new.
    a.click("#go-away").await?;
    a.until(
        "the agent away",
        "return window.frontdeskAgent.state().state === 'away'",
    )
    .await?;
    assert_eq!(
        a.attr("#go-away", "aria-pressed").await?.as_deref(),
        Some("true")
    );
    assert_eq!(
        a.js("return window.frontdeskAgent.state().services.length")
            .await?,
        json!(1),
        "customers in hand stay when going away"
    );
    a.click("#end-service").await?;
    a.until(
        "the service gone from the console",
        "return window.frontdeskAgent.state().services.length === 0",
    )
    .await?;
    a.view("empty").await?;
    assert_eq!(a.text("#empty-title").await?, "You are away");
    assert_eq!(
        a.js("return window.frontdeskAgent.state().queue.length")
            .await?,
        json!(2),
        "nobody taken while away"
    );
    c.view("menu-view").await?;
    c.screen(MAIN_TITLE).await?;
    c.until(
        "the chat-ended notice",
        "return document.getElementById('notice').textContent.includes('chat has ended')",
    )
    .await?;
    assert_eq!(c.state().await?["chat"], Value::Null);

    c.click("#end").await?;
    c.view("done").await?;

    c.close_clean("the customer's").await?;
    // The one expected failure: the wrong password's 401.
    a.close_clean_but("the agent's", |e| {
        e.contains("/api/login") && e.contains("401")
    })
    .await
}

/// A Chinese customer waits, keeps their place across a dropped connection, and
/// stops waiting; the agent console signs in and out in Chinese too.
#[tokio::test]
async fn a_customer_stops_waiting_in_chinese() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    let c = driver.customer(&ts, Some("zh-CN")).await?;
    c.choose("chat").await?;
    c.first_in_queue().await?;
    c.view("queue").await?;
    assert_eq!(c.text("#queue-title").await?, "正在为您转接人工客服");
    assert_eq!(c.text("#queue-position").await?, "1");
    // No agent is taking customers: no estimate, but a word on why.
    assert_eq!(
        c.text("#queue-wait").await?,
        "目前没有空闲的客服，有客服空闲时将立即为您接通。"
    );

    // Choosing the chat again while waiting says so.
    c.choose("chat").await?;
    c.until(
        "the already-waiting notice",
        "return document.getElementById('notice').textContent === '您已在等待人工客服。'",
    )
    .await?;

    // The network drops: after resuming the server confirms the place.
    c.js("window.frontdesk.dropConnection(); return true")
        .await?;
    c.until(
        "the place confirmed after resuming",
        "const s = window.frontdesk.state();
         return s.connected && s.queue && s.queue.position === 1 && !s.queue.stale",
    )
    .await?;

    // The agent console in Chinese: sign in, see the customer waiting, sign out.
    let a = driver.agent(&ts, Some("zh-CN")).await?;
    assert_eq!(a.title().await?, "客服工作台");
    a.sign_in(AGENT.0, AGENT.1).await?;
    a.until(
        "the waiting customer",
        "return window.frontdeskAgent.state().queue.length === 1",
    )
    .await?;
    assert_eq!(a.text("#go-idle").await?, "空闲");
    assert_eq!(a.text("#empty-title").await?, "您处于离开状态");

    // Stop waiting: the customer is told, and the console's queue empties.
    c.click("#queue-cancel").await?;
    c.until(
        "the left-queue notice",
        "return document.getElementById('notice').textContent === '您已取消等待人工客服。'",
    )
    .await?;
    c.screen(MAIN_TITLE).await?;
    assert_eq!(c.state().await?["queue"], Value::Null);
    assert!(!c.displayed("#queue").await?, "the waiting panel is gone");
    a.until(
        "the console's queue emptied",
        "return window.frontdeskAgent.state().queue.length === 0
            && document.querySelectorAll('#queue-list li').length === 0",
    )
    .await?;

    // A reload keeps the session (the cookie): straight back to the console.
    a.goto(&format!("{}/agent", ts.url())).await?;
    a.view("console-view").await?;
    a.click("#logout").await?;
    a.view("login-view").await?;
    // Signed out for real: a reload asks to sign in again.
    a.goto(&format!("{}/agent", ts.url())).await?;
    a.view("login-view").await?;

    c.close_clean("the customer's").await?;
    a.close_clean("the agent's").await
}

// ------------------------------------------------------------------ the answer bot

/// The demo answer library in effect (as `tests/bot.rs` loads it).
async fn load_demo_library(ts: &TestServer) -> Result {
    let state = ts.server.state();
    let library = Library::parse_yaml(frontdesk_server::demo::ANSWERS.as_bytes())?;
    let rows: Vec<_> = library.iter().map(frontdesk_server::bot::row_of).collect();
    state.store.replace_answers(&rows, 1).await?;
    state.bot.reload().await?;
    Ok(())
}

const GOOD_QUESTION: &str = "When is my bill due?";
/// Markup in a question must show as text on both pages.
const HOSTILE_QUESTION: &str = "<img src=x onerror=alert(1)> <b>bold</b> &amp;";
/// A language the library has no entries in: no answer, and a person offered.
const UNKNOWN_QUESTION: &str = "Где мой счёт?";

/// The thresholds line as the console writes it, from the numbers it holds.
const HANDOFF_LINE: &str = "const h = window.frontdeskAgent.state().queue.handoff;
    return h && `Bot offers a person under ${h.single.toFixed(2)} (mean ${h.mean.toFixed(2)}) · pressure ${h.pressure.toFixed(2)}`";

/// Waits until the console's thresholds are the desk's, written in its line;
/// returns the line.
async fn thresholds_shown(a: &Browser, ts: &TestServer) -> Result<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let (t, pressure) = ts.server.state().desk.handoff();
        let shown = a
            .js("return window.frontdeskAgent.state().queue.handoff")
            .await?;
        // Numbers as numbers: the page's JSON writes 1.0 as 1.
        let number = |k: &str| shown[k].as_f64();
        if (number("single"), number("mean"), number("pressure"))
            == (Some(t.single), Some(t.mean), Some(pressure))
        {
            let line = a.js(HANDOFF_LINE).await?;
            let text = a.text("#handoff-text").await?;
            assert_eq!(json!(text), line, "the thresholds line");
            return Ok(text);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the console shows thresholds {shown}, the desk has {t:?} at pressure {pressure}"
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The issue's acceptance test for the bot: a customer opens "Ask a question",
/// gets an answer (and says it helped), asks across a dropped connection and a
/// reload, asks something the library cannot answer and is offered a person,
/// accepts, and waits; an agent gets them with the conversation, its degrees
/// and the live thresholds. Questions with markup show as text on both pages.
#[tokio::test]
async fn a_customer_asks_the_bot_then_talks_to_a_person() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    load_demo_library(&ts).await?;

    // The bot opens in its own view, with a way to a person from the start.
    let c = driver.customer(&ts, None).await?;
    c.choose("ask").await?;
    c.view("bot-view").await?;
    assert_eq!(c.text("#bot-title").await?, "Ask a question");
    assert!(c.displayed("#bot-human").await?, "always a way to a person");
    assert!(!c.displayed("#bot-offer").await?, "nothing on offer yet");
    let consultation = c.consultation().await?;

    // A question the library answers well: the answer, and no offer.
    let bot = c.ask_bot(GOOD_QUESTION, 1).await?;
    assert_eq!(bot["turns"][0]["entry"], json!("bill-due"));
    assert_eq!(bot["offer"], json!(false));
    let answer = c.text("#bot-lines li[data-answer] .bot-text").await?;
    assert!(answer.contains("15th"), "the answer shown: {answer}");
    assert!(
        !c.displayed("#bot-offer").await?,
        "no offer after a good answer"
    );
    // It helped: said once, thanked.
    c.click("#bot-lines button.helped").await?;
    c.until(
        "the thanks for the feedback",
        "return document.querySelectorAll('#bot-lines .helped-done').length === 1
            && document.querySelectorAll('#bot-lines button.helped').length === 0",
    )
    .await?;
    let stats = ts.server.state().store.answer_stats().await?;
    let bill = stats
        .iter()
        .find(|s| s.answer_id == "bill-due")
        .ok_or("no stats")?;
    assert_eq!((bill.given, bill.accepted), (1, 1));

    // Asked while the network is down: shown at once as pending, kept, and
    // answered once after the page has resumed.
    c.js("window.frontdesk.dropConnection(); return true")
        .await?;
    c.type_into("#bot-input", "How can I pay?").await?;
    c.click("#bot-send").await?;
    let seen = c
        .js("return {
                pending: Array.from(document.querySelectorAll('#bot-lines li.pending .line-text'))
                    .map((n) => n.textContent),
                kept: JSON.parse(sessionStorage.getItem('frontdesk.asks') || '[]').map((a) => a.text),
                answered: window.frontdesk.state().bot.turns.length,
            }")
        .await?;
    // Unless the page has already reconnected and been answered.
    if seen["answered"] == json!(1) {
        assert_eq!(seen["pending"], json!(["How can I pay?"]), "{seen}");
        assert_eq!(seen["kept"], json!(["How can I pay?"]), "{seen}");
    }
    let bot = c.bot_answered(2).await?;
    assert_eq!(bot["turns"][1]["entry"], json!("pay-methods"));

    // A reload comes back to the bot and its conversation, the feedback remembered.
    c.goto(&format!("{}/", ts.url())).await?;
    c.view("bot-view").await?;
    c.bot_answered(2).await?;
    assert_eq!(
        c.js("return document.querySelectorAll('#bot-lines .helped-done').length")
            .await?,
        json!(1)
    );

    // Markup in a question is text.
    c.ask_bot(HOSTILE_QUESTION, 3).await?;
    assert_eq!(
        c.text("#bot-lines li[data-question]:nth-last-child(2) .line-text")
            .await?,
        HOSTILE_QUESTION
    );
    assert_eq!(
        c.js("return document.querySelectorAll('#bot-lines img, #bot-lines b').length")
            .await?,
        json!(0),
        "no element made from the question"
    );
    assert!(!c.alert_open().await, "no alert opened");
    // Nothing in the library matches it: a person is offered, and "Keep
    // asking" declines.
    c.view("bot-offer").await?;
    c.click("#bot-decline").await?;
    c.until(
        "the offer declined",
        "return document.getElementById('bot-offer').hidden && !window.frontdesk.state().bot.offer",
    )
    .await?;

    // A question the bot has no answer to: it says so, and offers a person.
    let bot = c.ask_bot(UNKNOWN_QUESTION, 4).await?;
    assert_eq!(bot["turns"][3]["answer"], Value::Null);
    assert_eq!(
        c.text("#bot-lines li[data-answer]:last-child .line-text")
            .await?,
        "Sorry, I have no answer to that."
    );
    c.view("bot-offer").await?;
    assert_eq!(c.text("#bot-accept").await?, "Talk to a person");
    assert_eq!(c.text("#bot-decline").await?, "Keep asking");

    // Accepted: the customer waits for a person, with the waiting panel.
    c.click("#bot-accept").await?;
    c.view("menu-view").await?;
    c.view("queue").await?;
    c.first_in_queue().await?;

    // The agent signs in: the thresholds are in the queue column.
    let a = driver.agent(&ts, None).await?;
    a.sign_in(AGENT.0, AGENT.1).await?;
    a.until(
        "the waiting customer",
        "return window.frontdeskAgent.state().queue.length === 1",
    )
    .await?;
    let line = thresholds_shown(&a, &ts).await?;
    assert!(line.starts_with("Bot offers a person under 0."), "{line}");

    // Idle: the customer comes with their conversation and its degrees.
    a.click("#go-idle").await?;
    a.until(
        "the customer assigned",
        "return window.frontdeskAgent.state().services.length === 1",
    )
    .await?;
    c.view("chat-view").await?;
    a.view("bot-log").await?;
    let turns = ts.server.state().store.bot_turns(&consultation).await?;
    let questions: Vec<&str> = turns.iter().map(|t| t.question.as_str()).collect();
    assert_eq!(
        questions,
        [
            GOOD_QUESTION,
            "How can I pay?",
            HOSTILE_QUESTION,
            UNKNOWN_QUESTION
        ],
        "each question stored once"
    );
    let shown = a
        .js(
            "return Array.from(document.querySelectorAll('#bot-turns .bot-turn')).map((n) => [
                n.querySelector('.bot-q').textContent,
                n.querySelector('.degree-num').textContent,
                n.dataset.offered === 'true',
                (n.querySelector('.bot-entry') || {}).textContent || null,
            ])",
        )
        .await?;
    let want: Vec<Value> = turns
        .iter()
        .map(|t| {
            json!([
                t.question,
                format!("{:.2}", t.degree),
                t.offered,
                t.answer_id
            ])
        })
        .collect();
    assert_eq!(shown, json!(want), "the bot conversation in the console");
    assert_eq!(
        a.js("return document.querySelector('#bot-turns .bot-turn').dataset.level")
            .await?,
        json!("high"),
        "the good answer's degree is high"
    );
    assert_eq!(
        a.js("return document.querySelector('#bot-turns .bot-turn:last-child').dataset.level")
            .await?,
        json!("low")
    );
    let mean = turns.iter().map(|t| t.degree).sum::<f64>() / 4.0;
    let summary = a.text("#bot-summary .degree-chip").await?;
    assert_eq!(summary, format!("mean {mean:.2}"));
    assert!(
        a.text("#bot-turns").await?.contains(HOSTILE_QUESTION),
        "markup shown literally"
    );
    assert_eq!(
        a.js("return document.querySelectorAll('#bot-turns img, #bot-turns b').length")
            .await?,
        json!(0)
    );
    assert!(!a.alert_open().await, "no alert opened");
    // The agent is busy now: the thresholds follow.
    thresholds_shown(&a, &ts).await?;

    // Still one screen on a laptop.
    let overflow = a
        .js("return [document.documentElement.scrollHeight, document.documentElement.scrollWidth, innerHeight, innerWidth]")
        .await?;
    assert!(
        overflow[0].as_u64() <= overflow[2].as_u64()
            && overflow[1].as_u64() <= overflow[3].as_u64(),
        "the console scrolls: {overflow}"
    );
    a.js("document.getAnimations().forEach((x) => { try { x.finish(); } catch (_) { x.cancel(); } }); return true")
        .await?;
    a.screenshot_to_docs("bot").await?;

    c.close_clean("the customer's").await?;
    a.close_clean("the agent's").await
}

/// The bot in Chinese: its texts, an inline error by code, a person asked for
/// without an offer (the link that is always there), coming back to the bot
/// while waiting, and a dropped connection in the bot's view.
#[tokio::test]
async fn the_bot_in_chinese_and_a_person_asked_for_outright() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    load_demo_library(&ts).await?;
    let c = driver.customer(&ts, Some("zh-CN")).await?;
    assert_eq!(
        c.text("#items button.item[data-item='ask'] .item-kind")
            .await?,
        "智能助手"
    );
    c.choose("ask").await?;
    c.view("bot-view").await?;
    assert_eq!(c.text("#bot-send").await?, "提问");
    assert_eq!(c.text("#bot-human").await?, "转人工客服");
    assert!(
        c.text("#bot-lines .bot-intro")
            .await?
            .starts_with("请直接输入"),
        "a word on what to ask"
    );

    let bot = c.ask_bot("手机丢了怎么办", 1).await?;
    assert_eq!(bot["turns"][0]["entry"], json!("zh-lost-phone"));
    assert_eq!(bot["offer"], json!(false));
    assert_eq!(c.text("#bot-lines button.helped").await?, "有帮助");

    // A question the server cannot read: said in the view, by its code, and the
    // question goes back in the field.
    c.js("const input = document.getElementById('bot-input');
          input.value = '\\u0007\\u0007';
          document.getElementById('bot-form').requestSubmit();
          return true")
        .await?;
    c.until(
        "the inline error",
        "return document.getElementById('bot-error').textContent === '无法识别该问题，请换一种说法。'",
    )
    .await?;
    assert_eq!(
        c.js("return [document.getElementById('bot-input').value, window.frontdesk.state().asks.length]")
            .await?,
        json!(["\u{7}\u{7}", 0])
    );
    assert_eq!(
        c.js("return document.getElementById('error').hidden")
            .await?,
        json!(true),
        "not in the page's banner"
    );

    // A person, asked for outright: the waiting panel.
    c.click("#bot-human").await?;
    c.view("queue").await?;
    c.first_in_queue().await?;
    assert_eq!(c.text("#queue-title").await?, "正在为您转接人工客服");
    let turns = ts
        .server
        .state()
        .store
        .bot_turns(&c.consultation().await?)
        .await?;
    assert_eq!(turns.len(), 1, "the unreadable question was not stored");

    // Back to the bot while waiting: it says so, and its link leads back to the
    // waiting panel instead of asking again.
    c.choose("ask").await?;
    c.view("bot-view").await?;
    c.until(
        "the place in line in the bot's view",
        "return document.getElementById('bot-status').textContent === '正在等待人工客服：您排在第 1 位。'",
    )
    .await?;
    assert!(!c.displayed("#bot-offer").await?);

    // The network drops in the bot's view: it resumes there, the conversation kept.
    c.js("window.frontdesk.dropConnection(); return true")
        .await?;
    c.bot_answered(1).await?;
    assert_eq!(c.state().await?["view"], json!("bot"));

    c.click("#bot-human").await?;
    c.view("queue").await?;
    c.screen(MAIN_TITLE).await?;
    assert_eq!(
        c.js("return document.getElementById('error').hidden")
            .await?,
        json!(true),
        "no second request for a person, no error"
    );
    c.close_clean("the customer's").await
}

/// Reads messages until `pick` takes one, failing after [`WAIT`].
async fn recv_until<T>(
    conn: &mut Connection,
    what: &str,
    mut pick: impl FnMut(ServerMessage) -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = conn
            .recv_within(left)
            .await
            .map_err(|e| format!("waiting for {what}: {e}"))?;
        if let Some(t) = pick(msg) {
            return Ok(t);
        }
    }
}

/// An agent who may hold two chats gets two customers in tabs: a message to the
/// tab not on display is counted on it, and each tab talks to its own customer.
#[tokio::test]
async fn an_agent_holds_two_customers_in_tabs() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    let (status, body) = ts
        .admin()
        .await
        .post_raw(
            "/api/agents",
            "application/json",
            &json!({
                "username": "bob",
                "display_name": "Bob Martin",
                "password": "bob-password-1",
                "chat_capacity": 2,
            })
            .to_string(),
        )
        .await?;
    assert_eq!(status, 201, "creating the agent: {body}");

    let mut sam = waiting_customer(&ts, "+14155550188").await?;
    let mut li = waiting_customer(&ts, "+8613912345678").await?;

    let a = driver.agent(&ts, None).await?;
    a.sign_in("bob", "bob-password-1").await?;
    a.until(
        "two waiting",
        "return window.frontdeskAgent.state().queue.length === 2",
    )
    .await?;
    a.click("#go-idle").await?;
    a.until(
        "both customers in hand",
        "return window.frontdeskAgent.state().services.length === 2",
    )
    .await?;
    let joined = |m: ServerMessage| match m {
        ServerMessage::AgentJoined { service, agent, .. } => Some((service, agent.name)),
        _ => None,
    };
    let (_, name) = recv_until(&mut sam, "agent_joined", joined).await?;
    assert_eq!(name, "Bob Martin");
    let (li_service, _) = recv_until(&mut li, "agent_joined", joined).await?;

    // Two tabs; the first customer is on display.
    a.view("tabs").await?;
    assert_eq!(
        a.js("return Array.from(document.querySelectorAll('#tabs .tab-phone')).map((n) => n.textContent)")
            .await?,
        json!(["+14155550188", "+8613912345678"])
    );
    assert_eq!(a.text("#svc-phone").await?, "+14155550188");

    // The second customer writes: their tab counts it.
    li.send(&ClientMessage::Say {
        id: "li-1".into(),
        text: "你好，我的流量用完了".into(),
    })
    .await?;
    a.until(
        "the unread count on the second tab",
        "const b = document.querySelector('#tabs .tab:nth-child(2) .badge'); return b && b.textContent === '1'",
    )
    .await?;
    a.click("#tabs .tab:nth-child(2)").await?;
    assert_eq!(a.text("#svc-phone").await?, "+8613912345678");
    assert!(
        a.text("#transcript")
            .await?
            .contains("你好，我的流量用完了")
    );
    assert_eq!(
        a.attr("#tabs .tab:nth-child(2)", "aria-selected")
            .await?
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        a.js("return document.querySelectorAll('#tabs .badge').length")
            .await?,
        json!(0)
    );

    // The reply goes to that customer only.
    a.type_into("#reply", "I can add 5 GB now.").await?;
    a.click("#send").await?;
    let text = recv_until(&mut li, "the reply", |m| match m {
        ServerMessage::Chat { line, .. } => Some(line.text),
        _ => None,
    })
    .await?;
    assert_eq!(text, "I can add 5 GB now.");

    // Ending the service on display leaves the other one.
    a.click("#end-service").await?;
    let ended = recv_until(&mut li, "service_ended", |m| match m {
        ServerMessage::ServiceEnded {
            service, reason, ..
        } => Some((service, reason)),
        _ => None,
    })
    .await?;
    assert_eq!(ended, (li_service, "agent".to_owned()));
    a.until(
        "one customer left",
        "const s = window.frontdeskAgent.state(); return s.services.length === 1 && s.active === s.services[0].id",
    )
    .await?;
    assert_eq!(a.text("#svc-phone").await?, "+14155550188");
    let sam_lines = a
        .js("return window.frontdeskAgent.state().services[0].lines.length")
        .await?;
    assert_eq!(sam_lines, json!(0), "nothing crossed over");

    // The other customer's network drops: the console says so.
    sam.drop_abruptly();
    a.until(
        "the customer offline",
        "const s = window.frontdeskAgent.state().services[0]; return s && s.online === false",
    )
    .await?;
    assert!(
        a.text("#svc-online").await?.starts_with("Offline"),
        "shown offline"
    );
    a.close_clean("the agent's").await
}

/// The sign-in form says what went wrong: nothing typed, a wrong password, and
/// too many wrong passwords (429, with how long to wait from `Retry-After`).
#[tokio::test]
async fn the_console_sign_in_says_what_went_wrong() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    let a = driver.agent(&ts, None).await?;
    a.click("#login").await?;
    assert_eq!(
        a.text("#login-error").await?,
        "Enter your username and password."
    );
    a.type_into("#username", AGENT.0).await?;
    let mut throttled = None;
    for attempt in 1..=8 {
        a.find("#password").await?.clear().await?;
        a.type_into("#password", &format!("wrong-{attempt}"))
            .await?;
        a.click("#login").await?;
        let said = a
            .until(
                "an answer to signing in",
                "const e = document.getElementById('login-error').textContent;
                 return document.getElementById('login').getAttribute('aria-disabled') !== 'true'
                     || e.startsWith('Too many') ? e : ''",
            )
            .await?;
        let said = said.as_str().unwrap_or_default().to_owned();
        if said.starts_with("Too many") {
            throttled = Some(said);
            break;
        }
        assert_eq!(said, "Wrong username or password.", "attempt {attempt}");
        // The next attempt must not be read as this one's answer.
        a.js("document.getElementById('login-error').textContent = ''; return true")
            .await?;
    }
    let throttled = throttled.ok_or("never told to wait")?;
    let secs: u64 = throttled
        .strip_prefix("Too many attempts, try again in ")
        .and_then(|r| r.strip_suffix(" s."))
        .ok_or_else(|| format!("the wait message: {throttled:?}"))?
        .parse()?;
    assert!((1..=60).contains(&secs), "{throttled}");
    assert_eq!(
        a.attr("#login", "aria-disabled").await?.as_deref(),
        Some("true"),
        "no more attempts until then"
    );
    a.close_clean_but("the agent's", |e| {
        e.contains("/api/login") && (e.contains("401") || e.contains("429"))
    })
    .await
}

/// The customer sees their agent drop and come back; when the agent stays away
/// past the grace period the chat ends and the customer is first in line again.
#[tokio::test]
async fn the_customer_is_told_when_the_agent_drops() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server_with(|c| c.queue.agent_grace_secs = 2).await?;
    let c = driver.customer(&ts, None).await?;
    c.choose("chat").await?;
    c.first_in_queue().await?;
    // An agent (a program on the agent socket) comes online and takes the customer.
    let mut agent = AgentClient::login(&ts.url(), AGENT.0, AGENT.1).await?;
    agent.presence(PresenceChoice::Idle).await?;
    agent.wait_assigned(WAIT).await?;
    c.view("chat-view").await?;

    // The agent's network drops: the customer is told, and told when it is back.
    agent.drop_connection();
    c.until(
        "the agent-offline notice",
        "return document.getElementById('agent-status').textContent.includes('lost their connection')",
    )
    .await?;
    assert_eq!(c.state().await?["chat"]["online"], json!(false));
    agent.reconnect().await?;
    c.until(
        "the agent back",
        "const s = window.frontdesk.state();
         return s.chat && s.chat.online && document.getElementById('agent-status').textContent === ''",
    )
    .await?;

    // Gone for longer than the grace period: back in the queue, at the head.
    agent.drop_connection();
    c.view("menu-view").await?;
    c.until(
        "first in line again",
        "const q = window.frontdesk.state().queue; return q && q.position === 1 && q.requeued",
    )
    .await?;
    assert_eq!(
        c.text("#notice").await?,
        "Your agent lost their connection, so the chat has ended."
    );
    assert!(
        c.displayed("#queue-requeued").await?,
        "told they are first again"
    );
    assert_eq!(c.state().await?["chat"], Value::Null);
    c.close_clean("the customer's").await
}

// ------------------------------------------------------------------ after the service: cards

/// The messages the SMS log holds for `phone`, newest first.
async fn sms_to(ts: &TestServer, phone: &str) -> Result<Vec<Value>> {
    let phone: String = url::form_urlencoded::byte_serialize(phone.as_bytes()).collect();
    let (status, body) = ts
        .admin()
        .await
        .get_json(&format!("/api/sms?phone={phone}"))
        .await?;
    assert_eq!(status, 200, "the SMS log: {body}");
    Ok(body.as_array().cloned().unwrap_or_default())
}

/// Waits until the SMS log holds `n` cards for `phone` (they are issued off the
/// path of the request that ended the service); returns them, newest first.
async fn cards_to(ts: &TestServer, phone: &str, n: usize) -> Result<Vec<Value>> {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = sms_to(ts, phone).await?;
        if log.len() >= n {
            assert_eq!(log.len(), n, "cards to {phone}: {log:#?}");
            return Ok(log);
        }
        if Instant::now() > deadline {
            return Err(format!("waited {WAIT:?} for {n} cards to {phone}: {log:#?}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The link's path (`/a/CODE`) in a card.
fn link_of(sms: &Value) -> Result<String> {
    let link = sms["link"]
        .as_str()
        .ok_or_else(|| format!("no link in {sms}"))?;
    assert!(link.starts_with("/a/"), "{link}");
    Ok(link.to_owned())
}

/// A customer on a plain SDK connection who chats with `agent` (idle, over the
/// SDK) until the agent ends the service: they have had one service with them,
/// and their card is on its way.
async fn served_once(
    ts: &TestServer,
    agent: &mut AgentClient,
    phone: &str,
) -> Result<CustomerClient> {
    let mut c = CustomerClient::start(&ts.url(), phone).await?;
    c.select("chat").await?;
    let s = agent.wait_assigned(WAIT).await?;
    assert_eq!(s.phone, phone.replace(' ', ""));
    agent.end_service(&s.id).await?;
    Ok(c)
}

/// Sets agent `id`'s slogan and contact number as the admin.
async fn set_profile(ts: &TestServer, id: i64, slogan: &str, contact: &str) -> Result {
    let body = json!({ "slogan": slogan, "contact_phone": contact });
    let (status, reply) = ts
        .admin()
        .await
        .put_raw(
            &format!("/api/agents/{id}/profile"),
            "application/json",
            &body.to_string(),
        )
        .await?;
    assert_eq!(status, 200, "setting the profile: {reply}");
    Ok(())
}

/// A comment with markup, which must show as text.
const HOSTILE_COMMENT: &str = "Sorted out in minutes. <b>bold</b> & kind.";

/// The issue's acceptance test for the agent's page, on a phone: after a chat
/// the customer's card arrives; its link opens the agent's page (name, id, no
/// score yet, one customer served), where they rate the service with four stars
/// and a comment: thanked, the score is 4.0 of one rating, and the comment is
/// shown as text.
#[tokio::test]
async fn the_agents_page_takes_a_rating_on_a_phone() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    let mut alice = AgentClient::login(&ts.url(), AGENT.0, AGENT.1).await?;
    let id = alice.info().id;
    set_profile(
        &ts,
        id,
        "Here to sort it out, first time.",
        "+1 201 555 0199",
    )
    .await?;
    alice.presence(PresenceChoice::Idle).await?;
    let _customer = served_once(&ts, &mut alice, PHONE_NUMBER).await?;
    let cards = cards_to(&ts, "+12015550123", 1).await?;
    let link = link_of(&cards[0])?;
    assert_eq!(cards[0]["agent"], json!(id));

    let b = driver.open(&ts, &link, None, PHONE).await?;
    assert_eq!(b.title().await?, format!("{AGENT_NAME} · your agent"));
    assert_eq!(b.text("#agent-name").await?, AGENT_NAME);
    assert_eq!(b.text("#agent-id").await?, format!("#{id}"));
    assert_eq!(b.text("#slogan").await?, "Here to sort it out, first time.");
    assert_eq!(b.text("#score").await?, "–");
    assert_eq!(b.text("#rating-count").await?, "no ratings yet");
    assert_eq!(b.text("#served").await?, "1");
    assert_eq!(
        b.attr("#contact", "href").await?.as_deref(),
        Some("tel:+12015550199")
    );
    let again = b.attr("#chat-again", "href").await?.unwrap_or_default();
    let code = link.trim_start_matches("/a/");
    assert_eq!(again, format!("/?link={code}"));
    // The drawn photo (no upload yet) has loaded.
    b.until(
        "the agent's photo",
        "const i = document.querySelector('.who img'); return i && i.complete && i.naturalWidth > 0",
    )
    .await?;
    assert_eq!(
        b.js("return document.querySelectorAll('#past li').length")
            .await?,
        json!(1),
        "the one service, not rated yet"
    );
    // Made for a phone: no sideways scrolling, stars big enough to tap.
    let fits = b
        .js("return document.documentElement.scrollWidth <= innerWidth")
        .await?;
    assert_eq!(fits, json!(true), "the page scrolls sideways");
    let small = b
        .js("return Array.from(document.querySelectorAll('#rate .rate label'))
                .filter((l) => { const r = l.getBoundingClientRect(); return r.width < 44 || r.height < 44; }).length")
        .await?;
    assert_eq!(small, json!(0), "stars smaller than a 44 px tap target");

    // Four stars (the radio buttons are hidden behind their stars) and a comment.
    b.click("label[for='star4']").await?;
    assert_eq!(
        b.js("return document.querySelector('#rate input[name=stars]:checked').value")
            .await?,
        json!("4")
    );
    b.type_into("#rate textarea[name='comment']", HOSTILE_COMMENT)
        .await?;
    b.screenshot_to_docs("card").await?;
    b.click("#rate button[type='submit']").await?;

    // Thanked, on the page again with the new score.
    b.until(
        "the new score",
        "const s = document.getElementById('score'); return s && s.textContent === '4.0'",
    )
    .await?;
    assert_eq!(b.js("return location.search").await?, json!("?rated=1"));
    assert_eq!(b.text(".note.info").await?, "Thank you for your rating.");
    assert_eq!(b.text("#rating-count").await?, "1 rating");
    assert_eq!(b.text("#served").await?, "1");
    assert_eq!(b.text("#past .stars").await?, "★★★★☆");
    assert_eq!(
        b.js("return document.getElementById('rate')").await?,
        Value::Null,
        "nothing left to rate"
    );
    // The comment is text: no element was made from it.
    assert_eq!(b.text("#ratings .comment").await?, HOSTILE_COMMENT);
    assert_eq!(
        b.js("return document.querySelectorAll('#ratings b, #ratings img, main img:not(.who img)').length")
            .await?,
        json!(0)
    );
    assert!(!b.alert_open().await, "no alert opened");
    b.close_clean("the customer's").await
}

/// An 8×8 PNG: a real image the browser can draw.
const PNG: [u8; 74] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x4b, 0x6d, 0x29,
    0xdc, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xe0, 0x8a, 0x38, 0x85,
    0x15, 0x31, 0x0c, 0x2d, 0x09, 0x00, 0x1e, 0x7b, 0x4b, 0x01, 0xeb, 0xa3, 0x96, 0x66, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Waits until the profile dialog has an answer from the server (nothing in
/// flight, the status or error line says `said`); returns the console's profile state.
async fn profile_says(a: &Browser, what: &str, said: &str) -> Result<Value> {
    let script = format!(
        "const p = window.frontdeskAgent.state().profile;
         return !p.busy && (p.status === {said} || p.error === {said}) && p",
        said = json!(said)
    );
    a.until(what, &script).await
}

/// The console's "Send my card" (once per customer, and saying so) and "My
/// profile" (figures, a refused number, a slogan saved, a photo uploaded,
/// refused and removed); what was saved is on the agent's page.
#[tokio::test]
async fn an_agent_sends_their_card_and_edits_their_profile() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    let customer = "+14155550188";
    let _sam = waiting_customer(&ts, customer).await?;

    let a = driver.agent(&ts, None).await?;
    a.sign_in(AGENT.0, AGENT.1).await?;
    a.click("#go-idle").await?;
    let services = a
        .until(
            "the customer assigned",
            "const s = window.frontdeskAgent.state(); return s.services.length === 1 && s.services",
        )
        .await?;
    let service = services[0]["id"]
        .as_str()
        .ok_or("no service id")?
        .to_owned();
    a.view("service").await?;
    assert_eq!(a.text("#send-card").await?, "Send my card");
    assert_eq!(
        a.attr("#send-card", "aria-disabled").await?.as_deref(),
        Some("false")
    );

    // Pressed: sent, said on the button and in a notice, and the button is done.
    a.click("#send-card").await?;
    a.until(
        "the card sent",
        "const s = window.frontdeskAgent.state().services[0];
         return s.card === 'sent' && document.getElementById('send-card').textContent === 'Card sent'",
    )
    .await?;
    assert_eq!(
        a.attr("#send-card", "aria-disabled").await?.as_deref(),
        Some("true")
    );
    assert_eq!(
        a.text("#notice").await?,
        format!("Your card is on its way to {customer}.")
    );
    let cards = cards_to(&ts, customer, 1).await?;
    assert_eq!(cards[0]["service"], json!(service));
    let link = link_of(&cards[0])?;

    // A second press does nothing.
    a.click("#send-card").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sms_to(&ts, customer).await?.len(),
        1,
        "one card per service"
    );
    assert_eq!(a.text("#send-card").await?, "Card sent");

    // After a reload the console does not know; the server does.
    a.goto(&format!("{}/agent", ts.url())).await?;
    a.view("service").await?;
    assert_eq!(a.text("#send-card").await?, "Send my card");
    a.click("#send-card").await?;
    a.until(
        "the card already sent",
        "const s = window.frontdeskAgent.state().services[0];
         return s && s.card === 'already' && document.getElementById('send-card').textContent === 'Card already sent'",
    )
    .await?;
    assert_eq!(sms_to(&ts, customer).await?.len(), 1, "still one card");

    // My profile: the figures, and what customers see.
    a.click("#profile-open").await?;
    a.view("profile").await?;
    let p = a
        .until(
            "the profile read",
            "const p = window.frontdeskAgent.state().profile; return !p.busy && p.data",
        )
        .await?;
    assert_eq!(p["served"], json!(0));
    assert_eq!(a.text("#profile-served").await?, "0");
    assert_eq!(a.text("#profile-score").await?, "No ratings yet");
    assert_eq!(
        a.js("return document.getElementById('profile-slogan').value")
            .await?,
        json!("")
    );
    a.until(
        "the drawn photo",
        "const i = document.getElementById('profile-photo'); return i.complete && i.naturalWidth > 0",
    )
    .await?;
    assert!(
        !a.displayed("#profile-photo-remove").await?,
        "no photo to remove yet"
    );

    // A number that is not one: said by the field.
    a.type_into("#profile-contact", "12").await?;
    a.click("#profile-save").await?;
    profile_says(
        &a,
        "the refused number",
        "That contact number does not look right. Check it, or leave it empty.",
    )
    .await?;
    assert_eq!(
        a.attr("#profile-contact", "aria-invalid").await?.as_deref(),
        Some("true")
    );

    // Saved.
    let slogan = "Happy to help — <i>really</i> & quickly";
    a.find("#profile-contact").await?.clear().await?;
    a.type_into("#profile-contact", "+1 201 555 0199").await?;
    a.type_into("#profile-slogan", slogan).await?;
    a.click("#profile-save").await?;
    let p = profile_says(
        &a,
        "the profile saved",
        "Saved. Customers see it on your page.",
    )
    .await?;
    assert_eq!(p["data"]["slogan"], json!(slogan));
    assert_eq!(p["data"]["contact_phone"], json!("+12015550199"));
    assert_eq!(a.attr("#profile-contact", "aria-invalid").await?, None);

    // A photo: uploaded from a file, shown, then removed.
    let dir = tempfile::tempdir()?;
    let photo = dir.path().join("me.png");
    std::fs::write(&photo, PNG)?;
    a.find("#profile-file")
        .await?
        .send_keys(&photo.display().to_string())
        .await?;
    let p = profile_says(&a, "the photo uploaded", "Photo saved.").await?;
    assert_eq!(p["data"]["has_photo"], json!(true));
    a.until(
        "the uploaded photo shown",
        "const i = document.getElementById('profile-photo'); return i.complete && i.naturalWidth === 8",
    )
    .await?;
    // Not an image, whatever its name says: refused, said why.
    let fake = dir.path().join("not-a-photo.png");
    std::fs::write(&fake, "this is text")?;
    a.find("#profile-file")
        .await?
        .send_keys(&fake.display().to_string())
        .await?;
    profile_says(
        &a,
        "the refused file",
        "That file is not a PNG, JPEG, WebP or GIF image.",
    )
    .await?;
    a.click("#profile-photo-remove").await?;
    let p = profile_says(&a, "the photo removed", "Photo removed.").await?;
    assert_eq!(p["data"]["has_photo"], json!(false));
    a.click("#profile-close").await?;
    a.until(
        "the dialog closed",
        "return !window.frontdeskAgent.state().profile.open",
    )
    .await?;

    // The customer's page shows what was saved, as text.
    let page = driver.open(&ts, &link, None, PHONE).await?;
    assert_eq!(page.text("#slogan").await?, slogan);
    assert_eq!(page.text("#contact").await?, "Call +12015550199");
    assert_eq!(
        page.js("return document.querySelectorAll('#slogan i').length")
            .await?,
        json!(0)
    );
    page.close_clean("the customer's").await?;

    // The expected refusals: the number (422) and the file that is not an image (415).
    a.close_clean_but("the agent's", |e| {
        (e.contains("/profile") && e.contains("422")) || (e.contains("/photo") && e.contains("415"))
    })
    .await
}

/// Coming back through the link, on a phone: the page starts without asking for
/// a phone number and asks for the link's agent, who is idle and takes the
/// customer at once; a reload resumes the chat and asks for nobody again.
#[tokio::test]
async fn the_link_brings_the_customer_back_to_their_agent() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server().await?;
    let mut alice = AgentClient::login(&ts.url(), AGENT.0, AGENT.1).await?;
    alice.presence(PresenceChoice::Idle).await?;
    drop(served_once(&ts, &mut alice, PHONE_NUMBER).await?);
    let link = link_of(&cards_to(&ts, "+12015550123", 1).await?[0])?;
    let code = link.trim_start_matches("/a/").to_owned();

    let c = driver
        .open(&ts, &format!("/?link={code}"), None, PHONE)
        .await?;
    // Alice is idle: she gets the customer at once.
    let s = alice.wait_assigned(WAIT).await?;
    assert_eq!(s.phone, "+12015550123");
    c.view("chat-view").await?;
    c.until(
        "the agent's name",
        &format!(
            "return document.getElementById('chat-title').textContent === {}",
            json!(AGENT_NAME)
        ),
    )
    .await?;
    let state = c.state().await?;
    assert_eq!(state["link"], json!(code));
    assert_eq!(state["reach"], json!("done"));
    assert!(
        !c.displayed("#start-view").await?,
        "no phone number asked for"
    );
    // The code stands for the phone number: out of the address bar.
    assert_eq!(c.js("return location.search").await?, json!(""));

    // They talk; a reload comes back to the chat and asks for nobody again.
    c.type_into("#chat-input", "Hi again!").await?;
    c.click("#chat-send").await?;
    wait_for_line(&c, "the customer", CUSTOMER_LINES, "customer", "Hi again!").await?;
    c.goto(&format!("{}/", ts.url())).await?;
    c.view("chat-view").await?;
    wait_for_line(&c, "the customer", CUSTOMER_LINES, "customer", "Hi again!").await?;
    c.until(
        "the resumed chat",
        "const s = window.frontdesk.state(); return s.connected && s.chat && !s.chat.stale && s.outbox === 0",
    )
    .await?;
    assert_eq!(c.state().await?["reach"], json!("done"));
    assert_eq!(alice.services().len(), 1, "one service, not two");

    // A link that is not (or no longer) valid: said, and the phone is asked for.
    let other = driver
        .open(&ts, "/?link=NotAValidCode123", None, PHONE)
        .await?;
    other.view("start-view").await?;
    other
        .until(
            "the unknown-link message",
            "return document.getElementById('error-text').textContent.startsWith('This link is not valid')",
        )
        .await?;
    assert_eq!(other.state().await?["link"], Value::Null);
    other.type_into("#phone", "+1 415 555 0188").await?;
    other.click("#start").await?;
    other.screen(MAIN_TITLE).await?;
    other.close_clean("the other customer's").await?;
    c.close_clean("the customer's").await
}

/// Through the link while the agent is busy: the customer waits for them by
/// name, the console marks them "waiting for you"; when the agent stays busy
/// past `cards.reach_wait_secs` the customer is told anyone may take them, and
/// the agent, free again, takes them. In Chinese on the customer's side.
#[tokio::test]
async fn the_customer_waits_for_their_busy_agent_then_anyone() -> Result {
    let Some(driver) = Driver::start().await? else {
        return Ok(());
    };
    let ts = chat_server_with(|c| c.cards.reach_wait_secs = 3).await?;
    let a = driver.agent(&ts, None).await?;
    a.sign_in(AGENT.0, AGENT.1).await?;
    let me = a
        .until(
            "the agent's id",
            "const s = window.frontdeskAgent.state(); return s.agent && s.agent.id",
        )
        .await?;
    a.click("#go-idle").await?;

    // A first chat, ended in the console: the card goes out.
    let mut first = CustomerClient::start(&ts.url(), PHONE_NUMBER).await?;
    first.select("chat").await?;
    a.until(
        "the first customer",
        "return window.frontdeskAgent.state().services.length === 1",
    )
    .await?;
    a.view("service").await?;
    a.click("#end-service").await?;
    let link = link_of(&cards_to(&ts, "+12015550123", 1).await?[0])?;
    let code = link.trim_start_matches("/a/").to_owned();
    drop(first);

    // Someone else takes the agent.
    let _other = waiting_customer(&ts, "+14155550188").await?;
    a.until(
        "the agent busy",
        "const s = window.frontdeskAgent.state();
         return s.services.length === 1 && s.services[0].phone === '+14155550188'",
    )
    .await?;

    // Through the link: waiting for her, by name.
    let c = driver
        .open(&ts, &format!("/?link={code}"), Some("zh-CN"), PHONE)
        .await?;
    c.view("queue").await?;
    c.until(
        "waiting for the agent",
        &format!(
            "return document.getElementById('queue-title').textContent === {}",
            json!(format!("正在等待 {AGENT_NAME}"))
        ),
    )
    .await?;
    assert_eq!(
        c.state().await?["queue"]["waitingFor"]["name"],
        json!(AGENT_NAME)
    );
    assert_eq!(
        c.text("#queue-wait").await?,
        format!("{AGENT_NAME} 一有空就会为您服务。")
    );
    assert!(!c.displayed("#start-view").await?);

    // The console marks the customer waiting for this agent.
    let queue = a
        .until(
            "the customer waiting for the agent",
            "const q = window.frontdeskAgent.state().queue; return q.length === 1 && q.waiting",
        )
        .await?;
    assert_eq!(queue[0]["forAgent"], me);
    assert_eq!(
        a.text("#queue-list li.for-me .waiting-for").await?,
        "Waiting for you"
    );

    // She stays busy: the customer is told, and waits for anyone.
    c.until(
        "the fell-back notice",
        &format!(
            "return document.getElementById('queue-fellback').textContent === {}",
            json!(format!(
                "{AGENT_NAME} 仍在忙碌，下一位空闲的客服将为您服务。"
            ))
        ),
    )
    .await?;
    assert_eq!(c.text("#queue-title").await?, "正在为您转接人工客服");
    assert_eq!(c.state().await?["queue"]["waitingFor"], Value::Null);
    a.until(
        "the mark gone from the console",
        "return document.querySelectorAll('#queue-list li.for-me').length === 0
            && window.frontdeskAgent.state().queue.waiting[0].forAgent === null",
    )
    .await?;

    // Free again, she takes them.
    a.click("#end-service").await?;
    c.view("chat-view").await?;
    c.until(
        "the agent's name",
        &format!(
            "return document.getElementById('chat-title').textContent === {}",
            json!(AGENT_NAME)
        ),
    )
    .await?;
    a.until(
        "the customer from the link",
        "const s = window.frontdeskAgent.state();
         return s.services.length === 1 && s.services[0].phone === '+12015550123'",
    )
    .await?;
    c.close_clean("the customer's").await?;
    a.close_clean("the agent's").await
}
