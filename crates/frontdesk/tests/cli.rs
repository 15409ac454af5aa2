//! The `frontdesk` binary as a user runs it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use frontdesk_client::ApiClient;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_frontdesk");

/// `cmd` without the caller's `FRONTDESK_*` settings: tests must not pick up a
/// developer's environment.
fn isolated(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("FRONTDESK_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn frontdesk(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    isolated(c)
}

/// Runs `frontdesk <args>` with `input` on standard input; all output collected.
fn run_with_input(args: &[&str], input: &[u8]) -> Result<Output> {
    let mut child = frontdesk(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().ok_or("stdin")?.write_all(input)?;
    Ok(child.wait_with_output()?)
}

fn run(args: &[&str]) -> Result<Output> {
    Ok(frontdesk(args).output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A server process; killed when dropped.
struct Running {
    child: Child,
    url: String,
    stdout: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `frontdesk <args>` and reads its output up to the "listening on" line
/// and `extra_lines` more.
fn spawn_server(mut cmd: Command, extra_lines: usize) -> Result<Running> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let stdout = child.stdout.take().ok_or("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut url = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while url.is_none() || lines.len() < extra_lines {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| format!("server did not start; output so far: {lines:?}"))?;
        if let Some(u) = line.strip_prefix("frontdesk listening on ") {
            url = Some(u.to_owned());
        }
        lines.push(line);
    }
    Ok(Running {
        child,
        url: url.ok_or("no url")?,
        stdout: lines,
    })
}

#[test]
fn every_command_has_help() -> Result {
    let commands: [&[&str]; 21] = [
        &[],
        &["demo"],
        &["serve"],
        &["menu"],
        &["menu", "import"],
        &["menu", "export"],
        &["menu", "versions"],
        &["agent", "add"],
        &["customer"],
        &["customers"],
        &["customers", "import"],
        &["customers", "retier"],
        &["customers", "list"],
        &["answers"],
        &["answers", "import"],
        &["answers", "export"],
        &["answers", "stats"],
        &["answers", "eval"],
        &["sms"],
        &["sms", "outbox"],
        &["config"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = run(&args)?;
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(stdout.contains("Usage: frontdesk"), "{args:?}:\n{stdout}");
    }
    let out = run(&["serve", "--help"])?;
    let help = text(&out.stdout);
    assert!(
        help.contains("--listen") && help.contains("FRONTDESK_LISTEN"),
        "{help}"
    );
    assert!(
        help.contains("--data-dir") && help.contains("FRONTDESK_DATA_DIR"),
        "{help}"
    );
    Ok(())
}

#[test]
fn menu_import_validates_versions_and_exports() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data = data.to_str().ok_or("path")?;
    let good = dir.path().join("menu.toml");
    std::fs::write(&good, frontdesk_server::demo::MENU)?;
    let good = good.to_str().ok_or("path")?;

    let out = run(&["menu", "import", good, "--data-dir", data])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("as menu version 1"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["menu", "import", good, "--data-dir", data])?;
    assert!(
        text(&out.stdout).contains("unchanged"),
        "{}",
        text(&out.stdout)
    );

    // A broken file: every problem with its line, exit code 1, nothing changes.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "title = \"X\"\nroot = \"main\"\n\n[[item]]\nid = \"main\"\nkind = \"submenu\"\ntitle = \"Main\"\nchildren = [\"a\", \"ghost\"]\n\n[[item]]\nid = \"a\"\nkind = \"submenu\"\ntitle = \"A\"\nchildren = [\"main\"]\n",
    )?;
    let out = run(&[
        "menu",
        "import",
        bad.to_str().ok_or("path")?,
        "--data-dir",
        data,
    ])?;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("line 8: 'main' lists child 'ghost', which is not an item"),
        "{err}"
    );
    assert!(
        err.contains("root 'main' must not be listed as a child (it is under 'a')"),
        "{err}"
    );
    assert!(err.contains("the menu has a cycle: a → main → a"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    let out = run(&["menu", "import", "--check", bad.to_str().ok_or("path")?])?;
    assert_eq!(out.status.code(), Some(1));

    let out = run(&["menu", "versions", "--data-dir", data])?;
    let versions = text(&out.stdout);
    assert_eq!(versions.lines().count(), 1, "{versions}");
    assert!(versions.contains("(current)"));

    // Export reads back to the same menu (and imports as "unchanged").
    let exported = dir.path().join("exported.toml");
    let out = run(&[
        "menu",
        "export",
        "--data-dir",
        data,
        "-o",
        exported.to_str().ok_or("path")?,
    ])?;
    assert!(out.status.success());
    let a = frontdesk_domain::menu::Menu::parse(&std::fs::read_to_string(&exported)?)?;
    let b = frontdesk_domain::menu::Menu::parse(frontdesk_server::demo::MENU)?;
    assert_eq!(a, b);
    let out = run(&[
        "menu",
        "import",
        exported.to_str().ok_or("path")?,
        "--data-dir",
        data,
    ])?;
    assert!(text(&out.stdout).contains("unchanged"));
    let out = run(&["menu", "export", "7", "--data-dir", data])?;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no menu version 7"));
    Ok(())
}

#[test]
fn customers_import_lists_bad_rows_by_line_and_imports_nothing() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data = data.to_str().ok_or("path")?;
    let header = "phone,name,orders_per_month,money,registered_on,last_order_on,credit\n";

    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{header}+12015550101,Dana,4,2400,2020-01-01,2020-02-01,85\n\
             +12015550102,Sam,three,1800,2020-01-01,,\n\
             +12015550103,Li,1,100,2020-13-01,,\n\
             +12015550101,Dana again,4,2400,2020-01-01,,\n"
        ),
    )?;
    let bad = bad.to_str().ok_or("path")?;
    let out = run(&["customers", "import", bad, "--data-dir", data])?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("the file has 3 problems; nothing was imported"),
        "{err}"
    );
    assert!(
        err.contains("line 3: orders_per_month: 'three' is not a number"),
        "{err}"
    );
    assert!(
        err.contains("line 4: registered_on: '2020-13-01' is not a date (YYYY-MM-DD)"),
        "{err}"
    );
    assert!(
        err.contains("line 5: phone +12015550101 is also on line 2"),
        "{err}"
    );
    let out = run(&["customers", "import", "--check", bad])?;
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["customers", "list", "--data-dir", data])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "no customers");

    // A good file: counts by tier. The dates are long past, so nobody is recent.
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!(
            "{header}+12015550101,Dana,4,2400,2020-01-01,2020-02-01,85\n\
             (201) 555-0102,Sam,0.5,100,2020-01-01,2021-01-01,\n"
        ),
    )?;
    let good = good.to_str().ok_or("path")?;
    let out = run(&["customers", "import", "--check", good])?;
    assert!(
        text(&out.stdout).contains("valid, 2 customers"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["customers", "import", good, "--data-dir", data])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("imported 2 customers"), "{shown}");
    assert!(shown.contains("2 created, 0 updated"), "{shown}");
    assert!(
        shown.contains("by tier: important-promotion 1, general-retention 1"),
        "{shown}"
    );

    // New cut-offs from a config file take effect with `retier`.
    let config = dir.path().join("frontdesk.toml");
    std::fs::write(&config, "[tiers]\nvaluable_money = 5000.0\n")?;
    let config = config.to_str().ok_or("path")?;
    let out = run(&[
        "customers",
        "retier",
        "--config",
        config,
        "--data-dir",
        data,
    ])?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("recomputed the tiers of 2 customers: 1 changed"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&[
        "customers",
        "list",
        "--tier",
        "general-promotion",
        "--data-dir",
        data,
    ])?;
    let listed = text(&out.stdout);
    assert!(
        listed.contains("+12015550101") && listed.contains("Dana"),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let out = run(&["customers", "list", "--tier", "gold", "--data-dir", data])?;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown tier 'gold'"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn the_demo_runs_is_safe_to_rerun_and_serves_the_terminal_client() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_str().ok_or("path")?.to_owned();
    let first = spawn_server(
        frontdesk(&["demo", "--listen", "127.0.0.1:0", "--data-dir", &data]),
        25,
    )?;
    let output = first.stdout.join("\n");
    assert!(output.contains("Customer page"), "{output}");
    // The demo customers are in six different tiers, shown with their names.
    for (name, tier) in [
        ("Dana Reyes", "core"),
        ("Sam Okafor", "important-promotion"),
        ("Li Wei", "general-development"),
        ("Priya Shah", "new"),
        ("Marc Dubois", "general-core"),
        ("Aiko Tanaka", "important-retention"),
    ] {
        assert!(
            first
                .stdout
                .iter()
                .any(|l| l.contains(name) && l.trim_end().ends_with(&format!(" {tier}"))),
            "{name} should be {tier}:\n{output}"
        );
    }
    assert!(dir.path().join("demo-customers.csv").exists());
    let admin_line = first
        .stdout
        .iter()
        .find(|l| l.trim_start().starts_with("admin  admin"))
        .ok_or("admin")?
        .clone();
    let password = admin_line
        .split_whitespace()
        .last()
        .ok_or("password")?
        .to_owned();
    let mut api = ApiClient::new(&first.url)?;
    api.login("admin", &password).await?;

    // The scripted terminal client: one choice per line, each screen printed.
    let out = run_with_input(
        &[
            "customer",
            "--url",
            &first.url,
            "--phone",
            "+1 (201) 555-0123",
        ],
        b"1\n1\nback\n9\nhome\n6\nend\n",
    )?;
    let transcript = text(&out.stdout);
    assert!(out.status.success(), "{transcript}\n{}", text(&out.stderr));
    assert!(
        transcript.contains("  1. Bills and payments ›"),
        "{transcript}"
    );
    assert!(
        transcript.contains("-- When is my bill due? --"),
        "{transcript}"
    );
    assert!(
        transcript.contains("! there is no item 9 on this screen"),
        "{transcript}"
    );
    assert!(
        transcript.contains("(i) Voice calls with an agent are not available yet."),
        "{transcript}"
    );
    assert!(
        transcript.contains("Consultation ended; 3 item(s) recorded."),
        "{transcript}"
    );
    let id = transcript
        .lines()
        .find_map(|l| {
            l.strip_prefix("Consultation ")
                .and_then(|r| r.split_whitespace().next())
        })
        .ok_or("consultation id")?;
    let record = api.service_record(id).await?;
    let got: Vec<_> = record.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(got, ["billing", "bill-due", "call"]);
    drop(first);

    // Run it again on the same data: same passwords, the record is still there.
    let second = spawn_server(
        frontdesk(&["demo", "--listen", "127.0.0.1:0", "--data-dir", &data]),
        12,
    )?;
    assert!(second.stdout.contains(&admin_line), "{:?}", second.stdout);
    let mut api = ApiClient::new(&second.url)?;
    api.login("admin", &password).await?;
    assert_eq!(api.service_record(id).await?.items.len(), 3);
    let (_, versions) = api.get_json("/api/menus").await?;
    assert_eq!(
        versions.as_array().map(Vec::len),
        Some(1),
        "the demo menu is not imported twice"
    );
    Ok(())
}

#[tokio::test]
async fn serve_reads_a_config_file_and_environment_variables() -> Result {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("frontdesk.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\ndefault_region = \"GB\"\n",
    )?;
    let data = dir.path().join("from-env");
    let mut cmd = frontdesk(&["serve", "--config", config.to_str().ok_or("path")?]);
    cmd.env("FRONTDESK_LISTEN", "127.0.0.1:0")
        .env("FRONTDESK_DATA_DIR", &data);
    let server = spawn_server(cmd, 2)?;
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("No service menu yet")),
        "{:?}",
        server.stdout
    );
    assert!(
        Path::new(&data).join("frontdesk.db").exists(),
        "the data dir came from the environment"
    );
    let (status, health) = ApiClient::new(&server.url)?.get_json("/healthz").await?;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

    // `config` shows the merged result; a bad file is refused by name.
    let out = frontdesk(&["config", "--config", config.to_str().ok_or("path")?])
        .env("FRONTDESK_DATA_DIR", "/srv/fd")
        .env("FRONTDESK_DURABILITY", "normal")
        .env("FRONTDESK_LIMITS__BURST", "7")
        .output()?;
    let shown = text(&out.stdout);
    assert!(
        shown.contains("default_region = \"GB\"") && shown.contains("data_dir = \"/srv/fd\""),
        "{shown}"
    );
    assert!(
        shown.contains("durability = \"normal\"") && shown.contains("burst = 7"),
        "{shown}"
    );
    std::fs::write(&config, "listen = \"nowhere\"\n")?;
    let out = run(&["serve", "--config", config.to_str().ok_or("path")?])?;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("invalid socket address").count(),
        1,
        "said once: {err}"
    );
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn the_server_survives_a_closed_stdout() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_str().ok_or("path")?;
    // A free port, found by binding and releasing it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    // stdout is a pipe whose reading end is already closed, as after `| head -1`:
    // the very first write fails.
    let (reader, writer) = std::io::pipe()?;
    drop(reader);
    let mut child = frontdesk(&["demo", "--listen", &addr, "--data-dir", data])
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let connected = loop {
        if let Some(status) = child.try_wait()? {
            break Err(format!(
                "the server exited ({status}) when its stdout was closed"
            ));
        }
        if std::net::TcpStream::connect(&addr).is_ok() {
            // Give it the moment in which it writes its banner, then check again.
            std::thread::sleep(Duration::from_millis(300));
            break match child.try_wait()? {
                None => Ok(()),
                Some(status) => Err(format!(
                    "the server exited ({status}) when its stdout was closed"
                )),
            };
        }
        if Instant::now() > deadline {
            break Err("the server did not start".to_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    connected.map_err(Into::into)
}

#[tokio::test]
async fn agent_add_creates_a_login() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_str().ok_or("path")?;
    let out = run_with_input(
        &[
            "agent",
            "add",
            "dora",
            "--name",
            "Dora Lee",
            "--admin",
            "--data-dir",
            data,
        ],
        b"a long enough password\n",
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Taken names and short passwords are refused.
    let mut child = frontdesk(&["agent", "add", "dora", "--data-dir", data])
        .stdin(Stdio::piped())
        .output()?;
    assert!(!child.status.success());
    child.stderr.clear();
    let out = frontdesk(&["agent", "add", "eve", "--data-dir", data])
        .stdin(Stdio::null())
        .output()?;
    assert!(
        text(&out.stderr).contains("at least 10 characters"),
        "{}",
        text(&out.stderr)
    );

    let server = spawn_server(
        frontdesk(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data]),
        1,
    )?;
    let mut api = ApiClient::new(&server.url)?;
    let login = api.login("dora", "a long enough password").await?;
    assert_eq!(login.role, "admin");
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn the_server_raises_its_open_file_limit() -> Result {
    let dir = tempfile::tempdir()?;
    let data = dir.path().to_str().ok_or("path")?;
    // A low soft limit, as many systems have; the server should lift it to the hard one.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!("ulimit -Sn 256 && exec {BIN} serve --listen 127.0.0.1:0 --data-dir {data}"),
    ]);
    let server = spawn_server(isolated(cmd), 1)?;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id()))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no limit line")?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (soft, hard) = (fields[3], fields[4]);
    assert_eq!(soft, hard, "soft limit not raised: {line}");
    assert_ne!(soft, "256", "{line}");
    Ok(())
}
