//! The mixed run: agents log in and go idle, the echo baseline is measured,
//! then customers arrive for `--duration` seconds; those in progress finish,
//! agents end their shift, and the report is put together.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use frontdesk_client::{AgentClient, ApiClient};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::options::{PathKind, RunOptions};
use crate::procfs;
use crate::report::{Consultations, Ratio, Report, StepReport};
use crate::sim::{self, Ctx, Failed};
use crate::stats::{Stats, Step};

/// Runs the mixed load described by `opts` against the server at
/// `opts.target.url` and returns the report (check [`Report::passed`]).
///
/// # Errors
/// When the agents cannot be set up or logged in, or the baseline cannot start:
/// the run does not begin. Failures during the run are in the report.
pub async fn run(opts: RunOptions) -> anyhow::Result<Report> {
    crate::raise_fd_limit();
    let server_pid = server_pid(&opts.target.url, opts.target.server_pid);
    let agents = log_in_agents(&opts).await?;
    tracing::info!(agents = agents.len(), ?server_pid, "agents logged in");

    let baseline = if opts.baseline_secs > 0 {
        let stats = Arc::new(Stats::default());
        crate::echo::baseline(
            opts.customers.max(1),
            opts.think_ms,
            Duration::from_secs(opts.baseline_secs),
            opts.seed,
            stats.clone(),
        )
        .await
        .context("the echo baseline")?;
        if stats.error_total() > 0 {
            tracing::warn!(errors = ?stats.errors(), "the echo baseline had errors");
        }
        stats.latency(Step::Echo)
    } else {
        None
    };
    tracing::info!(?baseline, "echo baseline measured");

    let ctx = Arc::new(Ctx::new(opts.clone()));
    let server_start = server_pid.and_then(|p| procfs::sample(p).ok());
    let self_pid = std::process::id();
    let self_start = procfs::sample(self_pid).ok();

    let mut shifts = JoinSet::new();
    for (i, agent) in agents.into_iter().enumerate() {
        let ctx = ctx.clone();
        shifts.spawn(async move { sim::agent_shift(&ctx, agent, i as u64).await });
    }

    let start = Instant::now();
    let progress = progress_bar(opts.duration);
    let ticker = tokio::spawn(tick(progress.clone(), ctx.clone(), start));
    arrivals(&ctx, start).await;
    progress.finish_and_clear();
    ticker.abort();

    let run_secs = start.elapsed().as_secs_f64();
    ctx.agents_stop.store(true, Ordering::Relaxed);
    let ended = tokio::time::timeout(ctx.opts.step_timeout() * 2, async {
        while shifts.join_next().await.is_some() {}
    })
    .await;
    if ended.is_err() {
        ctx.stats.error("agent_shift_stuck");
    }

    let server = server_pid
        .zip(server_start)
        .and_then(|(pid, s)| procfs::sample(pid).ok().map(|e| procfs::usage(pid, &s, &e)));
    let loadgen = self_start.and_then(|s| {
        procfs::sample(self_pid)
            .ok()
            .map(|e| procfs::usage(self_pid, &s, &e))
    });
    let metrics = scrape_metrics(&opts.target.url).await;
    Ok(report(&ctx, baseline, run_secs, server, loadgen, metrics))
}

/// Customers arrive until `--duration` is over; returns when every
/// consultation started has finished.
async fn arrivals(ctx: &Arc<Ctx>, start: Instant) {
    let opts = &ctx.opts;
    let slots = Arc::new(Semaphore::new(opts.customers.max(1)));
    let deadline = tokio::time::Instant::from_std(start + Duration::from_secs(opts.duration));
    let mut rng = sim::rng_for(opts.seed ^ 0xA221, 0);
    let mut next = tokio::time::Instant::from_std(start);
    let mut running = JoinSet::new();
    let mut idx = 0u64;
    loop {
        if opts.rate > 0.0 {
            let u: f64 = rng.r#gen();
            next += Duration::from_secs_f64(-(1.0 - u).ln() / opts.rate);
            if next >= deadline {
                break;
            }
            tokio::time::sleep_until(next).await;
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = tokio::time::sleep_until(deadline) => break,
        };
        let Ok(slot) = slot else { break };
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        let this = idx;
        idx += 1;
        let ctx = ctx.clone();
        ctx.stats.started.fetch_add(1, Ordering::Relaxed);
        running.spawn(async move {
            let _slot = slot;
            match sim::consultation(&ctx, this).await {
                Ok(path) => {
                    let i = match path {
                        PathKind::Menu => 0,
                        PathKind::Bot => 1,
                        PathKind::Chat => 2,
                    };
                    ctx.stats.completed[i].fetch_add(1, Ordering::Relaxed);
                }
                Err(Failed(code)) => {
                    tracing::debug!(consultation = this, %code, "consultation failed");
                    ctx.stats.error(&code);
                }
            }
        });
        while running.try_join_next().is_some() {}
    }
    while let Some(done) = running.join_next().await {
        if done.is_err() {
            ctx.stats.error("panic");
        }
    }
}

/// Creates the agent accounts if an admin is given, then logs every agent in.
async fn log_in_agents(opts: &RunOptions) -> anyhow::Result<Vec<AgentClient>> {
    let url = &opts.target.url;
    let names: Vec<String> = (1..=opts.agents)
        .map(|i| format!("{}{i}", opts.agent_user))
        .collect();
    if let (Some(user), Some(password)) = (&opts.admin_user, &opts.admin_password) {
        let mut admin = ApiClient::new(url)?;
        admin
            .login(user, password)
            .await
            .with_context(|| format!("logging in as the admin '{user}'"))?;
        for name in &names {
            let body = serde_json::json!({
                "username": name,
                "display_name": format!("Load agent {name}"),
                "password": opts.agent_password,
                "chat_capacity": 1,
            });
            let (status, reply) = admin
                .post_raw("/api/agents", "application/json", &body.to_string())
                .await?;
            // 409: created by an earlier run; used as it is.
            anyhow::ensure!(
                status == 201 || status == 409,
                "creating the agent '{name}': HTTP {status}: {reply}"
            );
        }
    }
    let mut logins = JoinSet::new();
    for name in names {
        let url = url.clone();
        let password = opts.agent_password.clone();
        logins.spawn(async move {
            AgentClient::login(&url, &name, &password)
                .await
                .with_context(|| format!("logging in the agent '{name}'"))
        });
    }
    let mut agents = Vec::with_capacity(opts.agents);
    while let Some(login) = logins.join_next().await {
        agents.push(login??);
    }
    Ok(agents)
}

/// The server's pid: given, or the local process listening on the URL's port.
pub(crate) fn server_pid(url: &str, given: Option<u32>) -> Option<u32> {
    if given.is_some() {
        return given;
    }
    let parsed = url::Url::parse(url).ok()?;
    let local = matches!(parsed.host_str()?, "localhost" | "::1" | "[::1]")
        || parsed.host_str()?.starts_with("127.");
    if !local {
        return None;
    }
    procfs::listener_pid(parsed.port_or_known_default()?)
}

fn progress_bar(secs: u64) -> ProgressBar {
    let bar = ProgressBar::new(secs);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} s  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Updates the progress bar four times a second.
async fn tick(bar: ProgressBar, ctx: Arc<Ctx>, start: Instant) {
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        every.tick().await;
        let secs = start.elapsed().as_secs_f64();
        bar.set_position((secs as u64).min(ctx.opts.duration));
        let done = ctx.stats.completed_total();
        let started = ctx.stats.started.load(Ordering::Relaxed);
        let phase = if secs >= ctx.opts.duration as f64 {
            "finishing"
        } else {
            "running"
        };
        bar.set_message(format!(
            "{phase}: {done} done ({:.0}/s), {} in progress, {} errors",
            done as f64 / secs.max(1e-3),
            started.saturating_sub(done),
            ctx.stats.error_total()
        ));
    }
}

/// The server's `/metrics`, counters and gauges by series (histogram buckets
/// left out); empty when it does not answer.
async fn scrape_metrics(url: &str) -> BTreeMap<String, f64> {
    let Ok(api) = ApiClient::new(url) else {
        return BTreeMap::new();
    };
    match api.get_text("/metrics").await {
        Ok((200, text)) => parse_metrics(&text),
        Ok((status, _)) => {
            tracing::info!(status, "/metrics did not answer; left out");
            BTreeMap::new()
        }
        Err(e) => {
            tracing::info!(error = %e, "/metrics did not answer; left out");
            BTreeMap::new()
        }
    }
}

/// Series and values of an OpenMetrics text, without comments and buckets.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn report(
    ctx: &Ctx,
    baseline: Option<crate::stats::Latency>,
    run_secs: f64,
    server: Option<procfs::Usage>,
    loadgen: Option<procfs::Usage>,
    metrics: BTreeMap<String, f64>,
) -> Report {
    let stats = &ctx.stats;
    let steps: Vec<StepReport> = Step::SERVER
        .iter()
        .filter_map(|&step| {
            let latency = stats.latency(step)?;
            Some(StepReport {
                step: step.name().to_owned(),
                ratio: baseline.as_ref().map(|b| Ratio::of(&latency, b)),
                latency,
            })
        })
        .collect();
    let completed = |i: usize| stats.completed[i].load(Ordering::Relaxed);
    let consultations = Consultations {
        started: stats.started.load(Ordering::Relaxed),
        completed: stats.completed_total(),
        menu: completed(0),
        bot: completed(1),
        chat: completed(2),
        per_sec: stats.completed_total() as f64 / run_secs.max(1e-3),
    };
    let chat = stats.chat_counts();
    let errors = stats.errors();
    let mut failures = Vec::new();
    let error_total: u64 = errors.values().sum();
    if error_total > 0 {
        failures.push(format!("{error_total} errors"));
    }
    if chat.lost() > 0 {
        failures.push(format!("{} chat messages lost", chat.lost()));
    }
    if chat.duplicated > 0 {
        failures.push(format!("{} chat messages duplicated", chat.duplicated));
    }
    if chat.out_of_order > 0 {
        failures.push(format!("{} chat messages out of order", chat.out_of_order));
    }
    if consultations.completed == 0 {
        failures.push("no consultation completed".into());
    }
    Report {
        options: ctx.opts.clone(),
        run_secs,
        consultations,
        baseline,
        steps,
        errors,
        chat_lost: chat.lost(),
        chat,
        server,
        loadgen,
        metrics,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_without_comments_or_buckets() {
        let text = "# HELP x y\nfrontdesk_assignments_total 12\nfrontdesk_errors_total{kind=\"rate_limited\"} 3\nfrontdesk_request_seconds_bucket{le=\"0.1\"} 5\nfrontdesk_request_seconds_sum 0.25\n# EOF\n";
        let m = parse_metrics(text);
        assert_eq!(m["frontdesk_assignments_total"], 12.0);
        assert_eq!(m["frontdesk_errors_total{kind=\"rate_limited\"}"], 3.0);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn remote_servers_have_no_pid() {
        assert_eq!(server_pid("http://example.com:8080", None), None);
        assert_eq!(server_pid("http://example.com:8080", Some(5)), Some(5));
    }
}
