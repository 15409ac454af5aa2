//! Customer value tiers end to end: CSV import over REST, tiers read back, updates,
//! bad files that change nothing, and tiers recomputed when the cut-offs change.

mod common;

use std::time::Instant;

use common::TestServer;
use frontdesk_client::ApiClient;
use frontdesk_protocol::ErrorCode;
use frontdesk_protocol::rest::CustomerUpdate;
use frontdesk_server::customers::{format_date, today_utc};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const HEADER: &str = "phone,name,orders_per_month,money,registered_on,last_order_on,credit\n";

/// The date `days` days before today (UTC), as the CSV wants it.
fn ago(days: i64) -> String {
    format_date(today_utc() - time::Duration::days(days))
}

/// Four customers in four tiers (with the default cut-offs).
fn four_customers() -> String {
    format!(
        "{HEADER}\
         +12015550101,Dana,4,2400,{},{},85\n\
         (415) 555-0102,Sam,3,1800,{},{},72\n\
         +8613912345678,Li Wei,0.5,150,{},{},\n\
         +447911123456,,1,45,{},,\n",
        ago(700),
        ago(3),
        ago(400),
        ago(60),
        ago(200),
        ago(10),
        ago(10),
    )
}

/// Phone → tier of every customer, as the API lists them.
async fn tiers(api: &ApiClient) -> Result<Vec<(String, String)>> {
    Ok(api
        .customers(None, 1000)
        .await?
        .into_iter()
        .map(|c| (c.phone, c.tier))
        .collect())
}

fn problems(body: &serde_json::Value) -> Vec<String> {
    body["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "line {}: {}",
                        p["line"],
                        p["message"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_csv_imported_over_rest_is_tiered_and_read_back() -> Result {
    let ts = TestServer::start().await;
    let api = ts.admin().await;

    let imported = api.import_customers(&four_customers()).await?;
    assert_eq!(
        (imported.customers, imported.created, imported.updated),
        (4, 4, 0)
    );
    let by_tier: Vec<_> = imported
        .by_tier
        .iter()
        .map(|(t, n)| (t.as_str(), *n))
        .collect();
    assert_eq!(
        by_tier,
        [
            ("core", 1),
            ("general-development", 1),
            ("important-promotion", 1),
            ("new", 1)
        ]
    );
    assert_eq!(
        tiers(&api).await?,
        [
            ("+12015550101".to_owned(), "core".to_owned()),
            ("+14155550102".into(), "important-promotion".into()),
            ("+447911123456".into(), "new".into()),
            ("+8613912345678".into(), "general-development".into()),
        ]
    );

    // One customer, by any common form of their number.
    let dana = api.customer("+1 (201) 555-0101").await?;
    assert_eq!(dana.tier, "core");
    assert_eq!(dana.name.as_deref(), Some("Dana"));
    assert_eq!((dana.money, dana.credit), (Some(2400.0), Some(85)));
    assert_eq!(dana.registered_on, Some(ago(700)));
    let priya = api.customer("+447911123456").await?;
    assert_eq!((priya.name, priya.last_order_on), (None, None));

    // Filters; a `+` sent unescaped in the query still means `+`.
    let core = api.customers(Some("core"), 10).await?;
    assert_eq!(core.len(), 1);
    let (status, one) = api.get_json("/api/customers?phone=+8613912345678").await?;
    assert_eq!(status, 200);
    assert_eq!(one[0]["tier"], "general-development");
    let (status, body) = api.get_json("/api/customers?tier=gold").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("gold")
    );
    let (status, body) = api.get_json("/api/customers?limit=many").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    let e = api.customer("+12015550199").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));

    // Importing again replaces facts: Dana spent less and stopped being frequent.
    let again = format!("{HEADER}+12015550101,,1,500,{},{},85\n", ago(700), ago(3));
    let imported = api.import_customers(&again).await?;
    assert_eq!((imported.created, imported.updated), (0, 1));
    let dana = api.customer("+12015550101").await?;
    assert_eq!(dana.tier, "general-development");
    assert_eq!(
        dana.name.as_deref(),
        Some("Dana"),
        "an empty name keeps the stored one"
    );
    Ok(())
}

#[tokio::test]
async fn a_file_with_any_bad_row_imports_nothing() -> Result {
    let ts = TestServer::start().await;
    let api = ts.admin().await;
    api.import_customers(&four_customers()).await?;
    let (_, before) = api.get_json("/api/customers").await?;

    // Good rows (one changing an existing customer, one new) around bad ones.
    let bad = format!(
        "{HEADER}\
         +12015550101,Dana,0,0,{reg},,\n\
         +12015550177,New Person,1,10,{reg},,\n\
         12345,X,1,10,{reg},,\n\
         +12015550178,Y,1,-10,{reg},,50\n\
         +12015550179,Z,1,10,{reg},{before_reg},150\n\
         +1 201 555 0177,Again,1,10,{reg},,\n",
        reg = ago(100),
        before_reg = ago(101),
    );
    let (status, body) = api
        .post_raw("/api/customers/import", "text/csv", &bad)
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was imported"),
        "{body}"
    );
    assert_eq!(
        problems(&body),
        [
            "line 4: phone: '12345' is not a valid phone number".to_owned(),
            "line 5: money: -10 is negative".into(),
            "line 6: credit: 150 is not between 0 and 100".into(),
            format!(
                "line 6: last_order_on {} is before registered_on {}",
                ago(101),
                ago(100)
            ),
            "line 7: phone +12015550177 is also on line 3".into(),
        ]
    );
    // Nothing changed: not Dana, and nobody new.
    let (_, after) = api.get_json("/api/customers").await?;
    assert_eq!(before, after);
    assert_eq!(
        api.customer("+12015550177").await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );

    // A header problem is refused the same way, and the client SDK shows the lines.
    let e = api
        .import_customers("phone,name,money,vip\n+12015550101,A,1,yes\n")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidRequest));
    let message = e.to_string();
    assert!(
        message.contains("line 1: unknown column 'vip'"),
        "{message}"
    );
    assert!(
        message.contains("line 1: missing column 'orders_per_month'"),
        "{message}"
    );
    let (_, after) = api.get_json("/api/customers").await?;
    assert_eq!(before, after);
    Ok(())
}

#[tokio::test]
async fn an_update_recomputes_the_tier_and_bad_values_are_listed() -> Result {
    let ts = TestServer::start().await;
    let api = ts.admin().await;
    api.import_customers(&four_customers()).await?;

    // Sam ordered yesterday: from important-promotion to core.
    let update = CustomerUpdate {
        name: None,
        orders_per_month: 3.0,
        money: 1800.0,
        registered_on: ago(400),
        last_order_on: Some(ago(1)),
        credit: Some(72),
    };
    let sam = api.update_customer("+14155550102", &update).await?;
    assert_eq!(sam.tier, "core");
    assert_eq!(sam.name.as_deref(), Some("Sam"));
    assert_eq!(api.customer("+14155550102").await?.tier, "core");

    // A customer that did not exist is created (201).
    let body = serde_json::to_string(&CustomerUpdate {
        name: Some("Noor".into()),
        ..update.clone()
    })?;
    let (status, created) = api
        .put_raw("/api/customers/%2B12015550150", "application/json", &body)
        .await?;
    assert_eq!((status, created["tier"].as_str()), (201, Some("core")));

    // Bad values: every one is listed, nothing is written.
    let bad = serde_json::json!({
        "orders_per_month": -1,
        "money": 10,
        "registered_on": "2024-02-30",
        "last_order_on": null,
        "credit": 101
    });
    let (status, body) = api
        .put_raw(
            "/api/customers/+14155550102",
            "application/json",
            &bad.to_string(),
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    assert_eq!(
        problems(&body),
        [
            "line null: orders_per_month: -1 is negative",
            "line null: registered_on: '2024-02-30' is not a date (YYYY-MM-DD)",
            "line null: credit: 101 is not between 0 and 100",
        ]
    );
    let (status, body) = api
        .put_raw(
            "/api/customers/not-a-phone",
            "application/json",
            &body_of(&update)?,
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid_request"))
    );
    assert!(problems(&body)[0].contains("phone"), "{body}");
    // Not JSON, or JSON of the wrong shape: the shared error shape all the same.
    for text in ["{money: 3", r#"{"money": "lots"}"#, r#"{"vip": true}"#] {
        let (status, body) = api
            .put_raw("/api/customers/+14155550102", "application/json", text)
            .await?;
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("invalid_request")),
            "{text}"
        );
    }
    assert_eq!(api.customer("+14155550102").await?.tier, "core");
    Ok(())
}

fn body_of(u: &CustomerUpdate) -> Result<String> {
    Ok(serde_json::to_string(u)?)
}

#[tokio::test]
async fn agents_read_customers_and_only_admins_change_them() -> Result {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    admin.import_customers(&four_customers()).await?;
    frontdesk_server::create_account(
        ts.server.state().store.as_ref(),
        "ann",
        "Ann",
        "agent",
        "agent-password-1",
    )
    .await?;
    let mut agent = ApiClient::new(&ts.url())?;
    agent.login("ann", "agent-password-1").await?;
    assert_eq!(agent.customers(None, 10).await?.len(), 4);
    assert_eq!(agent.customer("+12015550101").await?.tier, "core");
    let e = agent.import_customers(&four_customers()).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let (status, _) = agent
        .put_raw("/api/customers/+12015550101", "application/json", "{}")
        .await?;
    assert_eq!(status, 403);

    // A customer's own token reads no customers; no token at all is 401.
    let started = common::started(&ts).await?;
    let customer = ApiClient::new(&ts.url())?.with_token(&started.resume_token);
    assert_eq!(
        customer.customers(None, 10).await.unwrap_err().code(),
        Some(ErrorCode::Forbidden)
    );
    let (status, _) = ApiClient::new(&ts.url())?
        .get_json("/api/customers")
        .await?;
    assert_eq!(status, 401);

    // The customer who just started a consultation is known by phone only: new.
    let walk_in = admin.customer("+12015550123").await?;
    assert_eq!((walk_in.tier.as_str(), walk_in.money), ("new", None));
    Ok(())
}

#[tokio::test]
async fn changed_cut_offs_retier_everyone_at_the_next_start() -> Result {
    let ts = TestServer::start().await;
    let api = ts.admin().await;
    api.import_customers(&four_customers()).await?;
    assert_eq!(api.customer("+12015550101").await?.tier, "core");
    assert_eq!(
        api.customer("+14155550102").await?.tier,
        "important-promotion"
    );

    // Valuable now means 2,000 or more; recent means within 90 days.
    let ts = ts
        .restart_with(|c| {
            c.tiers.valuable_money = 2000.0;
            c.tiers.recent_days = 90;
        })
        .await;
    let api = ts.admin().await;
    assert_eq!(api.customer("+12015550101").await?.tier, "core");
    assert_eq!(api.customer("+14155550102").await?.tier, "general-core");
    assert_eq!(
        api.customer("+8613912345678").await?.tier,
        "general-development"
    );
    Ok(())
}

#[tokio::test]
async fn an_import_larger_than_its_limit_is_refused_in_the_shared_shape() -> Result {
    let ts = TestServer::start_with(|c| c.limits.max_import_bytes = 300).await;
    let api = ts.admin().await;
    let (status, body) = api
        .post_raw(
            "/api/customers/import",
            "text/csv",
            &four_customers().repeat(2),
        )
        .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("invalid_request")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("frontdesk customers import"),
        "{body}"
    );
    assert!(api.customers(None, 10).await?.is_empty());
    Ok(())
}

/// `cargo test --release -p frontdesk --test customers -- --ignored --nocapture`
/// prints how long 100,000 customers take to import, recompute and re-import.
#[tokio::test]
#[ignore = "a measurement, not a check; run it by name"]
async fn import_and_retier_100k_customers() -> Result {
    let ts = TestServer::start_with(|c| c.limits.max_import_bytes = 64 << 20).await;
    let api = ts.admin().await;
    let (reg, last) = (ago(400), ago(20));
    let mut csv = HEADER.to_owned();
    for i in 0..100_000u32 {
        // Valid US numbers: area code 201, exchange 2xx–9xx, any line number.
        let exchange = 200 + i / 10_000;
        let line = i % 10_000;
        csv += &format!(
            "+1201{exchange}{line:04},Customer {i},{},{},{reg},{last},{}\n",
            f64::from(i % 50) / 10.0,
            i % 3000,
            i % 101
        );
    }
    let started = Instant::now();
    let imported = api.import_customers(&csv).await?;
    let import = started.elapsed();
    assert_eq!(imported.created, 100_000);
    let started = Instant::now();
    let retiered = ts
        .server
        .state()
        .customers
        .retier(today_utc() + time::Duration::days(40))
        .await?;
    let retier = started.elapsed();
    ts.server.state().customers.retier(today_utc()).await?;
    // What every start costs: read, compute, nothing to write.
    let started = Instant::now();
    let done = ts.server.state().customers.retier(today_utc()).await?;
    let unchanged = started.elapsed();
    let started = Instant::now();
    let again = api.import_customers(&csv).await?;
    let reimport = started.elapsed();
    assert_eq!(again.updated, 100_000);
    println!(
        "100k customers ({} bytes): import {import:.2?}; retier 40 days on {retier:.2?} \
         ({} changed); retier with nothing to change {unchanged:.2?} ({} changed); \
         re-import {reimport:.2?}",
        csv.len(),
        retiered.changed,
        done.changed,
    );
    Ok(())
}
