//! The answer library end to end: `/api/answers` (replace whole from CSV, YAML or
//! JSON, one entry at a time, export, deflection numbers), bad files that change
//! nothing, and `frontdesk answers import | export | stats`, including an import
//! into the database of a running server that takes effect without a restart.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::TestServer;
use frontdesk_client::ApiClient;
use frontdesk_store::AnswerEvent;
use serde_json::Value;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_frontdesk");

/// Three answers in two languages: line 2 is `bill-due`, line 3 `opening-hours`,
/// line 4 `bill-due-zh`.
const GOOD_CSV: &str = "\
id,language,answer,phrasings,tags
bill-due,en,Your bill is due on the 1st of each month.,When is my bill due?|What day do I pay my bill?,billing
opening-hours,en,\"We are open 9:00-17:00, Monday to Friday.\",When are you open?|What are your opening hours?,
bill-due-zh,zh,每月1日缴费。,我的账单什么时候到期？|哪天交费？,billing
";

const GOOD_YAML: &str = "\
- id: lost-card
  language: en
  answer: |
    Block it in the app at once.
    Then order a new one.
  phrasings:
    - I lost my card
    - My card was stolen
  tags: [cards]
- id: pin-reset
  language: en
  answer: Reset your PIN in the app under Cards.
  phrasings: [I forgot my PIN, How do I change my PIN?]
";

/// An admin's view of the API: raw requests, status and body.
struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    async fn login(ts: &TestServer, user: (&str, &str)) -> Result<Self> {
        let mut api = ApiClient::new(&ts.url())?;
        let login = api.login(user.0, user.1).await?;
        Ok(Self {
            http: reqwest::Client::new(),
            base: ts.url(),
            token: Some(login.token),
        })
    }

    fn anonymous(ts: &TestServer) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: ts.url(),
            token: None,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    /// Status, Content-Type and body text.
    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<(u16, String, String)> {
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Ok((status, content_type, resp.text().await?))
    }

    async fn json(&self, rb: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let (status, _, text) = self.send(rb).await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.json(self.request(reqwest::Method::GET, path)).await
    }

    async fn put(&self, path: &str, content_type: &str, body: &str) -> Result<(u16, Value)> {
        self.json(
            self.request(reqwest::Method::PUT, path)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_owned()),
        )
        .await
    }

    async fn delete(&self, path: &str) -> Result<(u16, Value)> {
        self.json(self.request(reqwest::Method::DELETE, path)).await
    }

    /// `GET /api/answers?format=…`: status, Content-Type, file.
    async fn export(&self, format: &str) -> Result<(u16, String, String)> {
        self.send(self.request(
            reqwest::Method::GET,
            &format!("/api/answers?format={format}"),
        ))
        .await
    }

    /// The library as GET shows it, asserting it is readable.
    async fn library(&self) -> Result<Value> {
        let (status, body) = self.get("/api/answers").await?;
        assert_eq!(status, 200, "{body}");
        Ok(body)
    }
}

fn ids(library: &Value) -> Vec<String> {
    library["entries"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| e["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `line: message` of every problem of an error body.
fn problems(body: &Value) -> Vec<(Option<u64>, String)> {
    body["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    (
                        p["line"].as_u64(),
                        p["message"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The id of the entry the running bot answers `question` with.
async fn bot_answers(ts: &TestServer, question: &str) -> Option<String> {
    ts.server
        .state()
        .bot
        .ask(question)
        .await
        .answer
        .map(|(id, _)| id)
}

#[tokio::test]
async fn a_csv_put_over_rest_is_stored_and_in_effect_at_once() -> Result {
    let ts = TestServer::start().await;
    let api = Api::login(&ts, common::ADMIN).await?;

    let before = api.library().await?;
    assert_eq!(before["entries"], serde_json::json!([]));
    assert_eq!(before["version"], before["serving_version"]);

    let (status, body) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entries"], 3);
    assert_eq!(body["phrasings"], 6);
    assert_eq!(body["languages"], serde_json::json!({"en": 2, "zh": 1}));
    let version = body["version"].as_i64().ok_or("version")?;
    assert!(version > before["version"].as_i64().ok_or("version")?);

    let after = api.library().await?;
    assert_eq!(after["version"], version);
    assert_eq!(
        after["serving_version"], version,
        "the bot answers with the new library without a restart"
    );
    assert_eq!(ids(&after), ["bill-due", "bill-due-zh", "opening-hours"]);
    let bill = &after["entries"][0];
    assert_eq!(bill["language"], "en");
    assert_eq!(bill["answer"], "Your bill is due on the 1st of each month.");
    assert_eq!(
        bill["phrasings"],
        serde_json::json!(["When is my bill due?", "What day do I pay my bill?"])
    );
    assert_eq!(bill["tags"], serde_json::json!(["billing"]));
    assert_eq!(
        bot_answers(&ts, "when is my bill due").await.as_deref(),
        Some("bill-due")
    );
    Ok(())
}

#[tokio::test]
async fn yaml_and_json_bodies_replace_the_library_too() -> Result {
    let ts = TestServer::start().await;
    let api = Api::login(&ts, common::ADMIN).await?;

    for content_type in [
        "application/yaml",
        "text/yaml; charset=utf-8",
        "application/x-yaml",
    ] {
        let (status, body) = api.put("/api/answers", content_type, GOOD_YAML).await?;
        assert_eq!(status, 200, "{content_type}: {body}");
        assert_eq!(body["entries"], 2);
    }
    let library = api.library().await?;
    assert_eq!(ids(&library), ["lost-card", "pin-reset"]);
    assert_eq!(
        library["entries"][0]["answer"],
        "Block it in the app at once.\nThen order a new one."
    );

    // JSON: an array of entries (`tags` may be left out); the `entries` of a GET
    // go back as they came.
    let json = r#"[
        {"id": "refund", "language": "en", "answer": "Refunds take 5 days.",
         "phrasings": ["Where is my refund?", "How long does a refund take?"]},
        {"id": "tui-kuan", "language": "zh", "answer": "退款需要5天。",
         "phrasings": ["我的退款在哪里？"], "tags": ["refunds"]}
    ]"#;
    let (status, body) = api.put("/api/answers", "application/json", json).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["languages"], serde_json::json!({"en": 1, "zh": 1}));
    let library = api.library().await?;
    assert_eq!(ids(&library), ["refund", "tui-kuan"]);
    assert_eq!(library["serving_version"], library["version"]);
    assert_eq!(
        bot_answers(&ts, "where is my refund").await.as_deref(),
        Some("refund")
    );
    let entries = serde_json::to_string(&library["entries"])?;
    let (status, again) = api
        .put("/api/answers", "application/json", &entries)
        .await?;
    assert_eq!(status, 200, "{again}");
    assert_eq!(api.library().await?["entries"], library["entries"]);

    // Anything else is refused by its media type.
    let (status, body) = api.put("/api/answers", "text/plain", GOOD_CSV).await?;
    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap_or("").contains("text/csv"),
        "{body}"
    );
    Ok(())
}

#[tokio::test]
async fn a_malformed_file_is_refused_whole_with_its_lines() -> Result {
    let ts = TestServer::start().await;
    let api = Api::login(&ts, common::ADMIN).await?;
    let (status, _) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
    assert_eq!(status, 200);
    let before = api.library().await?;

    // Line 3 has no answer, line 5 a bad id, line 6 repeats an id; lines 2 and 4
    // are fine, and are not stored either.
    let bad = "\
id,language,answer,phrasings,tags
fine,en,Fine.,Is this fine?,
no-answer,en,,Where is the answer?,
also-fine,en,Also fine.,Is this fine too?,
Bad Id,en,Hello.,Hi?,
fine,en,Again.,Twice?,
";
    let (status, body) = api.put("/api/answers", "text/csv", bad).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_library");
    let found = problems(&body);
    let lines: Vec<Option<u64>> = found.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [Some(3), Some(5), Some(6)], "{found:?}");
    assert!(found[0].1.contains("empty `answer`"), "{found:?}");
    assert!(found[1].1.contains("\"Bad Id\""), "{found:?}");
    assert!(found[2].1.contains("used twice"), "{found:?}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("nothing was changed"),
        "{body}"
    );
    assert_eq!(api.library().await?, before, "nothing changed");

    // YAML: a problem on its line; a wrong shape stops at its line.
    let (status, body) = api
        .put(
            "/api/answers",
            "application/yaml",
            "- id: a\n  language: en\n  answer: A\n  phrasings: [Q?]\n- id: b\n  language: en-US\n  answer: B\n  phrasings: [R?]\n",
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problems(&body)[0].0, Some(6), "{body}");
    let (status, body) = api
        .put(
            "/api/answers",
            "application/yaml",
            "- id: a\n  colour: red\n",
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problems(&body)[0].0, Some(2), "{body}");

    // JSON: a syntax error has its line; bad values name their entry.
    let (status, body) = api
        .put(
            "/api/answers",
            "application/json",
            "[\n{\"id\": \"a\",\n}\n]",
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_library");
    assert_eq!(problems(&body)[0].0, Some(3), "{body}");
    let (status, body) = api
        .put(
            "/api/answers",
            "application/json",
            r#"[{"id": "a", "language": "en", "answer": "A", "phrasings": ["Q?"]},
                {"id": "b", "language": "en", "answer": "B", "phrasings": []}]"#,
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let found = problems(&body);
    assert!(
        found
            .iter()
            .any(|(l, m)| l.is_none() && m.starts_with("entry 2:") && m.contains("phrasing")),
        "{found:?}"
    );
    let (status, body) = api
        .put("/api/answers", "application/json", r#"{"entries": []}"#)
        .await?;
    assert_eq!(status, 422, "{body}");
    assert!(problems(&body)[0].1.contains("array of entries"), "{body}");
    for empty in ["[]", ""] {
        let (status, _) = api.put("/api/answers", "application/json", empty).await?;
        assert_eq!(status, 422, "{empty:?}");
    }
    let (status, _) = api.put("/api/answers", "text/csv", "").await?;
    assert_eq!(status, 422);

    assert_eq!(api.library().await?, before, "still nothing changed");
    Ok(())
}

#[tokio::test]
async fn a_library_over_the_body_limit_is_sent_to_the_cli() -> Result {
    let ts = TestServer::start_with(|c| c.limits.max_body_bytes = 1_000).await;
    let api = Api::login(&ts, common::ADMIN).await?;
    let mut big = String::from("id,language,answer,phrasings,tags\n");
    for i in 0..40 {
        big += &format!("a{i},en,Answer number {i}.,Question number {i}?,\n");
    }
    assert!(big.len() > 1_000);
    let (status, body) = api.put("/api/answers", "text/csv", &big).await?;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("frontdesk answers import"),
        "{body}"
    );
    assert_eq!(api.library().await?["entries"], serde_json::json!([]));
    Ok(())
}

#[tokio::test]
async fn only_admins_reach_the_library() -> Result {
    let ts = TestServer::start().await;
    let agent = ("agent1", "agent-password-1");
    frontdesk_server::create_account(
        ts.server.state().store.as_ref(),
        agent.0,
        "Agent",
        "agent",
        agent.1,
    )
    .await?;
    let anonymous = Api::anonymous(&ts);
    let agent = Api::login(&ts, agent).await?;
    for (who, expected) in [(&anonymous, 401), (&agent, 403)] {
        assert_eq!(who.get("/api/answers").await?.0, expected);
        assert_eq!(who.get("/api/answers/stats").await?.0, expected);
        assert_eq!(who.export("csv").await?.0, expected);
        assert_eq!(
            who.put("/api/answers", "text/csv", GOOD_CSV).await?.0,
            expected
        );
        assert_eq!(
            who.put(
                "/api/answers/x",
                "application/json",
                r#"{"language": "en", "answer": "A", "phrasings": ["Q?"]}"#
            )
            .await?
            .0,
            expected
        );
        assert_eq!(who.delete("/api/answers/bill-due").await?.0, expected);
    }
    let admin = Api::login(&ts, common::ADMIN).await?;
    assert_eq!(admin.library().await?["entries"], serde_json::json!([]));
    Ok(())
}

#[tokio::test]
async fn one_entry_is_created_replaced_and_deleted() -> Result {
    let ts = TestServer::start().await;
    let api = Api::login(&ts, common::ADMIN).await?;
    let (status, _) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
    assert_eq!(status, 200);

    // New: the id comes from the path; values are stored normalised.
    let entry = r#"{"language": "EN", "answer": "  Call us on 0800 123 456.  ",
                    "phrasings": ["What is your phone number?", " ", "How do I call you?"]}"#;
    let (status, body) = api
        .put("/api/answers/phone-number", "application/json", entry)
        .await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["created"], true);
    assert_eq!(body["entry"]["id"], "phone-number");
    assert_eq!(body["entry"]["language"], "en");
    assert_eq!(body["entry"]["answer"], "Call us on 0800 123 456.");
    assert_eq!(
        body["entry"]["phrasings"],
        serde_json::json!(["What is your phone number?", "How do I call you?"])
    );
    let library = api.library().await?;
    assert_eq!(library["version"], body["version"]);
    assert_eq!(library["serving_version"], body["version"]);
    assert_eq!(ids(&library).len(), 4);
    assert_eq!(
        bot_answers(&ts, "what is your phone number")
            .await
            .as_deref(),
        Some("phone-number")
    );

    // Replace: the same id in the body is fine.
    let entry = r#"{"id": "phone-number", "language": "en", "answer": "Call 0800 999 999.",
                    "phrasings": ["What is your phone number?"], "tags": ["contact"]}"#;
    let (status, body) = api
        .put("/api/answers/phone-number", "application/json", entry)
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], false);
    assert_eq!(body["entry"]["tags"], serde_json::json!(["contact"]));
    assert_eq!(ids(&api.library().await?).len(), 4);

    // Refused, changing nothing: another id in the body, bad values, an unknown field.
    let before = api.library().await?;
    let (status, body) = api
        .put(
            "/api/answers/phone-number",
            "application/json",
            r#"{"id": "other", "language": "en", "answer": "A", "phrasings": ["Q?"]}"#,
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_library")),
        "{body}"
    );
    assert!(problems(&body)[0].1.contains("path"), "{body}");
    let (status, body) = api
        .put(
            "/api/answers/phone-number",
            "application/json",
            r#"{"language": "english", "answer": "", "phrasings": ["Q?"]}"#,
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_library")),
        "{body}"
    );
    assert_eq!(problems(&body).len(), 2, "{body}");
    let (status, body) = api
        .put(
            "/api/answers/Not%20An%20Id",
            "application/json",
            r#"{"language": "en", "answer": "A", "phrasings": ["Q?"]}"#,
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    let (status, body) = api
        .put(
            "/api/answers/x",
            "application/json",
            r#"{"language": "en", "answer": "A", "phrasings": ["Q?"], "colour": "red"}"#,
        )
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(api.library().await?, before);

    // `stats` is an id like any other.
    let (status, body) = api
        .put(
            "/api/answers/stats",
            "application/json",
            r#"{"language": "en", "answer": "Numbers.", "phrasings": ["Show me numbers"]}"#,
        )
        .await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(api.delete("/api/answers/stats").await?.0, 204);

    // Delete, then it is gone from the library and from the bot.
    let (status, _) = api.delete("/api/answers/phone-number").await?;
    assert_eq!(status, 204);
    let library = api.library().await?;
    assert_eq!(ids(&library), ["bill-due", "bill-due-zh", "opening-hours"]);
    assert_eq!(library["serving_version"], library["version"]);
    assert_ne!(
        bot_answers(&ts, "what is your phone number")
            .await
            .as_deref(),
        Some("phone-number")
    );
    let (status, body) = api.delete("/api/answers/phone-number").await?;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    Ok(())
}

#[tokio::test]
async fn an_export_imports_back_to_the_same_library() -> Result {
    let ts = TestServer::start().await;
    let api = Api::login(&ts, common::ADMIN).await?;
    let (status, _, body) = api.export("csv").await?;
    assert_eq!(
        status, 404,
        "an empty library has nothing to export: {body}"
    );

    let (status, _) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
    assert_eq!(status, 200);
    let (status, _) = api
        .put("/api/answers", "application/yaml", GOOD_YAML)
        .await?;
    assert_eq!(status, 200);
    let original = api.library().await?;

    for (format, media) in [("csv", "text/csv"), ("yaml", "application/yaml")] {
        let (status, content_type, file) = api.export(format).await?;
        assert_eq!(status, 200, "{file}");
        assert!(content_type.starts_with(media), "{content_type}");
        // Clear the library to something else, then put the export back.
        let (status, _) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
        assert_eq!(status, 200);
        let (status, body) = api.put("/api/answers", media, &file).await?;
        assert_eq!(status, 200, "{body}");
        let back = api.library().await?;
        assert_eq!(back["entries"], original["entries"], "{format}");
    }
    let (status, _, csv) = api.export("csv").await?;
    assert_eq!(status, 200);
    assert!(
        csv.starts_with("id,language,answer,phrasings,tags\n"),
        "{csv}"
    );
    let (status, body) = api.get("/api/answers?format=xml").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    Ok(())
}

#[tokio::test]
async fn deflection_numbers_put_the_failing_answers_first() -> Result {
    let ts = TestServer::start().await;
    let api = Api::login(&ts, common::ADMIN).await?;
    let (status, _) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
    assert_eq!(status, 200);
    let store = ts.server.state().store.clone();
    let count = |id: &'static str, event: AnswerEvent, n: usize| {
        let store = store.clone();
        async move {
            for _ in 0..n {
                store.count_answer(id, event).await?;
            }
            Ok::<_, frontdesk_store::StoreError>(())
        }
    };
    // bill-due: often given, rarely fails. opening-hours: always handed off.
    // retired: counted, then removed from the library. bill-due-zh: never given.
    count("bill-due", AnswerEvent::Given, 10).await?;
    count("bill-due", AnswerEvent::Accepted, 7).await?;
    count("bill-due", AnswerEvent::HandedOff, 1).await?;
    count("opening-hours", AnswerEvent::Given, 4).await?;
    count("opening-hours", AnswerEvent::HandedOff, 4).await?;
    count("retired", AnswerEvent::Given, 2).await?;
    count("retired", AnswerEvent::HandedOff, 1).await?;

    let (status, body) = api.get("/api/answers/stats").await?;
    assert_eq!(status, 200, "{body}");
    let rows = body.as_array().ok_or("array")?;
    let order: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["answer_id"].as_str())
        .collect();
    assert_eq!(
        order,
        ["opening-hours", "retired", "bill-due", "bill-due-zh"]
    );
    assert_eq!(rows[0]["handoff_rate"], 1.0);
    assert_eq!(rows[0]["accepted_rate"], 0.0);
    assert_eq!(rows[1]["in_library"], false);
    assert_eq!(rows[1]["handoff_rate"], 0.5);
    assert_eq!(rows[2]["given"], 10);
    assert_eq!(rows[2]["accepted"], 7);
    assert_eq!(rows[2]["handed_off"], 1);
    assert_eq!(rows[2]["accepted_rate"], 0.7);
    assert_eq!(rows[2]["in_library"], true);
    assert_eq!(rows[3]["given"], 0);
    assert!(rows[3]["handoff_rate"].is_null() && rows[3]["accepted_rate"].is_null());

    // The CLI shows the same table.
    let out = run_cli(&[
        "answers",
        "stats",
        "--json",
        "--data-dir",
        path(ts.dir.path())?,
    ])
    .await?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(&cli, &body);
    let out = run_cli(&["answers", "stats", "--data-dir", path(ts.dir.path())?]).await?;
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("answer"), "{table}");
    assert!(
        lines[1].starts_with("opening-hours") && lines[1].ends_with("100%"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("retired") && lines[2].contains("no longer in the library"),
        "{table}"
    );
    Ok(())
}

// ---- the command line ------------------------------------------------------------

/// `frontdesk <args>` without the caller's `FRONTDESK_*` settings, run off the
/// test's runtime (which also runs the test server).
async fn run_cli(args: &[&str]) -> Result<Output> {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("FRONTDESK_") {
            cmd.env_remove(k);
        }
    }
    Ok(tokio::task::spawn_blocking(move || cmd.output()).await??)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> Result<&str> {
    Ok(p.to_str().ok_or("path")?)
}

#[tokio::test]
async fn the_cli_imports_checks_and_exports_files() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data = path(&data)?;
    let good = dir.path().join("answers.csv");
    std::fs::write(&good, GOOD_CSV)?;
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "id,language,answer,phrasings,tags\nok,en,Fine.,Q?,\nno-answer,en,,Q?,\nBad Id,en,A.,Q?,\n",
    )?;

    // Nothing stored yet: nothing to export.
    let out = run_cli(&["answers", "export", "--data-dir", data]).await?;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));

    let out = run_cli(&["answers", "import", path(&good)?, "--data-dir", data]).await?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("3 answers, 6 phrasings (en 2, zh 1)"),
        "{said}"
    );
    assert!(said.contains("within 5 s"), "{said}");

    // A bad file: every problem by line, a failing exit status, nothing stored.
    let out = run_cli(&["answers", "import", path(&bad)?, "--data-dir", data]).await?;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 3:") && err.contains("empty `answer`"),
        "{err}"
    );
    assert!(
        err.contains("line 4:") && err.contains("\"Bad Id\""),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    let out = run_cli(&["answers", "import", "--check", path(&bad)?]).await?;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("line 3:"));
    let out = run_cli(&["answers", "import", "--check", path(&good)?]).await?;
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("valid, 3 answers"));

    // The export is the good library (by id), and imports back to itself.
    let out = run_cli(&["answers", "export", "--data-dir", data]).await?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut expected: Vec<&str> = GOOD_CSV.lines().skip(1).collect();
    expected.sort_unstable();
    let got: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(csv.lines().next(), GOOD_CSV.lines().next());
    assert_eq!(got, expected);

    let yaml = dir.path().join("exported.yml");
    let out = run_cli(&["answers", "export", "-o", path(&yaml)?, "--data-dir", data]).await?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = std::fs::read_to_string(&yaml)?;
    assert!(exported.starts_with("- id: bill-due\n"), "{exported}");
    let out = run_cli(&["answers", "import", path(&yaml)?, "--data-dir", data]).await?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_cli(&["answers", "export", "--format", "csv", "--data-dir", data]).await?;
    assert_eq!(text(&out.stdout), csv, "CSV → YAML → CSV changes nothing");

    // A name that does not say the format needs --format.
    let odd = dir.path().join("answers.txt");
    std::fs::write(&odd, GOOD_YAML)?;
    let out = run_cli(&["answers", "import", path(&odd)?, "--data-dir", data]).await?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--format"),
        "{}",
        text(&out.stderr)
    );
    let out = run_cli(&[
        "answers",
        "import",
        path(&odd)?,
        "--format",
        "yaml",
        "--data-dir",
        data,
    ])
    .await?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("2 answers"));
    Ok(())
}

#[tokio::test]
async fn a_cli_import_reaches_a_running_server_without_a_restart() -> Result {
    let ts = TestServer::start_with(|c| c.bot.reload_secs = 1).await;
    let api = Api::login(&ts, common::ADMIN).await?;
    let (status, _) = api.put("/api/answers", "text/csv", GOOD_CSV).await?;
    assert_eq!(status, 200);
    let before = api.library().await?;
    let old = before["serving_version"].as_i64().ok_or("version")?;

    let file = ts.dir.path().join("answers.yaml");
    std::fs::write(&file, GOOD_YAML)?;
    let out = run_cli(&[
        "answers",
        "import",
        path(&file)?,
        "--data-dir",
        path(ts.dir.path())?,
    ])
    .await?;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let deadline = Instant::now() + Duration::from_secs(30);
    let library = loop {
        let library = api.library().await?;
        if library["serving_version"].as_i64() != Some(old) {
            break library;
        }
        assert!(
            Instant::now() < deadline,
            "the server never picked the import up: {library}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(library["serving_version"], library["version"]);
    assert_eq!(ids(&library), ["lost-card", "pin-reset"]);
    assert_eq!(
        bot_answers(&ts, "I lost my card").await.as_deref(),
        Some("lost-card")
    );
    Ok(())
}
